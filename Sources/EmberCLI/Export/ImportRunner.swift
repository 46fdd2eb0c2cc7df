import ArgumentParser
import EmberONNX
import Foundation

/// `ember import model.onnx --output RUN_DIR`: an ONNX model as an Ember run directory.
public struct ImportCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an ONNX model as a run directory (model.json + model.safetensors) for predict, evaluate and serve.",
        discussion: """
            The graph must be a chain of layers Ember has (Gemm/MatMul+Add, Conv without groups or dilation, pooling, \
            batch norm, layer norm, flatten, activations; a final Softmax is left out because Ember models output \
            logits). The converted model is checked against the ONNX graph run by Ember's importer on random inputs \
            before anything is written. Inputs are taken as they are (no scaling or preparation).
            """)

    @Argument(help: "The ONNX file.")
    public var file: String
    @Option(help: "The run directory to create (must not exist, or be empty).")
    public var output: String
    @Option(help: "classification or regression.")
    public var task = "classification"
    @Option(help: "Comma-separated class names (default: 0, 1, ...).")
    public var classes: String?

    public init() {}

    public func run() throws {
        var o = ImportOptions(file: file, output: output)
        o.task = task; o.classes = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        try reportingErrors { try ImportRunner.run(o, console: .standard); return 0 }
    }
}

/// What `ember import` does.
public struct ImportOptions: Sendable {
    public var file: String, output: String
    public var task = "classification"
    public var classes: [String]?
    public init(file: String, output: String) { self.file = file; self.output = output }
}

public enum ImportRunner {
    /// Converts and writes; returns the run directory.
    @discardableResult
    public static func run(_ o: ImportOptions, console: Console) throws -> URL {
        guard let task = TaskKind(rawValue: o.task) else { throw CLIError("--task: expected classification or regression, got \(o.task)") }
        let dir = URL(fileURLWithPath: o.output)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CLIError("--output \(dir.path) is a file; expected a new run directory") }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            guard contents.isEmpty else { throw CLIError("--output \(dir.path) is not empty; choose a new run directory (nothing there is changed)") }
        }
        let onnx: ONNXModel
        let chain: [ONNXChainLayer]
        do {
            onnx = try ONNXModel(contentsOf: URL(fileURLWithPath: o.file))
            chain = try onnx.layerChain()
        } catch let e as ONNXError { throw CLIError("\(e)") }
        let shapeOpt = onnx.inputShape
        guard !shapeOpt.isEmpty, shapeOpt.allSatisfy({ $0 != nil }) else {
            throw CLIError("\(o.file): the input's shape \(shapeOpt.map { $0.map(String.init) ?? "?" }) must be known after the batch dimension")
        }
        let inputShape = shapeOpt.map { $0! }
        var layers = chain
        var droppedSoftmax = false
        if case .softmax? = layers.last { layers.removeLast(); droppedSoftmax = true }
        // specs and weights, named as Sequential names them ("3.weight")
        var specs: [LayerSpec] = [], weights: [String: Tensor] = [:]
        for (i, l) in layers.enumerated() {
            var s = LayerSpec(l.kind)
            switch l {
            case .linear(let w, let b):
                s.out = w.shape[0]; s.bias = b != nil
                weights["\(i).weight"] = w; if let b { weights["\(i).bias"] = b }
            case .conv2d(let w, let b, let stride, let padding):
                s.out = w.shape[0]; s.kernel = Array(w.shape.suffix(2)); s.stride = stride; s.padding = padding; s.bias = b != nil
                weights["\(i).weight"] = w; if let b { weights["\(i).bias"] = b }
            case .maxPool2d(let k, let st, let p), .avgPool2d(let k, let st, let p):
                s.kernel = k; s.stride = st; s.padding = p
            case .globalAvgPool: s.size = [1, 1]
            case .batchNorm(let w, let b, let m, let v, _):
                weights["\(i).weight"] = w; weights["\(i).bias"] = b
                weights["\(i).running_mean"] = m; weights["\(i).running_var"] = v
                weights["\(i).num_batches_tracked"] = Tensor([Int64(0)], shape: [])
            case .layerNorm(let w, let b):
                weights["\(i).weight"] = w
                weights["\(i).bias"] = b ?? Tensor.zeros(w.shape, dtype: w.dtype)
            case .leakyRelu(let a), .elu(let a): s.slope = a
            case .flatten, .relu, .gelu, .tanh, .sigmoid, .softmax: break
            }
            specs.append(s)
        }
        let arch: Architecture
        do {
            arch = try Architecture.resolve(specs, inputShape: inputShape, paths: specs.indices.map { "layer \($0) (\(specs[$0].type))" }, file: o.file)
        } catch let e as ConfigError {
            throw CLIError("\(o.file): the layers do not fit the input shape \(inputShape): \(e)")
        }
        let model = arch.build(generator: Generator(seed: 0))
        do { try model.loadStateDict(weights) } catch {
            throw CLIError("\(o.file): the weights do not fit the converted layers: \(error)")
        }
        model.eval()
        // the converted model must compute what the ONNX graph computes
        var rng = RandomState(seed: 7)
        let probe = Tensor.normal([3] + inputShape, rng: &rng)
        let want = try onnx(probe)
        var got = withoutGrad { model(probe) }
        if droppedSoftmax { got = got.softmax(axis: -1) }
        let worst = zip(got.toArray(Double.self), want.toArray(Double.self)).map { abs($0 - $1) / (1e-5 + 1e-4 * abs($1)) }.max() ?? .infinity
        guard got.shape == want.shape, worst <= 1 else {
            throw CLIError("\(o.file): the converted model differs from the ONNX graph (\(got.shape) vs \(want.shape), worst \(worst)x the tolerance)")
        }
        let out = arch.outputShape
        var classNames: [String] = []
        if task == .classification {
            guard out.count == 1, out[0] >= 2 else { throw CLIError("\(o.file): a classifier must output [classes] per example, got \(out)") }
            classNames = o.classes ?? (0..<out[0]).map(String.init)
            guard classNames.count == out[0] else { throw CLIError("--classes: \(classNames.count) names for \(out[0]) outputs") }
        }
        let name = URL(fileURLWithPath: o.file).deletingPathExtension().lastPathComponent
        let provenance = Provenance(created: ISO8601DateFormatter().string(from: Date()), dataset: "imported from \(o.file)",
                                    trainExamples: 0, validationExamples: 0, testExamples: 0, epochs: 0, steps: 0, seed: 0,
                                    seconds: 0, resumed: false, stoppedEarly: false, lastEpoch: [:], configFile: nil,
                                    host: ProcessInfo.processInfo.hostName, threads: 1)
        let saved = SavedModel(name: name, task: task, architecture: arch,
                               input: InputPipeline(rawShape: inputShape, scale: 1, preparation: PreparationPipeline([]), shape: inputShape,
                                                    featureNames: [], byteImages: false),
                               classes: classNames, target: nil, loss: task == .classification ? .crossEntropy(labelSmoothing: 0) : .mse,
                               parameters: model.parameters.map(\.count).reduce(0, +), provenance: provenance,
                               config: "# imported by `ember import \(o.file)`\n")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch { throw CLIError("--output \(dir.path): cannot be created (\(error.localizedDescription))") }
        try saved.write(model: model, to: dir)
        console.line("imported \(o.file) into \(dir.path): \(specs.count) layers (\(specs.map(\.type).joined(separator: ", "))), "
                     + "input [\(inputShape.map(String.init).joined(separator: ", "))], output \(out)"
                     + (droppedSoftmax ? "; the final softmax is left out (Ember models output logits)" : ""))
        return dir
    }
}
