import EmberCore
import Foundation

/// Datasets by name.
///
/// - `digits` (8x8 handwritten digits, 1797 x 64 features in 0...16, 10 classes), `iris` (150 x 4, 3 classes) and
///   `wine` (178 x 13, 3 classes) ship with EmberData (from scikit-learn, BSD-3 licence: see
///   `Resources/LICENSE-sklearn-datasets.txt`). They load as `TensorDataset`s of float32 features and int64 labels.
/// - `fashion-mnist` reads Debian's `dataset-fashion-mnist` package from `/usr/share/datasets/fashion-mnist`.
/// - `mnist` and `cifar10` read your own copies of the original files from a directory.
///
/// ```swift
/// let iris = try Datasets.iris()                           // TensorDataset, 150 examples
/// let train = try Datasets.fashionMNIST(.train)           // ImageDataset, 60000 images [1, 28, 28]
/// let any = try Datasets.load("wine")                      // by name, type-erased
/// ```
public enum Datasets {
    /// A predefined part of a dataset.
    public enum Split: String, Sendable, CaseIterable {
        /// The training part.
        case train
        /// The held-out test part.
        case test
    }

    /// The names `load(_:split:directory:)` accepts.
    public static let names = ["digits", "iris", "wine", "fashion-mnist", "mnist", "cifar10"]

    /// Where Debian's `dataset-fashion-mnist` package puts the files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// The command that installs Fashion-MNIST on Debian and Ubuntu.
    public static let fashionMNISTInstallCommand = "apt-get install -y dataset-fashion-mnist"

    /// Loads the dataset called `name` (see `names`). `split` selects train or test for the image sets (the small
    /// tabular sets have no split and load whole); `directory` overrides where the image sets' files are.
    /// - Throws: `DataError` when the name is unknown, the files are missing, or they are damaged.
    public static func load(_ name: String, split: Split = .train, directory: String? = nil) throws
        -> AnyDataset<(input: Tensor, target: Tensor)> {
        switch name.lowercased() {
        case "digits": return try digits().eraseToAnyDataset()
        case "iris": return try iris().eraseToAnyDataset()
        case "wine": return try wine().eraseToAnyDataset()
        case "fashion-mnist", "fashion_mnist", "fashionmnist":
            return try fashionMNIST(split, directory: directory ?? fashionMNISTDirectory).eraseToAnyDataset()
        case "mnist", "cifar10", "cifar-10":
            guard let directory else {
                throw DataError(.datasetUnavailable, file: name, expected: "a directory holding your copy of \(name) (load(_:split:directory:))")
            }
            return name.lowercased() == "mnist" ? try mnist(split, directory: directory).eraseToAnyDataset()
                : try cifar10(split, directory: directory).eraseToAnyDataset()
        default:
            throw DataError(.notFound, file: name, expected: "a dataset name, one of \(names.joined(separator: ", "))")
        }
    }

    // MARK: bundled tabular sets

    /// The 8x8 handwritten digits of scikit-learn: 1797 examples of 64 pixel features (0...16), 10 classes.
    public static func digits() throws -> TensorDataset {
        let path = try resource("digits.csv.gz")
        let reader = try CSVReader(path: path)
        var features: [Float] = []
        var labels: [Int64] = []
        features.reserveCapacity(1797 * 64)
        while let row = try reader.nextRow() {
            guard row.fields.count == 65 else {
                throw DataError(.fieldCount, file: path, at: .line(row.line), expected: "65 fields (64 pixels and a label)",
                                found: "\(row.fields.count)")
            }
            for (j, f) in row.fields.enumerated() {
                guard let v = parseNumber(f) else {
                    throw DataError(.badValue, file: path, at: .field(line: row.line, column: String(j)), expected: "a number", found: excerpt(f))
                }
                if j < 64 { features.append(Float(v)) } else { labels.append(try classIndex(v, 10, path, row.line)) }
            }
        }
        let names = (0..<8).flatMap { r in (0..<8).map { c in "pixel_\(r)_\(c)" } }
        return TensorDataset(inputs: Tensor(features, shape: [labels.count, 64]), targets: Tensor(labels),
                             featureNames: names, classNames: (0...9).map(String.init))
    }

    /// Fisher's iris flowers (scikit-learn's copy): 150 examples of 4 features, 3 classes of 50.
    public static func iris() throws -> TensorDataset {
        try sklearnTable("iris.csv", features: ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
    }

    /// The UCI wine recognition data (scikit-learn's copy): 178 examples of 13 features, 3 classes (59/71/48).
    public static func wine() throws -> TensorDataset {
        try sklearnTable("wine_data.csv", features: [
            "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
            "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines", "proline",
        ])
    }

    /// The path of a bundled resource file.
    static func resource(_ name: String) throws -> String {
        let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
        if let p = Bundle.module.path(forResource: base, ofType: ext, inDirectory: "Resources") { return p }
        if let p = Bundle.module.path(forResource: base, ofType: ext) { return p }
        throw DataError(.datasetUnavailable, file: name, expected: "the file bundled with EmberData (Resources/\(name))")
    }

    /// scikit-learn's CSV layout: a first line `n_samples,n_features,class names...`, then rows of features + label.
    private static func sklearnTable(_ file: String, features: [String]) throws -> TensorDataset {
        let path = try resource(file)
        let reader = try CSVReader(path: path, checksFieldCount: false)
        guard let head = try reader.nextRow() else {
            throw DataError(.truncated, file: path, at: .line(1), expected: "a header line n_samples,n_features,class names")
        }
        guard head.fields.count >= 3, let n = Int(head.fields[0].trimmingSpaces), let f = Int(head.fields[1].trimmingSpaces),
              n >= 0, f == features.count else {
            throw DataError(.badHeader, file: path, at: .line(head.line),
                            expected: "n_samples,\(features.count),class names...", found: excerpt(head.fields.joined(separator: ",")))
        }
        let classes = head.fields[2...].map { $0.trimmingSpaces }
        var x: [Float] = []
        var y: [Int64] = []
        x.reserveCapacity(n * f)
        while let row = try reader.nextRow() {
            guard row.fields.count == f + 1 else {
                throw DataError(.fieldCount, file: path, at: .line(row.line), expected: "\(f + 1) fields", found: "\(row.fields.count)")
            }
            for (j, s) in row.fields.enumerated() {
                guard let v = parseNumber(s) else {
                    let col = j < f ? features[j] : "target"
                    throw DataError(.badValue, file: path, at: .field(line: row.line, column: col), expected: "a number", found: excerpt(s))
                }
                if j < f { x.append(Float(v)) } else { y.append(try classIndex(v, classes.count, path, row.line)) }
            }
        }
        guard y.count == n else {
            throw DataError(.sizeMismatch, file: path, expected: "\(n) rows (line 1)", found: "\(y.count)")
        }
        return TensorDataset(inputs: Tensor(x, shape: [n, f]), targets: Tensor(y), featureNames: features, classNames: classes)
    }

    private static func classIndex(_ v: Double, _ classes: Int, _ path: String, _ line: Int) throws -> Int64 {
        guard v == v.rounded(), v >= 0, v < Double(classes) else {
            throw DataError(.badValue, file: path, at: .field(line: line, column: "target"),
                            expected: "a class index in 0...\(classes - 1)", found: "\(v)")
        }
        return Int64(v)
    }
}
