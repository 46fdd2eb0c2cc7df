import ArgumentParser
import Foundation

/// `ember evaluate MODEL_DIR`: metrics of a saved model on its test split, another split, a built-in set or a file.
public struct EvaluateCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a trained model (a run directory) on its test split, another split, a dataset or a file.",
        discussion: """
            Without --data, the run's own data is reloaded and split again from the saved config and seed, so `test` is \
            exactly the part held out in training. --data takes a built-in dataset name or a file: a CSV with the \
            target column, or IDX/.npy inputs with --labels. The saved preparation is applied first.
            """)

    /// The run directory.
    @Argument(help: "Run directory written by `ember train` (e.g. runs/digits-cnn).")
    public var model: String

    /// Data.
    @Option(help: "A built-in dataset name, a data file (CSV, IDX, .npy) or a folder of class folders of images (image models). Default: the run's own data.")
    public var data: String?

    /// Split.
    @Option(help: "Which part of a dataset: test, validation or train.")
    public var split = "test"

    /// CSV target column.
    @Option(help: "Target column of a CSV file (default: the one used in training, else the last column).")
    public var target: String?

    /// Labels file.
    @Option(help: "Labels file for IDX or .npy inputs.")
    public var labels: String?

    /// JSON output.
    @Flag(help: "Print the metrics as JSON.")
    public var json = false

    /// Output file.
    @Option(help: "Also write the metrics JSON to this file.")
    public var output: String?

    /// Report file.
    @Option(help: "Also write the HTML evaluation report (metrics, confusion matrix, curves, worst examples) to this file.")
    public var report: String?

    /// Classifier run whose features measure a GAN.
    @Option(help: ArgumentHelp("GAN runs: the classifier run (e.g. trained by examples/fashion-mnist.yaml) whose penultimate-layer features give the Fréchet distance, class coverage and requested-class share.", valueName: "CLS_RUN"))
    public var classifier: String?

    /// Generated images for a GAN measurement.
    @Option(parsing: .unconditional, help: "GAN runs: images generated (and test/training images compared), default 10000.")
    public var count = 10_000

    /// Seed of a GAN measurement's samples.
    @Option(parsing: .unconditional, help: "GAN runs: seed of the generated images.")
    public var seed = 1

    /// Parsed from the command line.
    public init() {}

    /// Runs the command.
    public func run() throws {
        if GANModelFile.isGANRun(model) || classifier != nil {
            try reportingErrors {
                guard let classifier else {
                    throw CLIError("\(model) is a GAN run: measure it with --classifier CLS_RUN (a classifier trained on the same images)")
                }
                guard (2...1_000_000).contains(count) else { throw CLIError("--count must be in 2...1000000, got \(count)") }
                guard seed >= 0 else { throw CLIError("--seed must be a non-negative integer, got \(seed)") }
                try GANEvaluation.run(model: model, classifier: classifier, count: count, seed: UInt64(seed), console: .standard)
                return 0
            }
            return
        }
        var o = EvaluateOptions(model: model)
        o.data = data; o.split = split; o.target = target; o.labels = labels; o.json = json; o.output = output; o.report = report
        if TextClassifierFile.isTextClassifierRun(model) {
            try reportingErrors { _ = try TextClassifierRunner.evaluate(o, console: .standard); return 0 }
            return
        }
        try reportingErrors { _ = try EvaluateRunner.run(o, console: .standard); return 0 }
    }
}

/// `ember predict MODEL_DIR INPUT...`: predictions for CSV rows, IDX images, a .npy array, or image files and folders.
public struct PredictCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict with a trained model: CSV rows, IDX images, a .npy array or image files in; class and probability (or values) out.",
        discussion: """
            The saved preparation (image decoding and resizing, scaling, fitted scalers, reshaping) is applied to the inputs first. \
            Image files (PNG, JPEG) and folders of them may be given several at a time. CSV columns are \
            matched by the training feature names when the file has them, else the numeric columns are taken in order. \
            Classification prints the class and its probability (--probabilities: every class's); regression prints \
            the values. --json prints an array of objects.
            """)

    /// The run directory.
    @Argument(help: "Run directory written by `ember train`.")
    public var model: String

    /// Inputs.
    @Argument(help: "Inputs: a CSV file, an IDX images file (*-ubyte, optionally .gz), a .npy/.npz array, or image files (PNG, JPEG) and folders of them.")
    public var inputs: [String] = []

    /// JSON output.
    @Flag(help: "Print JSON: [{\"index\", \"class\", \"label\", \"probability\", \"probabilities\"}] or [{\"index\", \"value\"}].")
    public var json = false

    /// All probabilities.
    @Flag(help: "Show every class's probability in the table.")
    public var probabilities = false

    /// Limit.
    @Option(parsing: .unconditional, help: "Only the first N examples.")
    public var limit: Int?

    /// CSV target column to leave out.
    @Option(help: "A CSV column to leave out of the inputs (the target, if the file has it).")
    public var target: String?

    /// Parsed from the command line.
    public init() {}

    /// `--limit` must be positive; at least one input.
    public func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive integer, got \(limit)") }
        if inputs.isEmpty { throw ValidationError("expected an input file (CSV, IDX, .npy, .npz, or image files and folders)") }
    }

    /// Runs the command.
    public func run() throws {
        var o = PredictOptions(model: model, input: inputs[0])
        o.additionalInputs = Array(inputs.dropFirst())
        o.json = json; o.probabilities = probabilities; o.limit = limit; o.target = target
        if TextClassifierFile.isTextClassifierRun(model) {
            try reportingErrors { try TextClassifierRunner.predict(o, console: .standard); return 0 }
            return
        }
        try reportingErrors { _ = try PredictRunner.run(o, console: .standard); return 0 }
    }
}

/// `ember inspect MODEL_DIR`: layers, shapes, parameter counts and provenance of a saved model.
public struct InspectCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a trained model: layers, output shapes, parameter counts, state-dict names, preparation and training provenance.")

    /// The run directory.
    @Argument(help: "Run directory written by `ember train` (or its model.json).")
    public var model: String

    /// JSON output.
    @Flag(help: "Print JSON.")
    public var json = false

    /// Parsed from the command line.
    public init() {}

    /// Runs the command.
    public func run() throws {
        try reportingErrors { _ = try InspectRunner.run(model: model, json: json, console: .standard); return 0 }
    }
}

/// `ember datasets`: the built-in datasets and whether each is available.
public struct DatasetsCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "List the built-in datasets (names for data.dataset) and whether each is available here; --export writes an image set as PNG files in class folders.")

    /// JSON output.
    @Flag(help: "Print JSON.")
    public var json = false

    /// An image set to write as PNG class folders.
    @Option(help: "Write this image set (fashion-mnist, mnist, cifar10) as PNG files: DIR/train/<class>/N.png and DIR/test/<class>/N.png.")
    public var export: String?

    /// Where `--export` writes.
    @Option(help: "The folder --export writes into.")
    public var to: String?

    /// Images per part.
    @Option(help: "With --export: at most N images per part (train, test), taken in order.")
    public var limit: Int?

    /// The set's own files (mnist, cifar10).
    @Option(help: "With --export: the folder holding the set's files (mnist, cifar10; fashion-mnist has a default).")
    public var directory: String?

    /// Parsed from the command line.
    public init() {}

    /// Runs the command.
    public func run() throws {
        if let export {
            guard let to else { throw ValidationError("--export needs --to DIR") }
            try reportingErrors {
                let n = try DatasetsRunner.exportImages(export, to: to, limit: limit, directoryOfSet: directory)
                Console.standard.line("wrote \(n) PNG files to \(to)/train and \(to)/test")
                return 0
            }
            return
        }
        try reportingErrors { DatasetsRunner.run(json: json, console: .standard); return 0 }
    }
}

/// The subcommands this library provides, for the `ember` root command.
public let emberCLICommands: [ParsableCommand.Type] = [TrainCommand.self, EvaluateCommand.self, PredictCommand.self,
                                                       InspectCommand.self, DatasetsCommand.self, GenerateCommand.self,
                                                       ExportCommand.self, ImportCommand.self, EmbedCommand.self]
