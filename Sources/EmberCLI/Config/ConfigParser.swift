import Foundation
import Yams

extension ExperimentConfig {
    /// Reads a config from YAML or JSON text.
    ///
    /// - Parameters:
    ///   - text: the document.
    ///   - file: the file it came from (for messages and the default run name).
    ///   - overrides: `key.path=value` assignments applied to the document first (`training.epochs=3`); values are
    ///     read as YAML scalars.
    ///   - runDirectory: the run directory, overriding `outputs` (its parent becomes `outputs.directory`, its name
    ///     `outputs.name`).
    /// - Throws: `ConfigError` naming the key path and what was expected.
    public static func parse(_ text: String, file: String? = nil, overrides: [String] = [],
                             runDirectory: String? = nil) throws -> ExperimentConfig {
        var root = try ConfigValue.parse(text, file: file)
        if !overrides.isEmpty {
            var node = root.node
            for o in overrides { node = try applyOverride(o, to: node) }
            try SafeYAML.checkExpanded(node, file: file, what: "the document with its overrides")
            root = ConfigValue(node: node, path: "", file: file)
        }
        let top = try root.mapping()
        let data = try parseData(try top.required("data", expected: "a mapping with `dataset` or `train` files"))
        let training = try parseTraining(top.optional("training"), task: data.task)
        let model = try parseModel(try top.required("model", expected: "a mapping with `preset` or `layers`"))
        let evaluation = try data.sequence.map { try parseSequenceEvaluation(top.optional("evaluation"), data: $0) }
            ?? parseEvaluation(top.optional("evaluation"), task: data.task)
        try checkSequenceModel(data: data, model: model, training: training, top: top)
        try checkTextModel(data: data, model: model, top: top)
        var outputs = OutputConfig()
        outputs.name = file.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "run"
        if let o = top.optional("outputs") {
            let m = try o.mapping()
            if let d = m.optional("directory") { outputs.directory = try d.string() }
            if let n = m.optional("name") {
                outputs.name = try n.string()
                guard !outputs.name.isEmpty, !outputs.name.contains("/"), outputs.name != ".", outputs.name != ".." else {
                    throw n.mismatch("a name without '/'")
                }
            }
            try m.finish()
        }
        if let runDirectory {
            let url = URL(fileURLWithPath: runDirectory)
            outputs.name = url.lastPathComponent
            outputs.directory = url.deletingLastPathComponent().path
        }
        // The saved document names its outputs, so a resumed run finds the same directory.
        var node = root.node
        node = try setValue(Node(outputs.directory, Tag(.str)), at: ["outputs", "directory"], in: node)
        node = try setValue(Node(outputs.name, Tag(.str)), at: ["outputs", "name"], in: node)
        let tracking = try parseTracking(top.optional("tracking"))
        try top.finish()
        let config = ExperimentConfig(data: data, model: model, training: training, evaluation: evaluation, outputs: outputs,
                                      tracking: tracking, document: (try? Yams.serialize(node: node)) ?? text, file: file)
        try config.checkMonitors(top)
        return config
    }

    /// The metric callbacks watch unless told otherwise: `val_loss`, or `loss` without a validation split.
    public var defaultMonitor: String { data.split.validation > 0 ? "val_loss" : "loss" }

    /// Callbacks that watch validation metrics need a validation split.
    private func checkMonitors(_ top: ConfigMapping) throws {
        var known = data.task == .classification ? ["loss", "accuracy"] : ["loss"]
        if case .text = data.sequence { known = ["loss", "bpc"] }
        var available = known
        if data.split.validation > 0 { available += known.map { "val_" + $0 } }
        func check(_ monitor: String, _ path: String) throws {
            guard available.contains(monitor) else {
                let hint = monitor.hasPrefix("val_") && data.split.validation == 0 ? " (validation metrics need data.split.validation > 0)" : ""
                throw ConfigError(path: path, message: "expected one of \(available.joined(separator: ", ")), got \(jsonQuoted(monitor))\(hint)",
                                  file: file)
            }
        }
        if let m = training.earlyStopping?.monitor { try check(m, "training.callbacks.early_stopping.monitor") }
        if training.checkpoint.saveBest, let m = training.checkpoint.monitor { try check(m, "training.callbacks.checkpoint.monitor") }
        if case .plateau(let m?, _, _) = training.schedule { try check(m, "training.schedule.monitor") }
    }
}

/// Sets `key.path=value` in a document (creating mappings on the way); the value is read as YAML.
func applyOverride(_ assignment: String, to root: Node) throws -> Node {
    guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
        throw ConfigError(path: "", message: "override \(jsonQuoted(assignment)): expected key.path=value")
    }
    let keys = assignment[..<eq].split(separator: ".").map(String.init)
    guard keys.count <= SafeYAML.maxDepth else {
        throw ConfigError(path: "", message: "override \(jsonQuoted(String(assignment.prefix(40)) + "...")): a key path deeper than \(SafeYAML.maxDepth) levels")
    }
    let text = String(assignment[assignment.index(after: eq)...])
    var value: Node
    do { value = try SafeYAML.compose(text, file: nil, what: "the value") ?? Node("null") } catch let e as ConfigError {
        let problem = e.message.hasPrefix("not valid") ? "is not valid YAML" : e.message.replacingOccurrences(of: "the value ", with: "")
        throw ConfigError(path: keys.joined(separator: "."), message: "override value \(jsonQuoted(String(text.prefix(40)) + (text.count > 40 ? "..." : ""))) \(problem)")
    }
    // A scalar without its position in the override text (a line number would point nowhere).
    if case .scalar(let s) = value { value = Node(s.string, Tag(.implicit), s.style) }
    return try setValue(value, at: keys, in: root)
}

/// `root` with the value at the key path `keys` replaced by `value` (mappings created on the way).
func setValue(_ value: Node, at keys: [String], in root: Node) throws -> Node {
    func set(_ node: Node?, _ rest: ArraySlice<String>) throws -> Node {
        guard let key = rest.first else { return value }
        var pairs: [(Node, Node)] = []
        if let node, Resolver.default.resolveTag(of: node) != .null {
            switch node {
            case .mapping(let m): pairs = m.map { ($0.key, $0.value) }
            case .scalar: pairs = [(Node("name"), node)]   // `optimizer: adam` -> `optimizer: {name: adam, ...}`
            case .sequence:
                throw ConfigError(path: keys.joined(separator: "."), message: "cannot set a key inside a list")
            }
        }
        if let i = pairs.firstIndex(where: { $0.0.string == key }) {
            pairs[i].1 = try set(pairs[i].1, rest.dropFirst())
        } else {
            pairs.append((Node(key), try set(nil, rest.dropFirst())))
        }
        return Node(pairs)
    }
    return try set(root, keys[...])
}

// MARK: - data

private func parseData(_ v: ConfigValue) throws -> DataConfig {
    let m = try v.mapping()
    var d = DataConfig()
    if m.keys.contains("passages") {
        try parsePassagesData(m, into: &d)
        try m.finish()
        return d
    }
    if m.keys.contains("text") || m.keys.contains("series") {
        try parseSequenceData(m, path: v.path, into: &d)
        try m.finish()
        return d
    }
    if let t = m.optional("task") { d.task = TaskKind(rawValue: try t.choice(["classification", "regression"]))! }
    let dataset = m.optional("dataset"), train = m.optional("train")
    if let images = m.optional("images") {
        if let other = dataset ?? train { throw other.error("give one of data.dataset, data.train or data.images") }
        if d.task != .classification { throw images.error("image folders hold classes: data.task must be classification") }
        d.images = try parseImages(images)
    }
    switch (dataset, train) {
    case (nil, nil) where d.images != nil: break
    case (nil, nil):
        let names = Datasets.names.joined(separator: ", ")
        throw ConfigError(path: join(v.path, "dataset"), message: "missing; expected a built-in dataset name (\(names)) or `data.train` files",
                          file: v.file, line: v.node.mark?.line)
    case (let ds?, nil):
        d.dataset = try ds.choice(Datasets.names, what: "a built-in dataset name (\(Datasets.names.joined(separator: ", ")))")
    case (nil, let tr?):
        d.train = try parseSource(tr)
    case (_, let tr?):
        throw tr.error("give either data.dataset or data.train, not both")
    }
    if let t = m.optional("test") {
        guard d.train != nil else { throw t.error("test files need data.train files (built-in sets bring their own test part)") }
        d.test = try parseSource(t)
    }
    if let dir = m.optional("directory") { d.directory = try dir.string() }
    if let s = m.optional("split") {
        let sm = try s.mapping()
        if let t = sm.optional("test") {
            d.split.test = try t.double(in: 0.0...0.9, "a fraction in (0, 0.9]")
            if d.split.test == 0 { throw t.mismatch("a fraction in (0, 0.9]") }
        }
        if let t = sm.optional("validation") { d.split.validation = try t.double(in: 0.0...0.9, "a fraction in [0, 0.9]") }
        if let t = sm.optional("stratify") { d.split.stratify = try t.bool() }
        if let t = sm.optional("seed") { d.split.seed = UInt64(try t.int(atLeast: 0, atMost: .max)) }
        try sm.finish()
    }
    if let l = m.optional("limit") {
        let lm = try l.mapping()
        if let t = lm.optional("train") { d.limitTrain = try t.int(atLeast: 1) }
        if let t = lm.optional("test") { d.limitTest = try t.int(atLeast: 1) }
        try lm.finish()
    }
    if let s = m.optional("scale") { d.scale = try s.positiveDouble() }
    if let s = m.optional("shape") {
        d.shape = try s.intList(atLeast: 1, atMost: ConfigLimits.maxSize)
        guard ConfigLimits.product(d.shape!) != nil else {
            throw s.mismatch("a shape of at most \(ConfigLimits.maxExampleElements) values in all")
        }
    }
    if let p = m.optional("preparation") { d.preparation = try p.list().map(parsePreparation) }
    if let a = m.optional("augmentation") { d.augmentation = try a.list().map(parseAugmentation) }
    try m.finish()
    return d
}

/// `data.images: {train: dir, test: dir, size: [h, w], channels: 1|3, filter: bilinear|area, on_error: skip|fail}`.
private func parseImages(_ v: ConfigValue) throws -> ImageFolderSource {
    let m = try v.mapping()
    var s = ImageFolderSource(train: try m.required("train", expected: "a folder with one sub-folder of images per class").string())
    if let t = m.optional("test") { s.test = try t.string() }
    if let z = m.optional("size") {
        let size = try z.intList(atLeast: 1, atMost: ConfigLimits.maxSize)
        guard size.count == 2 else { throw z.mismatch("[height, width]") }
        guard ConfigLimits.product(size + [3]) != nil else {
            throw z.mismatch("[height, width] of at most \(ConfigLimits.maxExampleElements / 3) pixels")
        }
        s.size = size
    }
    if let c = m.optional("channels") {
        s.channels = try c.int(atLeast: 1, atMost: 3)
        if s.channels == 2 { throw c.mismatch("1 (gray) or 3 (RGB)") }
    }
    if let f = m.optional("filter") {
        s.filter = ResizeFilter(rawValue: try f.choice([ResizeFilter.bilinear.rawValue, ResizeFilter.area.rawValue]))!
    }
    if let e = m.optional("on_error") { s.skipDamaged = try e.choice(["skip", "fail"]) == "skip" }
    try m.finish()
    return s
}

private func parseSource(_ v: ConfigValue) throws -> DataSource {
    if v.isScalar {   // a bare CSV path
        let path = try v.string()
        guard inferFormat(path) == .csv else { throw v.mismatch("a mapping with `path` (or `inputs` and `targets` for IDX/npy files)") }
        return DataSource(format: .csv, path: path)
    }
    let m = try v.mapping()
    let path = m.optional("path"), inputs = m.optional("inputs")
    guard let p = path ?? inputs else {
        throw ConfigError(path: join(v.path, "path"), message: "missing; expected a CSV file (`path`) or an inputs file (`inputs`)",
                          file: v.file, line: v.node.mark?.line)
    }
    let file = try p.string()
    var s = DataSource(format: inferFormat(file) ?? .csv, path: file)
    if let f = m.optional("format") { s.format = DataSource.Format(rawValue: try f.choice(DataSource.Format.allCases.map(\.rawValue)))! }
    if s.format == .npz {
        // {path: data.npz, inputs: x_train, targets: y_train}: array names inside the archive
        guard path != nil else {
            throw ConfigError(path: join(v.path, "path"), message: "missing; an .npz source names the archive with `path` and its arrays with `inputs` and `targets`",
                              file: v.file, line: v.node.mark?.line)
        }
        s.inputs = try inputs?.string() ?? "x"
        s.targets = try m.optional("targets")?.string() ?? "y"
        try m.finish()
        return s
    }
    if s.format == .csv {
        if let t = m.optional("target") { s.target = try t.string() }
        if let f = m.optional("features") { s.features = try f.list().map { try $0.string() } }
    } else {
        s.targets = try m.required("targets", expected: "the \(s.format == .idx ? "IDX labels" : ".npy targets") file").string()
    }
    try m.finish()
    return s
}

/// The format a file name suggests (`.csv`, `.npy`, IDX names such as `*-ubyte` / `.idx`, with or without `.gz`).
func inferFormat(_ path: String) -> DataSource.Format? {
    var name = (path as NSString).lastPathComponent.lowercased()
    if name.hasSuffix(".gz") { name.removeLast(3) }
    if name.hasSuffix(".csv") || name.hasSuffix(".tsv") || name.hasSuffix(".txt") { return .csv }
    if name.hasSuffix(".npy") { return .npy }
    if name.hasSuffix(".npz") { return .npz }
    if name.hasSuffix("ubyte") || name.contains(".idx") || name.hasSuffix(".idx") { return .idx }
    return nil
}

/// An entry written as `kind`, `{kind: options}`, or `{type: kind, ...options}` (`name:` works as `type:`): the
/// kind and its options.
func namedEntry(_ v: ConfigValue, what: String) throws -> (name: String, options: ConfigValue?, at: ConfigValue) {
    if v.isScalar { return (try v.string(), nil, v) }
    let m = try v.mapping()
    if let t = m.optional("type") ?? m.optional("name") { return (try t.string(), v, t) }
    guard m.keys.count == 1, let key = m.keys.first else { throw v.mismatch("\(what): a name, or a mapping with one key") }
    let opts = m.optional(key)
    return (key, opts, ConfigValue(node: Node(key), path: v.path, file: v.file))
}

private func parsePreparation(_ v: ConfigValue) throws -> PreparationStep {
    let (_, opts, at) = try namedEntry(v, what: "a preparation step")
    let kind = try at.choice(["impute", "standardize", "minmax", "robust"], what: "a preparation step (impute, standardize, minmax, robust)")
    // For `{type: ..., key: ...}` entries the options are the mapping's other keys.
    let m = try opts.flatMap { $0.isMapping ? try $0.mapping() : nil }
    m?.skipKind()
    switch kind {
    case "impute":
        var strategy = SimpleImputer.Strategy.mean
        if let o = opts, o.isScalar {
            strategy = try imputeStrategy(o)
        } else if let m {
            if let s = m.optional("strategy") { strategy = try imputeStrategy(s) }
            if let c = m.optional("value") { strategy = .constant(try c.double()) }
            try m.finish()
        }
        return .imputer(SimpleImputer(strategy: strategy))
    case "standardize":
        var s = StandardScaler()
        if let m {
            if let x = m.optional("with_mean") { s.withMean = try x.bool() }
            if let x = m.optional("with_std") { s.withStd = try x.bool() }
            try m.finish()
        }
        return .standardScaler(s)
    case "minmax":
        var range = 0.0...1.0
        if let m {
            if let r = m.optional("range") {
                let items = try r.list()
                guard items.count == 2 else { throw r.mismatch("a list of two numbers [low, high]") }
                let lo = try items[0].double(), hi = try items[1].double()
                guard lo < hi else { throw r.mismatch("[low, high] with low < high") }
                range = lo...hi
            }
            try m.finish()
        }
        return .minMaxScaler(MinMaxScaler(range: range))
    default:
        var s = RobustScaler()
        if let m {
            if let x = m.optional("with_centering") { s.withCentering = try x.bool() }
            if let x = m.optional("with_scaling") { s.withScaling = try x.bool() }
            try m.finish()
        }
        return .robustScaler(s)
    }
}

private func imputeStrategy(_ v: ConfigValue) throws -> SimpleImputer.Strategy {
    switch try v.choice(["mean", "median", "most_frequent"]) {
    case "mean": return .mean
    case "median": return .median
    default: return .mostFrequent
    }
}

/// Augmentation names `data.augmentation` accepts.
let augmentationNames = ["random_crop", "horizontal_flip", "vertical_flip", "rotation", "color_jitter", "gaussian_noise", "random_erasing"]

private func parseAugmentation(_ v: ConfigValue) throws -> AugmentationSpec {
    let (_, opts, at) = try namedEntry(v, what: "an augmentation")
    let kind = try at.choice(augmentationNames, what: "an augmentation (\(augmentationNames.joined(separator: ", ")))")
    let scalar = opts.flatMap { $0.isScalar ? $0 : nil }
    let m = try opts.flatMap { $0.isMapping ? try $0.mapping() : nil }
    m?.skipKind()
    /// The option `key`, given as `{kind: value}` or `{kind: {key: value}}`.
    func option(_ key: String) -> ConfigValue? { scalar ?? m?.optional(key) }
    let probability = "a probability in [0, 1]"
    let spec: AugmentationSpec
    switch kind {
    case "random_crop": spec = .randomCrop(padding: try option("padding")?.int(atLeast: 1) ?? 2)
    case "horizontal_flip": spec = .horizontalFlip(p: try option("p")?.double(in: 0...1, probability) ?? 0.5)
    case "vertical_flip": spec = .verticalFlip(p: try option("p")?.double(in: 0...1, probability) ?? 0.5)
    case "rotation": spec = .rotation(degrees: try option("degrees")?.double(in: 0...180, "degrees in [0, 180]") ?? 10)
    case "color_jitter":
        if let scalar { throw scalar.mismatch("a mapping with brightness and/or contrast") }
        spec = .colorJitter(brightness: try m?.optional("brightness")?.double(in: 0...1, "a number in [0, 1]") ?? 0.2,
                            contrast: try m?.optional("contrast")?.double(in: 0...1, "a number in [0, 1]") ?? 0.2)
    case "gaussian_noise": spec = .gaussianNoise(std: try option("std")?.positiveDouble() ?? 0.05)
    default: spec = .randomErasing(p: try option("p")?.double(in: 0...1, probability) ?? 0.5)
    }
    try m?.finish()
    return spec
}

// MARK: - evaluation

/// Metric names `evaluation.metrics` accepts.
public enum MetricName {
    /// For classification.
    public static let classification = ["accuracy", "loss", "macro_f1", "balanced_accuracy", "roc_auc", "log_loss", "per_class",
                                        "confusion_matrix"]
    /// For regression.
    public static let regression = ["loss", "mse", "rmse", "mae", "r2"]
    /// Every metric of a task.
    public static func all(_ task: TaskKind) -> [String] { task == .classification ? classification : regression }
    /// The metrics `metrics.json` holds unless `evaluation.metrics` says otherwise.
    public static func defaults(_ task: TaskKind) -> [String] {
        task == .classification ? ["accuracy", "loss", "macro_f1", "roc_auc", "per_class", "confusion_matrix"] : regression
    }
}

private func parseEvaluation(_ v: ConfigValue?, task: TaskKind) throws -> EvaluationConfig {
    var e = EvaluationConfig()
    guard let v else { return e }
    let m = try v.mapping()
    if let ms = m.optional("metrics") {
        let allowed = MetricName.all(task)
        e.metrics = try ms.list().map { try $0.choice(allowed, what: "a \(task.rawValue) metric (\(allowed.joined(separator: ", ")))") }
    }
    try m.finish()
    return e
}
