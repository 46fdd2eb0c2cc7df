import ArgumentParser
import Ember

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: deep learning in Swift.",
        subcommands: [Bench.self]
    )
}
