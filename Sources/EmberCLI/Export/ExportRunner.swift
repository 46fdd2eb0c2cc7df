import ArgumentParser
import EmberONNX
import Foundation

/// `ember export RUN_DIR --format onnx --output model.onnx`: a trained run as an ONNX model.
public struct ExportCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained model (a run directory) to ONNX, for onnxruntime, Triton and other runtimes.",
        discussion: """
            The network's forward pass is traced in evaluation mode (dropout removed, batch norm on its running \
            statistics) and written with its weights; dimension 0 of input and output is a symbolic batch. With \
            --include-preparation the saved input preparation (scaling, standardisation, ...) is part of the graph, so \
            the model takes raw inputs as `ember predict` does; otherwise it takes prepared inputs. The output is the \
            network's logits (or values). An existing file is replaced only if `ember export` wrote it.
            """)

    @Argument(help: "Run directory written by `ember train`.")
    public var model: String
    @Option(help: "Output format (onnx).")
    public var format = "onnx"
    @Option(help: "The file to write (e.g. model.onnx).")
    public var output: String
    @Option(help: "ONNX operator set, 13 to 21.")
    public var opset = 17
    @Flag(help: "Bake the saved input preparation into the graph (the model then takes raw inputs).")
    public var includePreparation = false
    @Flag(help: "Export the batch size 1 instead of a symbolic batch dimension.")
    public var fixedBatch = false

    public init() {}

    public func run() throws {
        var o = ExportOptions(model: model, output: output)
        o.format = format; o.opset = opset; o.includePreparation = includePreparation; o.fixedBatch = fixedBatch
        try reportingErrors { try ExportRunner.run(o, console: .standard); return 0 }
    }
}

/// What `ember export` does.
public struct ExportOptions: Sendable {
    public var model: String, output: String
    public var format = "onnx", opset = 17, includePreparation = false, fixedBatch = false
    public init(model: String, output: String) { self.model = model; self.output = output }
}

/// A saved network with its input preparation in front: raw inputs in, logits out.
final class PreparedNetwork: Module {
    let loaded: LoadedModel
    init(_ loaded: LoadedModel) { self.loaded = loaded; super.init() }
    override func forward(_ x: Tensor) -> Tensor {
        // Tracing records these tensor ops; a preparation step computed outside the op registry stops the trace
        // with an error naming it. `ExportRunner` has checked that inputs of the traced shape apply.
        // swiftlint:disable:next force_try
        let prepared = try! loaded.saved.input.apply(x)
        return loaded.model(prepared)
    }
}

public enum ExportRunner {
    /// Exports a run; returns the file written.
    @discardableResult
    public static func run(_ o: ExportOptions, console: Console) throws -> URL {
        guard o.format.lowercased() == "onnx" else { throw CLIError("--format: expected onnx, got \(o.format)") }
        guard (13...21).contains(o.opset) else { throw CLIError("--opset: expected 13 to 21, got \(o.opset)") }
        guard !o.output.isEmpty else { throw CLIError("--output: expected a file name, got ''") }
        let url = URL(fileURLWithPath: o.output)
        try refuseForeignFile(url)
        let loaded = try SavedModel.load(from: o.model)
        let input = loaded.saved.input
        let shape = [1] + (o.includePreparation ? input.rawShape : input.shape)
        if o.includePreparation { _ = try withoutGrad { try input.apply(Tensor.zeros(shape)) } }
        let module: Module = o.includePreparation ? PreparedNetwork(loaded) : loaded.model
        let options = ONNXExportOptions(opset: o.opset, dynamicBatch: !o.fixedBatch, modelName: loaded.saved.name)
        do {
            try module.exportONNX(to: url, inputShape: shape, options: options)
        } catch let e as ONNXError {
            throw CLIError("\(loaded.directory.path): \(e)")
        } catch let e as TraceError {
            throw CLIError("\(loaded.directory.path): the model cannot be traced for export: \(e)")
        }
        let batch = o.fixedBatch ? "1" : "batch"
        console.line("wrote \(url.path): ONNX opset \(o.opset), input [\(batch), \(shape.dropFirst().map(String.init).joined(separator: ", "))] float32"
                     + (o.includePreparation ? " (raw, preparation included)" : " (prepared)")
                     + ", output [\(batch), \(loaded.saved.architecture.outputShape.map(String.init).joined(separator: ", "))]")
        return url
    }

    /// An existing file is replaced only when it is an ONNX model Ember wrote.
    static func refuseForeignFile(_ url: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return }
        if isDir.boolValue { throw CLIError("--output \(url.path) is a directory; expected a file name") }
        guard let data = FileManager.default.contents(atPath: url.path), ONNXFile.producer(of: data) == "ember" else {
            throw CLIError("--output \(url.path) exists and was not written by `ember export`; it is left alone (choose another name or remove it)")
        }
    }
}
