import Foundation

/// Options of `ember predict`.
public struct PredictOptions: Sendable {
    /// The run directory (or its model.json).
    public var model: String
    /// The inputs: CSV rows, IDX images, a .npy array, or an image file (PNG/JPEG) or folder of them.
    public var input: String
    /// More image files or folders, predicted with `input` (image models only).
    public var additionalInputs: [String] = []
    /// Print JSON instead of a table.
    public var json = false
    /// Show every class's probability in the table.
    public var probabilities = false
    /// Only the first N examples.
    public var limit: Int?
    /// A CSV column to leave out (the target, when the file has one).
    public var target: String?

    /// Options for one model and input file.
    public init(model: String, input: String) { self.model = model; self.input = input }
}

/// One example's prediction.
public struct Prediction: Sendable, Equatable {
    /// Row or image index in the input.
    public var index: Int
    /// The predicted class index (classification).
    public var label: Int?
    /// Its name.
    public var className: String?
    /// Every class's probability (classification).
    public var probabilities: [Double]
    /// The predicted values (regression).
    public var values: [Double]
    /// The image file predicted (image inputs).
    public var file: String? = nil
}

/// `ember predict`: a saved model applied to new inputs, prepared as in training.
public enum PredictRunner {
    /// Predicts and prints a table or JSON.
    @discardableResult
    public static func run(_ o: PredictOptions, console: Console) throws -> [Prediction] {
        let loaded = try SavedModel.load(from: o.model)
        let paths = [o.input] + o.additionalInputs
        var raw: Tensor
        var files: [String]?
        if paths.contains(where: isImagePath) {
            guard let image = imageInput(loaded.saved) else {
                throw CLIError("\(paths.first(where: isImagePath)!): an image, but this model takes \(loaded.saved.input.rawShape) values per example, "
                               + "not an image (it was not trained on images)")
            }
            var list = try imageFiles(paths)
            if let n = o.limit, n < list.count { list = Array(list.prefix(Swift.max(n, 0))) }
            raw = stack(try list.map { try image.read($0) })
            files = list
        } else {
            guard o.additionalInputs.isEmpty else {
                throw CLIError("several inputs can only be image files or folders of them; got \(paths.joined(separator: ", "))")
            }
            raw = try readInputs(o.input, saved: loaded.saved, target: o.target)
        }
        if let n = o.limit, n < raw.shape[0] { raw = raw.slice(axis: 0, start: 0, end: Swift.max(n, 0)) }
        let out = try loaded.outputs(raw: raw)
        var predictions = predictions(out, saved: loaded.saved)
        if let files { for i in predictions.indices { predictions[i].file = files[i] } }
        if o.json {
            console.line(JSONValue.array(predictions.map { json($0, saved: loaded.saved) }).rendered())
        } else {
            console.write(table(predictions, saved: loaded.saved, all: o.probabilities))
        }
        return predictions
    }

    /// Whether `path` names an image file (by its extension) or a folder (of images).
    static func isImagePath(_ path: String) -> Bool {
        var dir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &dir), dir.boolValue { return true }
        return ImageFormat.fileExtensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// How the model takes an image file: as saved by a `data.images` run, or for other runs on 8-bit images
    /// `[1 or 3, H, W]` (built-in image sets) the file converted and resized (Pillow's bilinear) to that shape.
    static func imageInput(_ saved: SavedModel) -> InputPipeline.ImageInput? {
        if let image = saved.input.image { return image }
        let r = saved.input.rawShape
        guard saved.input.byteImages, r.count == 3, r[0] == 1 || r[0] == 3 else { return nil }
        return InputPipeline.ImageInput(channels: r[0], height: r[1], width: r[2], filter: .bilinear)
    }

    /// The image files `paths` name: files as given, folders searched recursively (sorted by path).
    static func imageFiles(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            var dir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &dir) else { throw CLIError("\(p): no such file") }
            guard dir.boolValue else { out.append(p); continue }
            var found: [String] = []
            if let walker = FileManager.default.enumerator(at: URL(fileURLWithPath: p), includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) {
                for case let url as URL in walker where ImageFormat.fileExtensions.contains(url.pathExtension.lowercased()) {
                    found.append(url.path)
                }
            }
            guard !found.isEmpty else {
                throw CLIError("\(p): no image files (\(ImageFormat.fileExtensions.sorted().joined(separator: ", "))) in this folder")
            }
            out += found.sorted()
        }
        return out
    }

    /// Raw inputs from a CSV, IDX or npy file, shaped `[N] + rawShape`.
    static func readInputs(_ path: String, saved: SavedModel, target: String? = nil) throws -> Tensor {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path): no such file") }
        let want = saved.input.featureCount
        let x: Tensor
        switch inferFormat(path) {
        case .csv?:
            let table = try CSVTable(path: path)
            x = try table.tensor(columns: try featureColumns(table, saved: saved, target: target))
        case .idx?:
            x = try IDXReader.read(path: path).tensor(dtype: .float32)
        case .npy?:
            x = try NPYArray(path: path).tensor().cast(.float32)
        case .npz?:
            // the inputs array: `x` (as `ember train` reads), else the archive's only array
            let archive = try NPZArchive(path: path)
            let name = archive.names.contains("x") ? "x" : archive.names.count == 1 ? archive.names[0] : nil
            guard let name else {
                throw CLIError("\(path): expected an array named 'x' (or a single array) in the archive, found \(archive.names)")
            }
            x = try archive.array(name).tensor().cast(.float32)
        case nil:
            throw CLIError("\(path): expected a .csv, .npy, .npz or IDX (*-ubyte, *.idx, optionally .gz) file")
        }
        guard x.rank >= 1, Array(x.shape.dropFirst()).reduce(1, *) == want else {
            throw CLIError("\(path): examples of shape \(Array(x.shape.dropFirst())), but the model takes \(want) values each "
                           + "(\(saved.input.rawShape))")
        }
        return x.reshaped([x.shape[0]] + saved.input.rawShape)
    }

    /// The CSV columns that hold the model's features: the training feature names when the file has them all,
    /// else every numeric column but the target, in file order.
    static func featureColumns(_ table: CSVTable, saved: SavedModel, target: String?) throws -> [String] {
        let names = saved.input.featureNames, want = saved.input.featureCount
        let present = Set(table.columnNames)
        if !names.isEmpty && names.allSatisfy(present.contains) { return names }
        let skip = target ?? saved.target
        if let skip { _ = try table.columnIndex(skip) }
        let columns = table.columnNames.enumerated().filter { table.columns[$0.offset].type == .numeric && $0.element != skip }
            .map(\.element)
        guard columns.count == want else {
            throw CLIError("\(table.path): \(columns.count) numeric columns\(skip.map { " besides '\($0)'" } ?? ""), "
                           + "but the model takes \(want) features"
                           + (names.isEmpty ? "" : " (\(names.prefix(4).joined(separator: ", "))\(names.count > 4 ? ", ..." : ""))")
                           + (skip == nil && columns.count == want + 1 ? "; name the target column to leave out with --target" : ""))
        }
        return columns
    }

    /// Predictions from model outputs `[N, outputs]`: softmax probabilities and the best class (classification), or
    /// the values (regression). Shared by `ember predict` and `ember serve`.
    public static func predictions(_ out: Tensor, saved: SavedModel) -> [Prediction] {
        let n = out.shape[0]
        if saved.task == .classification {
            let probs = withoutGrad { out.softmax(axis: -1) }.cast(.float64).toArray(Double.self)
            let k = saved.classes.count
            return (0..<n).map { i in
                let p = Array(probs[(i * k)..<((i + 1) * k)])
                let best = p.indices.max { p[$0] < p[$1] } ?? 0
                return Prediction(index: i, label: best, className: saved.classes[best], probabilities: p, values: [])
            }
        }
        let k = out.count / Swift.max(n, 1)
        let v = out.cast(.float64).toArray(Double.self)
        return (0..<n).map { Prediction(index: $0, label: nil, className: nil, probabilities: [], values: Array(v[($0 * k)..<(($0 + 1) * k)])) }
    }

    /// One prediction as `ember predict --json` prints it (class, label, probability, probabilities; or value(s)).
    public static func json(_ p: Prediction, saved: SavedModel) -> JSONValue {
        let file: [(String, JSONValue)] = p.file.map { [("file", .string($0))] } ?? []
        if let label = p.label {
            return .object([("index", .number(Double(p.index)))] + file + [("class", .string(p.className ?? "")), ("label", .number(Double(label))),
                            ("probability", .number(p.probabilities[label])),
                            ("probabilities", .object(zip(saved.classes, p.probabilities).map { ($0, .number($1)) }))])
        }
        return .object([("index", .number(Double(p.index)))] + file + [
                        p.values.count == 1 ? ("value", .number(p.values[0])) : ("values", .array(p.values.map { .number($0) }))])
    }

    static func table(_ ps: [Prediction], saved: SavedModel, all: Bool) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines: [String] = []
        if saved.task == .classification {
            let w = Swift.max(5, saved.classes.map(\.count).max() ?? 0)
            let fw = ps.compactMap { $0.file.map { ($0 as NSString).lastPathComponent.count } }.max().map { Swift.max($0, 4) + 2 } ?? 0
            var head = pad("#", 6) + (fw > 0 ? pad("file", fw) : "") + pad("class", w) + "  probability"
            if all { head += "  " + saved.classes.map { pad($0, Swift.max(6, $0.count)) }.joined(separator: " ") }
            lines.append(head)
            for p in ps {
                var line = pad("\(p.index)", 6) + (fw > 0 ? pad(p.file.map { ($0 as NSString).lastPathComponent } ?? "", fw) : "")
                    + pad(p.className ?? "", w) + String(format: "  %11.4f", p.probabilities[p.label!])
                if all {
                    line += "  " + zip(saved.classes, p.probabilities).map { pad(String(format: "%.4f", $1), Swift.max(6, $0.count)) }
                        .joined(separator: " ")
                }
                lines.append(line)
            }
        } else {
            lines.append(pad("#", 6) + "value")
            for p in ps { lines.append(pad("\(p.index)", 6) + p.values.map { String(format: "%.6g", $0) }.joined(separator: " ")) }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
