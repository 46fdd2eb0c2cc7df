import Foundation

/// `ember datasets`: the built-in datasets and whether each can be loaded here.
public enum DatasetsRunner {
    /// One built-in dataset.
    public struct Entry: Sendable, Equatable {
        /// Its name in configs (`data.dataset`).
        public var name: String
        /// What it is.
        public var description: String
        /// Examples (train/test where it has both).
        public var examples: String
        /// One example's input.
        public var input: String
        /// Number of classes.
        public var classes: Int
        /// Whether it loads without further setup.
        public var available: Bool
        /// Where it comes from, or what to do to get it.
        public var status: String
    }

    /// Every built-in set, checked.
    public static func entries(fashionMNISTDirectory: String = Datasets.fashionMNISTDirectory) -> [Entry] {
        func bundled(_ load: () throws -> TensorDataset) -> (Bool, String) {
            do { _ = try load(); return (true, "bundled with EmberData") } catch { return (false, "unavailable: \(error)") }
        }
        let (d, ds) = bundled(Datasets.digits), (i, ist) = bundled(Datasets.iris), (w, ws) = bundled(Datasets.wine)
        let fashionFiles = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        let fm = FileManager.default
        let fashion = fashionFiles.allSatisfy { f in [f, f + ".gz"].contains { fm.isReadableFile(atPath: fashionMNISTDirectory + "/" + $0) } }
        return [
            Entry(name: "digits", description: "8x8 handwritten digits (scikit-learn)", examples: "1797", input: "64 pixels (8x8)",
                  classes: 10, available: d, status: ds),
            Entry(name: "iris", description: "Fisher's iris flowers", examples: "150", input: "4 features", classes: 3, available: i, status: ist),
            Entry(name: "wine", description: "UCI wine recognition", examples: "178", input: "13 features", classes: 3, available: w, status: ws),
            Entry(name: "fashion-mnist", description: "Zalando's clothing images", examples: "60000/10000", input: "1x28x28",
                  classes: 10, available: fashion,
                  status: fashion ? "installed in \(fashionMNISTDirectory)" : "missing: install with `\(Datasets.fashionMNISTInstallCommand)`"),
            Entry(name: "mnist", description: "handwritten digits", examples: "60000/10000", input: "1x28x28", classes: 10, available: false,
                  status: "not shipped: set data.directory to your copy of the IDX files"),
            Entry(name: "cifar10", description: "32x32 colour images", examples: "50000/10000", input: "3x32x32", classes: 10, available: false,
                  status: "not shipped: set data.directory to your copy of the binary batches"),
        ]
    }

    /// Prints the table (or JSON).
    @discardableResult
    public static func run(json: Bool, console: Console) -> [Entry] {
        let list = entries()
        if json {
            console.line(JSONValue.array(list.map {
                .object([("name", .string($0.name)), ("description", .string($0.description)), ("examples", .string($0.examples)),
                         ("input", .string($0.input)), ("classes", .number(Double($0.classes))), ("available", .bool($0.available)),
                         ("status", .string($0.status))])
            }).rendered())
            return list
        }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let w = list.map(\.description.count).max() ?? 10
        console.line(pad("name", 15) + pad("description", w + 2) + pad("examples", 13) + pad("input", 17) + pad("classes", 9) + "status")
        for e in list {
            console.line(pad(e.name, 15) + pad(e.description, w + 2) + pad(e.examples, 13) + pad(e.input, 17) + pad("\(e.classes)", 9)
                         + (e.available ? "available: " : "") + e.status)
        }
        return list
    }

    /// Writes a built-in image set as PNG files in class folders, `directory/train/<class>/<n>.png` and
    /// `directory/test/<class>/<n>.png`, as users keep their own images (at most `limit` per part, taken in order).
    /// Returns the number of files written. Existing files are left alone: the target folders must not exist.
    @discardableResult
    public static func exportImages(_ name: String, to directory: String, limit: Int?, directoryOfSet: String? = nil) throws -> Int {
        let parts: [(String, ImageDataset)]
        switch name {
        case "fashion-mnist":
            let dir = directoryOfSet ?? Datasets.fashionMNISTDirectory
            parts = [("train", try Datasets.fashionMNIST(.train, directory: dir)), ("test", try Datasets.fashionMNIST(.test, directory: dir))]
        case "mnist", "cifar10":
            guard let dir = directoryOfSet else { throw CLIError("--export \(name): give --directory, the folder holding your copy of its files") }
            parts = name == "mnist" ? [("train", try Datasets.mnist(.train, directory: dir)), ("test", try Datasets.mnist(.test, directory: dir))]
                                    : [("train", try Datasets.cifar10(.train, directory: dir)), ("test", try Datasets.cifar10(.test, directory: dir))]
        case "digits":
            // 8x8 images with values 0...16, scaled to 0...255; no official split: every fifth image (index 4, 9, ...)
            // is a test image (359 of 1797), the rest train (1438).
            let all = try Datasets.digits()
            let v = all.inputs.toArray(Float.self), y = all.targets.toArray(Int64.self)
            func part(_ test: Bool) -> ImageDataset {
                let idx = (0..<y.count).filter { ($0 % 5 == 4) == test }
                let px = idx.flatMap { i in v[(i * 64)..<((i + 1) * 64)].map { UInt8(($0 * 255 / 16).rounded()) } }
                return ImageDataset(pixels: px, labels: idx.map { Int32(y[$0]) }, imageShape: [1, 8, 8], classNames: all.classNames)
            }
            parts = [("train", part(false)), ("test", part(true))]
        default:
            throw CLIError("--export \(name): only the image sets (fashion-mnist, mnist, cifar10, digits) are written as image files")
        }
        let root = URL(fileURLWithPath: directory)
        for (part, _) in parts where FileManager.default.fileExists(atPath: root.appendingPathComponent(part).path) {
            throw CLIError("\(root.appendingPathComponent(part).path) already exists: export into a new folder")
        }
        var written = 0
        for (part, data) in parts {
            let (c, h, w) = (data.imageShape[0], data.imageShape[1], data.imageShape[2])
            let n = Swift.min(limit ?? data.count, data.count)
            // Folder names that sort in label order and stay readable ("0-T-shirt-top").
            let folders = data.classNames.enumerated().map { i, name in
                "\(i)-" + String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
            }
            for i in 0..<n {
                let planar = data.pixels[(i * c * h * w)..<((i + 1) * c * h * w)]
                var interleaved = [UInt8](repeating: 0, count: c * h * w)
                for ch in 0..<c { for p in 0..<(h * w) { interleaved[p * c + ch] = planar[planar.startIndex + ch * h * w + p] } }
                let png = try RasterImage(width: w, height: h, channels: c, pixels: interleaved).pngData()
                let dir = root.appendingPathComponent(part).appendingPathComponent(folders[Int(data.labels[i])])
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try AtomicFile.write(Data(png), to: dir.appendingPathComponent("\(i).png"))
                written += 1
            }
        }
        return written
    }
}
