import EmberCore
import Foundation

extension Datasets {
    /// Fashion-MNIST class names, by label.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                             "Sneaker", "Bag", "Ankle boot"]
    /// CIFAR-10 class names, by label.
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// Fashion-MNIST (Zalando, MIT licence): 60000 training or 10000 test images of 28x28 grey pixels, 10 classes.
    ///
    /// Reads the gzipped IDX files that Debian's `dataset-fashion-mnist` package installs in
    /// `/usr/share/datasets/fashion-mnist` (or the same files, plain or gzipped, in `directory`).
    /// - Throws: `DataError(.datasetUnavailable)` naming the install command when the files are missing;
    ///   `DataError` naming the file and record when they are damaged.
    public static func fashionMNIST(_ split: Split = .train, directory: String = fashionMNISTDirectory) throws -> ImageDataset {
        try idxImages(split, directory: directory, classes: fashionMNISTClasses,
                      missingHint: directory == fashionMNISTDirectory
                          ? "the Fashion-MNIST files; install them with `\(fashionMNISTInstallCommand)` (as root)"
                          : "the Fashion-MNIST files (Debian: `\(fashionMNISTInstallCommand)` puts them in \(fashionMNISTDirectory))")
    }

    /// MNIST handwritten digits from your copy of the original files in `directory`
    /// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
    /// each plain or with `.gz`): 60000 or 10000 images of 28x28, 10 classes.
    public static func mnist(_ split: Split = .train, directory: String) throws -> ImageDataset {
        try idxImages(split, directory: directory, classes: (0...9).map(String.init), missingHint: "the MNIST files")
    }

    /// CIFAR-10 from your copy of the binary version in `directory` (the `cifar-10-batches-bin` folder or its
    /// parent): `data_batch_1.bin` ... `data_batch_5.bin` (train, 50000 images) or `test_batch.bin` (10000), each
    /// plain or with `.gz`. Images are [3, 32, 32]. Class names come from `batches.meta.txt` when present.
    public static func cifar10(_ split: Split = .train, directory: String) throws -> ImageDataset {
        var dir = directory
        if FileManager.default.fileExists(atPath: dir + "/cifar-10-batches-bin") { dir += "/cifar-10-batches-bin" }
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        var labels: [Int32] = []
        var pixels: [UInt8] = []
        for name in names {
            let path = try locate(name, in: dir, hint: "the CIFAR-10 binary batches (\(names.joined(separator: ", ")))")
            let part = try CIFARReader.read(path: path)
            labels += part.labels
            pixels += part.pixels
        }
        var classes = cifar10Classes
        if let meta = try? String(contentsOfFile: dir + "/batches.meta.txt", encoding: .utf8) {
            let lines = meta.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if lines.count == 10 { classes = lines }
        }
        return ImageDataset(pixels: pixels, labels: labels, imageShape: CIFARReader.imageShape, classNames: classes)
    }

    /// A file called `name` or `name.gz` in `dir`.
    static func locate(_ name: String, in dir: String, hint: String) throws -> String {
        for candidate in [name, name + ".gz"] {
            let p = dir + "/" + candidate
            if FileManager.default.isReadableFile(atPath: p) { return p }
        }
        throw DataError(.datasetUnavailable, file: dir + "/" + name, expected: hint, found: "no \(name) or \(name).gz in \(dir)")
    }

    /// An IDX image file and its label file, checked against each other.
    static func idxImages(_ split: Split, directory: String, classes: [String], missingHint: String) throws -> ImageDataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagePath = try locate("\(prefix)-images-idx3-ubyte", in: directory, hint: missingHint)
        let labelPath = try locate("\(prefix)-labels-idx1-ubyte", in: directory, hint: missingHint)
        let images = try IDXReader.read(path: imagePath)
        let labels = try IDXReader.read(path: labelPath)
        guard images.header.elementType == .uint8, images.shape.count == 3 else {
            throw DataError(.badHeader, file: imagePath, at: .header, expected: "uint8 images of shape [count, height, width]",
                            found: "\(images.header.elementType) of shape \(images.shape)")
        }
        guard labels.header.elementType == .uint8, labels.shape.count == 1 else {
            throw DataError(.badHeader, file: labelPath, at: .header, expected: "uint8 labels of shape [count]",
                            found: "\(labels.header.elementType) of shape \(labels.shape)")
        }
        guard labels.shape[0] == images.shape[0] else {
            throw DataError(.sizeMismatch, file: labelPath, at: .header, expected: "\(images.shape[0]) labels, one per image of \(imagePath)",
                            found: "\(labels.shape[0])")
        }
        if let bad = labels.bytes.firstIndex(where: { Int($0) >= classes.count }) {
            throw DataError(.badValue, file: labelPath, at: .record(bad), expected: "a label in 0...\(classes.count - 1)",
                            found: "\(labels.bytes[bad])")
        }
        return ImageDataset(pixels: images.bytes, labels: labels.bytes.map { Int32($0) },
                            imageShape: [1, images.shape[1], images.shape[2]], classNames: classes)
    }
}
