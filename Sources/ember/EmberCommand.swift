import ArgumentParser
import Ember
import EmberCLI
import EmberServe

/// The `ember` command line: the commands live in EmberCLI and EmberServe (so tests run them in-process); `bench`
/// lives here. Async because `serve` is.
@main
struct EmberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: deep learning in Swift.",
        discussion: "Run `ember train` for the default experiment (a small CNN on the bundled digits), or `ember help <command>`.",
        subcommands: emberCLICommands + [ServeCommand.self, Bench.self]
    )
}
