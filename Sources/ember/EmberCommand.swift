import ArgumentParser
import Ember
import EmberCLI

/// The `ember` command line: the commands live in EmberCLI (so tests run them in-process); `bench` lives here.
@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: deep learning in Swift.",
        discussion: "Run `ember train` for the default experiment (a small CNN on the bundled digits), or `ember help <command>`.",
        subcommands: emberCLICommands + [Bench.self]
    )
}
