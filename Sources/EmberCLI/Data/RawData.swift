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
        if let images = d.images { return try loadImages(images) }
        guard let train = d.train else { throw CLIError("data: no dataset or train files") }
        let missing = d.preparation.contains { if case .imputer = $0 { return true }; return false }
        let tr = try read(train, task: d.task, classes: nil, missingAllowed: missing)
        let te = try d.test.map { try read($0, task: d.task, classes: tr.classNames, missingAllowed: missing) }
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

    /// The image folders of `data.images`, decoded into memory as 8-bit images (classes: the training folder's).
    static func loadImages(_ s: ImageFolderSource) throws -> (train: RawData, test: RawData?, source: String) {
        let train = try readImageFolder(s.train, s, classes: nil)
        let test = try s.test.map { try readImageFolder($0, s, classes: train.classNames) }
        return (train, test, s.train)
    }

    /// One image folder as raw 8-bit images (values 0...255); with `classes`, its class folders must be among them.
    static func readImageFolder(_ path: String, _ s: ImageFolderSource, classes: [String]?) throws -> RawData {
        let folder = try ImageFolder(path, size: s.size.map { (height: $0[0], width: $0[1]) }, channels: s.channels, filter: s.filter,
                                     onError: s.skipDamaged ? .skip : .fail)
        for e in folder.skipped { FileHandle.standardError.write(Data("skipped \(e)\n".utf8)) }
        var data = folder.load()
        data.scale = 1
        let all = data.batch(at: Array(0..<data.count))!
        var targets = all.target
        if let classes {
            var map: [Int64] = []
            for name in folder.classNames {
                guard let i = classes.firstIndex(of: name) else {
                    throw CLIError("\(path): class folder '\(name)' does not occur in the training images (classes: \(classes.joined(separator: ", ")))")
                }
                map.append(Int64(i))
            }
            targets = Tensor(targets.toArray(Int64.self).map { map[Int($0)] })
        }
        return RawData(inputs: all.input, targets: targets, classNames: classes ?? folder.classNames, featureNames: [], byteImages: true)
    }

    /// Reads one file source. `classes`: the training part's class names, which test labels must map onto.
    /// `missingAllowed`: whether NaN inputs (missing values) are allowed, i.e. an imputation step fills them in.
    /// - Throws: `DataError` naming the file and the record, line or column of the first value that cannot be used:
    ///   an infinite input, a missing input without imputation, a class label that is not a whole number in
    ///   0..<100,000 (or beyond the training classes), a non-finite regression target.
    static func read(_ s: DataSource, task: TaskKind, classes: [String]?, missingAllowed: Bool = false) throws -> RawData {
        switch s.format {
        case .csv: return try readCSV(s, task: task, classes: classes, missingAllowed: missingAllowed)
        case .idx:
            let x = try IDXReader.read(path: s.path)
            var inputs = x.tensor(dtype: .float32)
            if inputs.rank == 3 { inputs = inputs.reshaped([inputs.shape[0], 1, inputs.shape[1], inputs.shape[2]]) }
            try checkInputs(inputs, file: s.path, missingAllowed: missingAllowed)
            let y = try IDXReader.read(path: s.targets!)
            let targets = task == .classification ? try classLabels(y.doubles(), shape: y.shape, file: s.targets!)
                                                  : try regressionTargets(y.tensor(dtype: .float32), file: s.targets!)
            return try pair(inputs, targets, s, task: task, classes: classes, byteImages: x.header.elementType == .uint8)
        case .npy:
            let inputs = try NPYArray(path: s.path).tensor().cast(.float32)
            try checkInputs(inputs, file: s.path, missingAllowed: missingAllowed)
            let y = try NPYArray(path: s.targets!).tensor()
            let targets = task == .classification ? try classLabels(y, file: s.targets!)
                                                  : try regressionTargets(y.cast(.float32), file: s.targets!)
            return try pair(inputs, targets, s, task: task, classes: classes, byteImages: false)
        case .npz:
            let archive = try NPZArchive(path: s.path)
            let xName = s.inputs ?? "x", yName = s.targets ?? "y"
            let x = try archive.array(xName), y = try archive.array(yName)
            var inputs = try x.tensor().cast(.float32)
            if inputs.rank == 3 { inputs = inputs.reshaped([inputs.shape[0], 1, inputs.shape[1], inputs.shape[2]]) }
            let where_ = "\(s.path)/\(xName)", yWhere = "\(s.path)/\(yName)"
            try checkInputs(inputs, file: where_, missingAllowed: missingAllowed)
            let yt = try y.tensor()
            let targets = task == .classification ? try classLabels(yt, file: yWhere) : try regressionTargets(yt.cast(.float32), file: yWhere)
            return try pair(inputs, targets, s, task: task, classes: classes, byteImages: x.descr.hasSuffix("u1"))
        }
    }

    /// Class labels from any numeric tensor: whole numbers in 0..<`ConfigLimits.maxClasses`, as int64.
    static func classLabels(_ y: Tensor, file: String) throws -> Tensor {
        if y.dtype == .int64 || y.dtype == .int32 || y.dtype == .bool {
            let v = y.cast(.int64).toArray(Int64.self)
            if let i = v.firstIndex(where: { $0 < 0 || $0 >= Int64(ConfigLimits.maxClasses) }) {
                throw DataError(.badValue, file: file, at: .record(i),
                                expected: "a class label in 0..<\(ConfigLimits.maxClasses)", found: "\(v[i])")
            }
            return Tensor(v, shape: y.shape)
        }
        return try classLabels(y.cast(.float64).toArray(Double.self), shape: y.shape, file: file)
    }

    static func classLabels(_ values: [Double], shape: [Int], file: String) throws -> Tensor {
        var out = [Int64](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() {
            guard v.isFinite, v == v.rounded(), v >= 0, v < Double(ConfigLimits.maxClasses) else {
                let what = v.isNaN ? "NaN" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v)"
                throw DataError(.badValue, file: file, at: .record(i),
                                expected: "a class label: a whole number in 0..<\(ConfigLimits.maxClasses)", found: what)
            }
            out[i] = Int64(v)
        }
        return Tensor(out, shape: shape)
    }

    static func regressionTargets(_ y: Tensor, file: String) throws -> Tensor {
        let v = y.cast(.float32).scalars
        if let i = v.firstIndex(where: { !$0.isFinite }) {
            let per = y.rank > 1 ? y.shape.dropFirst().reduce(1, *) : 1
            throw DataError(.badValue, file: file, at: .record(i / Swift.max(per, 1)), expected: "a finite target value", found: "\(v[i])")
        }
        return y
    }

    /// Inputs must be finite; NaN (missing) only when an imputation step fills it in.
    static func checkInputs(_ x: Tensor, file: String, missingAllowed: Bool) throws {
        let v = x.cast(.float32).scalars
        guard let i = v.firstIndex(where: { $0.isInfinite || (!missingAllowed && $0.isNaN) }) else { return }
        let per = Swift.max(x.rank > 1 ? x.shape.dropFirst().reduce(1, *) : 1, 1)
        throw DataError(.badValue, file: file, at: .record(i / per),
                        expected: v[i].isNaN ? "no missing values (NaN) without an imputation step (add {impute: median} to data.preparation)"
                                             : "finite input values",
                        found: "\(v[i]) at value \(i % per)")
    }

    private static func pair(_ x: Tensor, _ y: Tensor, _ s: DataSource, task: TaskKind, classes: [String]?, byteImages: Bool) throws -> RawData {
        let file = s.targets ?? s.path
        guard x.rank >= 1, y.rank >= 1, x.shape[0] == y.shape[0] else {
            throw CLIError("\(file): \(y.shape.first ?? 0) targets for \(x.shape.first ?? 0) inputs in \(s.path)")
        }
        var names: [String] = []
        if task == .classification {
            guard y.rank == 1 else { throw CLIError("\(file): expected one class label per example, got targets of shape \(y.shape)") }
            let labels = y.toArray(Int64.self)   // checked: 0..<maxClasses
            let n = Int((labels.max() ?? 0) + 1)
            names = classes ?? (0..<n).map(String.init)
            if let i = labels.firstIndex(where: { Int($0) >= names.count }) {
                throw DataError(.badValue, file: file, at: .record(i), expected: "one of the \(names.count) training classes (0..<\(names.count))",
                                found: "\(labels[i])")
            }
        }
        return RawData(inputs: x, targets: y, classNames: names, featureNames: [], byteImages: byteImages)
    }

    private static func readCSV(_ s: DataSource, task: TaskKind, classes: [String]?, missingAllowed: Bool) throws -> RawData {
        let table = try CSVTable(path: s.path)
        guard let last = table.columnNames.last, table.rowCount > 0 else { throw CLIError("\(s.path): no data rows") }
        let target = s.target ?? last
        _ = try table.columnIndex(target)
        if s.features == nil {
            // A column of numbers with a few cells that are not: name the cell rather than drop the column.
            for (j, name) in table.columnNames.enumerated() where name != target {
                guard case .text(let v) = table.columns[j], v.contains(where: { $0.map { CSVTable.number($0) != nil } ?? false }),
                      let i = v.firstIndex(where: { $0 != nil && CSVTable.number($0!) == nil }) else { continue }
                throw DataError(.badValue, file: s.path, at: .field(line: table.lines[i], column: name),
                                expected: "a number (the column's other values are numbers)", found: jsonQuoted(v[i]!))
            }
        }
        let features = s.features ?? table.columnNames.enumerated()
            .filter { $0.element != target && table.columns[$0.offset].type == .numeric }.map(\.element)
        guard !features.isEmpty else { throw CLIError("\(s.path): no numeric feature columns besides the target '\(target)'") }
        let x = try table.tensor(columns: features)
        // Infinite values, and missing ones without an imputation step, named by line and column.
        let values = x.scalars, width = features.count
        if let k = values.firstIndex(where: { $0.isInfinite || (!missingAllowed && $0.isNaN) }) {
            throw DataError(.badValue, file: s.path, at: .field(line: table.lines[k / width], column: features[k % width]),
                            expected: values[k].isNaN ? "a value (missing values need an imputation step: add {impute: median} to data.preparation)"
                                                      : "a finite number",
                            found: values[k].isNaN ? "a missing value" : "\(values[k])")
        }
        if task == .regression {
            let y = try table.numbers(target)
            if let i = y.firstIndex(where: { !$0.isFinite }) {
                throw DataError(.badValue, file: s.path, at: .field(line: table.lines[i], column: target), expected: "a finite target value",
                                found: y[i].isNaN ? "a missing value" : "\(y[i])")
            }
            return RawData(inputs: x, targets: Tensor(y.map { Float($0) }), classNames: [], featureNames: features, byteImages: false)
        }
        let (y, names) = try table.classLabels(column: target)
        guard names.count <= ConfigLimits.maxClasses else {
            throw DataError(.badValue, file: s.path, at: .column(target), expected: "at most \(ConfigLimits.maxClasses) classes",
                            found: "\(names.count)")
        }
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
