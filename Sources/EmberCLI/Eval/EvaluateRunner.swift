import Foundation

/// Options of `ember evaluate`.
public struct EvaluateOptions: Sendable {
    /// The run directory (or its model.json).
    public var model: String
    /// A built-in dataset name or a data file; nil: the run's own data.
    public var data: String?
    /// Which part of a dataset: `test`, `validation` or `train`.
    public var split = "test"
    /// The target column of a CSV file (default: the one used in training, else the last column).
    public var target: String?
    /// The labels file of IDX or npy inputs.
    public var labels: String?
    /// Print JSON instead of a table.
    public var json = false
    /// Also write the metrics JSON here.
    public var output: String?
    /// Also write the HTML evaluation report here.
    public var report: String?

    /// Options for the run directory `model`.
    public init(model: String) { self.model = model }
}

/// `ember evaluate`: a saved model's metrics on any split or labelled file.
public enum EvaluateRunner {
    /// Evaluates and prints the metrics.
    @discardableResult
    public static func run(_ o: EvaluateOptions, console: Console) throws -> EvaluationResult {
        let loaded = try SavedModel.load(from: o.model)
        let (data, name) = try labelledData(o, loaded.saved)
        var metrics = MetricName.defaults(loaded.saved.task)
        if let config = try? ExperimentConfig.parse(loaded.saved.config), let m = config.evaluation.metrics { metrics = m }
        let result = try loaded.evaluate(data, split: name, metrics: metrics, report: o.report.map { URL(fileURLWithPath: $0) })
        let json = result.json.rendered() + "\n"
        if let out = o.output { try AtomicFile.write(Data(json.utf8), to: URL(fileURLWithPath: out)) }
        if o.json { console.write(json) } else { console.line("model: \(loaded.directory.path)"); console.line(result.text) }
        return result
    }

    /// The labelled examples `o` asks for, and a name for them.
    static func labelledData(_ o: EvaluateOptions, _ saved: SavedModel) throws -> (RawData, String) {
        var isDir: ObjCBool = false
        if let spec = o.data, FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), isDir.boolValue {
            // A folder of class folders of images, prepared as `predict` prepares image files.
            guard saved.task == .classification, let image = PredictRunner.imageInput(saved) else {
                throw CLIError("--data \(spec): a folder, but this model does not take images")
            }
            var source = ImageFolderSource(train: spec)
            source.size = [image.height, image.width]
            source.channels = image.channels
            source.filter = image.filter
            return (try DataReader.readImageFolder(spec, source, classes: saved.classes), (spec as NSString).lastPathComponent)
        }
        if let spec = o.data, !Datasets.names.contains(spec.lowercased()) || FileManager.default.fileExists(atPath: spec) {
            guard FileManager.default.fileExists(atPath: spec) else {
                throw CLIError("--data \(spec): no such file, and not a built-in dataset (\(Datasets.names.joined(separator: ", ")))")
            }
            guard let format = inferFormat(spec) else {
                throw CLIError("--data \(spec): expected a .csv, .npy or IDX (*-ubyte, *.idx, optionally .gz) file")
            }
            var source = DataSource(format: format, path: spec)
            if format == .csv {
                let table = try CSVTable(path: spec)
                guard let last = table.columnNames.last, table.rowCount > 0 else { throw CLIError("--data \(spec): no data rows") }
                let target = o.target ?? saved.target ?? last
                source.target = target
                source.features = try PredictRunner.featureColumns(table, saved: saved, target: target)
            } else {
                guard let labels = o.labels else { throw CLIError("--data \(spec): \(format.rawValue) inputs need --labels FILE") }
                source.targets = labels
            }
            let imputes = saved.input.preparation.steps.contains { if case .imputer = $0 { return true }; return false }
            let data = try DataReader.read(source, task: saved.task, classes: saved.task == .classification ? saved.classes : nil,
                                           missingAllowed: imputes)
            return (data, (spec as NSString).lastPathComponent)
        }
        // A dataset: the run's own (reproducing its split from the saved config and seed) or another built-in one.
        var config = try ExperimentConfig.parse(saved.config)
        if let name = o.data?.lowercased(), name != config.data.dataset {
            config.data.dataset = name
            config.data.train = nil
            config.data.test = nil
            config.data.directory = nil
        }
        let splits = try DataReader.split(config)
        switch o.split {
        case "train": return (splits.train, "train")
        case "validation":
            guard let v = splits.validation else { throw CLIError("--split validation: this run has no validation split") }
            return (v, "validation")
        case "test": return (splits.test, "test")
        default: throw CLIError("--split \(o.split): expected test, validation or train")
        }
    }
}
