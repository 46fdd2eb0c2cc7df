import Foundation

/// Examples in memory as read from their source, before scaling and preparation.
public struct RawData: @unchecked Sendable {
    /// Inputs, examples along axis 0 (float32).
    public var inputs: Tensor
    /// Class indices (int64 [N]) or regression targets (float32 [N] or [N, k]).
    public var targets: Tensor
    /// Class names by index (classification).
    public var classNames: [String]
    /// Names of the input features of tabular data.
    public var featureNames: [String]
    /// Whether the inputs are 8-bit pixel values (0...255), scaled by 1/255 unless the config says otherwise.
    public var byteImages: Bool

    /// Number of examples.
    public var count: Int { inputs.shape[0] }

    /// The examples at `indices`.
    func subset(_ indices: [Int]) -> RawData {
        let idx = Tensor(indices.map { Int64($0) })
        var r = self
        withoutGrad {
            r.inputs = inputs.indexSelect(axis: 0, index: idx)
            r.targets = targets.indexSelect(axis: 0, index: idx)
        }
        return r
    }

    /// Class indices as Swift integers.
    var labels: [Int] { targets.toArray(Int64.self).map { Int($0) } }
}

/// The three parts a run uses.
public struct DataSplits: @unchecked Sendable {
    /// Training examples.
    public var train: RawData
    /// Validation examples (nil without a validation split).
    public var validation: RawData?
    /// Test examples.
    public var test: RawData
    /// Where the data came from, for provenance (`digits`, `train.csv`).
    public var source: String
}

/// Errors of the command line that are not about a config key: missing run directories, inputs that do not fit the
/// model, files that are not what they should be.
public struct CLIError: Error, CustomStringConvertible, Equatable {
    /// The message.
    public var message: String
    /// A message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Reads data sources into memory.
enum DataReader {
    /// The training (and, if the source has one, test) part of the config's data, unsplit.
    static func load(_ d: DataConfig, file: String?) throws -> (train: RawData, test: RawData?, source: String) {
        if let name = d.dataset { return try loadBuiltin(name, directory: d.directory, file: file) }
        guard let train = d.train else { throw CLIError("data: no dataset or train files") }
        let tr = try read(train, task: d.task, classes: nil)
        let te = try d.test.map { try read($0, task: d.task, classes: tr.classNames) }
        return (tr, te, train.path)
    }

    static func loadBuiltin(_ name: String, directory: String?, file: String?) throws -> (train: RawData, test: RawData?, source: String) {
        func table(_ t: TensorDataset) -> RawData {
            RawData(inputs: t.inputs, targets: t.targets, classNames: t.classNames, featureNames: t.featureNames, byteImages: false)
        }
        func images(_ i: ImageDataset) -> RawData {
            var raw = i
            raw.scale = 1
            let all = raw.batch(at: Array(0..<raw.count))!
            return RawData(inputs: all.input, targets: all.target, classNames: i.classNames, featureNames: [], byteImages: true)
        }
        switch name {
        case "digits": return (table(try Datasets.digits()), nil, name)
        case "iris": return (table(try Datasets.iris()), nil, name)
        case "wine": return (table(try Datasets.wine()), nil, name)
        case "fashion-mnist":
            let dir = directory ?? Datasets.fashionMNISTDirectory
            return (images(try Datasets.fashionMNIST(.train, directory: dir)), images(try Datasets.fashionMNIST(.test, directory: dir)), name)
        default:
            guard let directory else {
                throw ConfigError(path: "data.directory", message: "missing; \(name) is not bundled: expected a directory holding your copy of its files",
                                  file: file)
            }
            if name == "mnist" {
                return (images(try Datasets.mnist(.train, directory: directory)), images(try Datasets.mnist(.test, directory: directory)), name)
            }
            return (images(try Datasets.cifar10(.train, directory: directory)), images(try Datasets.cifar10(.test, directory: directory)), name)
        }
    }

    /// Reads one file source. `classes`: the training part's class names, which test labels must map onto.
    static func read(_ s: DataSource, task: TaskKind, classes: [String]?) throws -> RawData {
        switch s.format {
        case .csv: return try readCSV(s, task: task, classes: classes)
        case .idx:
            let x = try IDXReader.read(path: s.path)
            var inputs = x.tensor(dtype: .float32)
            if inputs.rank == 3 { inputs = inputs.reshaped([inputs.shape[0], 1, inputs.shape[1], inputs.shape[2]]) }
            let y = try IDXReader.read(path: s.targets!)
            let targets = task == .classification ? try classLabels(y.tensor(dtype: .float64), file: s.targets!) : y.tensor(dtype: .float32)
            return try pair(inputs, targets, s, task: task, classes: classes, byteImages: x.header.elementType == .uint8)
        case .npy:
            let inputs = try NPYArray(path: s.path).tensor().cast(.float32)
            let y = try NPYArray(path: s.targets!).tensor()
            let targets = task == .classification ? try classLabels(y, file: s.targets!) : y.cast(.float32)
            return try pair(inputs, targets, s, task: task, classes: classes, byteImages: false)
        }
    }

    /// Labels above this are refused: classes are numbered 0, 1, 2, ... and each gets an output unit and a name.
    static let maxClassLabel = 1 << 20

    /// Class labels read from a file as int64. Float labels must be whole numbers (2.5, NaN or 1e30 are errors, not
    /// silently truncated or a trap in the conversion).
    static func classLabels(_ y: Tensor, file: String) throws -> Tensor {
        guard y.dtype.isFloatingPoint else { return y.cast(.int64) }
        let values = y.toArray(Double.self)
        // whole numbers of magnitude up to 2^53 convert exactly; the range of labels is checked after conversion
        if let i = values.firstIndex(where: { !$0.isFinite || $0.rounded() != $0 || Swift.abs($0) > 9_007_199_254_740_992 }) {
            throw CLIError("\(file): expected whole-number class labels, found \(values[i]) (example \(i))")
        }
        return y.cast(.int64)
    }

    private static func pair(_ x: Tensor, _ y: Tensor, _ s: DataSource, task: TaskKind, classes: [String]?, byteImages: Bool) throws -> RawData {
        let file = s.targets ?? s.path
        guard x.rank >= 1, y.rank >= 1, x.shape[0] == y.shape[0] else {
            throw CLIError("\(file): \(y.shape.first ?? 0) targets for \(x.shape.first ?? 0) inputs in \(s.path)")
        }
        var names: [String] = []
        if task == .classification {
            guard y.rank == 1 else { throw CLIError("\(file): expected one class label per example, got targets of shape \(y.shape)") }
            let labels = y.toArray(Int64.self)
            if let bad = labels.first(where: { $0 < 0 }) { throw CLIError("\(file): expected class labels >= 0, found \(bad)") }
            if let bad = labels.first(where: { $0 > maxClassLabel }) {
                throw CLIError("\(file): label \(bad) is too large: class labels are numbered 0, 1, 2, ... (at most \(maxClassLabel))")
            }
            let n = Int((labels.max() ?? 0) + 1)
            names = classes ?? (0..<n).map(String.init)
            if let bad = labels.first(where: { Int($0) >= names.count }) {
                throw CLIError("\(file): label \(bad) is not one of the \(names.count) training classes")
            }
        }
        return RawData(inputs: x, targets: y, classNames: names, featureNames: [], byteImages: byteImages)
    }

    private static func readCSV(_ s: DataSource, task: TaskKind, classes: [String]?) throws -> RawData {
        let table = try CSVTable(path: s.path)
        guard table.rowCount > 0 else { throw CLIError("\(s.path): no data rows") }
        let target = s.target ?? table.columnNames.last!
        _ = try table.columnIndex(target)
        let features = s.features ?? table.columnNames.enumerated()
            .filter { $0.element != target && table.columns[$0.offset].type == .numeric }.map(\.element)
        guard !features.isEmpty else { throw CLIError("\(s.path): no numeric feature columns besides the target '\(target)'") }
        let x = try table.tensor(columns: features)
        if task == .regression {
            let y = try table.numbers(target)
            return RawData(inputs: x, targets: Tensor(y.map { Float($0) }), classNames: [], featureNames: features, byteImages: false)
        }
        let (y, names) = try table.classLabels(column: target)
        guard let classes else {
            return RawData(inputs: x, targets: y, classNames: names, featureNames: features, byteImages: false)
        }
        // Map this file's classes onto the training classes.
        var map: [Int64] = []
        for n in names {
            guard let i = classes.firstIndex(of: n) else {
                throw CLIError("\(s.path): class '\(n)' in column '\(target)' does not occur in the training data (classes: \(classes.joined(separator: ", ")))")
            }
            map.append(Int64(i))
        }
        return RawData(inputs: x, targets: Tensor(y.toArray(Int64.self).map { map[Int($0)] }), classNames: classes,
                       featureNames: features, byteImages: false)
    }

    /// Splits the loaded data into train, validation and test as the config says.
    static func split(_ config: ExperimentConfig) throws -> DataSplits {
        let d = config.data
        let (all, givenTest, source) = try load(d, file: config.file)
        var rng = RandomState(seed: d.split.seed ?? config.training.seed)
        let stratify = d.task == .classification && d.split.stratify
        var train: RawData, test: RawData
        if let givenTest {
            var order = rng.permutation(all.count)
            train = all
            test = givenTest
            if let n = d.limitTrain, n < order.count { order = Array(order.prefix(n)); order.sort(); train = all.subset(order) }
        } else {
            let (tr, te) = try Splits.trainTest(count: all.count, testFraction: d.split.test,
                                                stratifyBy: stratify ? all.labels : nil, rng: &rng)
            train = all.subset(d.limitTrain.map { Array(tr.prefix($0)) } ?? tr)
            test = all.subset(te)
        }
        if let n = d.limitTest, n < test.count {
            test = test.subset(Array(rng.permutation(test.count).prefix(n)).sorted())
        }
        var validation: RawData?
        if d.split.validation > 0 {
            let (tr, va) = try Splits.trainTest(count: train.count, testFraction: d.split.validation,
                                                stratifyBy: stratify ? train.labels : nil, rng: &rng)
            validation = train.subset(va)
            train = train.subset(tr)
        }
        return DataSplits(train: train, validation: validation, test: test, source: source)
    }
}
