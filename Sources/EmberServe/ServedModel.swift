import EmberCLI
import Foundation

/// A run directory loaded for serving: the rebuilt network, its saved input preparation and class names, and the
/// Open Inference Protocol description of its one input and its outputs.
///
/// Inputs are *raw* examples, as `ember predict` takes them (CSV feature values, 8-bit pixel values): the saved
/// preparation (scaling, fitted scalers, reshaping) is applied here, and predictions come from
/// ``PredictRunner/predictions(_:saved:)``, the code behind `ember predict`.
public final class ServedModel: @unchecked Sendable {
    /// The name clients use in URLs (`/v2/models/{name}`).
    public let name: String
    /// The loaded run.
    public let loaded: LoadedModel
    /// Seconds it took to read and rebuild the model.
    public let loadSeconds: Double
    /// When it was loaded.
    public let loadedAt: Date
    /// Inference is serialized per model (one batch at a time, on the model's batcher thread); this lock also guards
    /// direct calls from other threads.
    private let lock = NSLock()

    /// Loads the run directory at `path` (or `model.json` itself), named `name` (default: the run's saved name).
    /// - Throws: `CLIError` naming the file and what is wrong with it.
    public init(path: String, name: String? = nil) throws {
        let start = Date()
        loaded = try SavedModel.load(from: path)
        loadSeconds = Date().timeIntervalSince(start)
        loadedAt = Date()
        self.name = name ?? ServedModel.urlName(loaded.saved.name)
        // Worked out once: each of these walks the saved architecture or preparation, and requests read them.
        let saved = loaded.saved
        rawShape = saved.input.rawShape
        featureCount = saved.input.featureCount
        byteImages = saved.input.byteImages
        let k = saved.architecture.outputShape.reduce(1, *)
        outputs = saved.task == .classification ? [("probabilities", .fp32, [-1, k]), ("label", .int64, [-1]), ("class", .bytes, [-1])]
                                                : [("values", .fp32, [-1, k])]
        var shapes = [rawShape]
        if rawShape != [featureCount] { shapes.append([featureCount]) }
        let prepared = saved.input.shape
        if !shapes.contains(prepared), prepared.reduce(1, *) == featureCount { shapes.append(prepared) }
        acceptedExampleShapes = shapes
        classes = saved.classes
    }

    /// A name safe in a URL path segment: letters, digits, `.`, `_` and `-` (others become `-`).
    public static func urlName(_ s: String) -> String {
        let ok = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let mapped = String(s.map { ok.contains($0) ? $0 : "-" })
        return mapped.isEmpty || mapped == "." || mapped == ".." ? "model" : mapped
    }

    /// The saved model description.
    public var saved: SavedModel { loaded.saved }
    /// One raw example's shape (`[64]`, `[1, 28, 28]`).
    public let rawShape: [Int]
    /// Values per raw example.
    public let featureCount: Int
    /// Whether the model was trained on 8-bit pixel values (its input's natural datatype is then `UINT8`).
    public let byteImages: Bool
    /// The class names (classification).
    public let classes: [String]
    /// The datatype announced for the input: `UINT8` for 8-bit images, else `FP32` (every numeric datatype is
    /// accepted and converted).
    public var inputDatatype: TensorDatatype { byteImages ? .uint8 : .fp32 }
    /// The input tensor's name.
    public static let inputName = "input"

    /// The outputs this model returns: `probabilities` (FP32 [N, classes]), `label` (INT64 [N]) and `class`
    /// (BYTES [N]) for classification; `values` (FP32 [N, outputs]) for regression.
    public let outputs: [(name: String, datatype: TensorDatatype, shape: [Int])]

    /// The trailing shapes accepted for a batch of examples: `rawShape`, the flat feature count, and the model's
    /// prepared shape when it holds the same values.
    public let acceptedExampleShapes: [[Int]]

    /// The number of examples in a tensor of `shape`, or a 400 naming `field` when the shape does not fit.
    func exampleCount(shape: [Int], field: String) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ServeError.badRequest(field, "sizes must not be negative, got \(shape)") }
        if shape.count >= 2, acceptedExampleShapes.contains(Array(shape.dropFirst())) { return shape[0] }
        let forms = acceptedExampleShapes.map { "[N, " + $0.map(String.init).joined(separator: ", ") + "]" }
        throw ServeError.badRequest(field, "expected \(forms.joined(separator: " or ")), got \(shape)")
    }

    /// Predictions for `count` raw examples whose values (`count * featureCount` of them) lie in `values`, in order.
    /// Runs without recording gradients (``LoadedModel/outputs(raw:batchSize:)`` runs under `withoutGrad`).
    /// `threads` sets the threads Ember's kernels use for it (nil: the process-wide setting).
    public func predict(_ values: [Float], count: Int, threads: Int? = nil) throws -> [Prediction] {
        precondition(values.count == count * featureCount, "predict: \(values.count) values for \(count) examples of \(featureCount)")
        guard count > 0 else { return [] }
        if let threads { return try Threading.withThreads(threads) { try predictLocked(values, count: count) } }
        return try predictLocked(values, count: count)
    }

    private func predictLocked(_ values: [Float], count: Int) throws -> [Prediction] {
        lock.lock()
        defer { lock.unlock() }
        let raw = Tensor(values, shape: [count] + rawShape)
        let out = try loaded.outputs(raw: raw, batchSize: Swift.max(count, 1))
        return PredictRunner.predictions(out, saved: saved)
    }

    /// The largest raw value of one pixel for the page's drawing canvas and image upload: 255 for 8-bit images, 16
    /// for the bundled `digits` (0...16), else 1.
    public var pixelMax: Double {
        if byteImages { return 255 }
        if saved.provenance.dataset == "digits" { return 16 }
        return 1
    }
}

/// The Open Inference Protocol's tensor datatypes.
public enum TensorDatatype: String, Sendable, CaseIterable {
    /// Booleans (not accepted as model input).
    case bool = "BOOL"
    /// Unsigned integers of 8, 16, 32 and 64 bits.
    case uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
    /// Signed integers of 8, 16, 32 and 64 bits.
    case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
    /// IEEE floating point of 16, 32 and 64 bits.
    case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64"
    /// Byte strings (class names in responses; not accepted as model input).
    case bytes = "BYTES"

    /// Bytes per element in the binary tensor data extension (nil for BYTES, whose elements carry their length).
    public var elementSize: Int? {
        switch self {
        case .bool, .uint8, .int8: return 1
        case .uint16, .int16, .fp16: return 2
        case .uint32, .int32, .fp32: return 4
        case .uint64, .int64, .fp64: return 8
        case .bytes: return nil
        }
    }

    /// The datatypes a model input accepts (converted to 32-bit floats).
    public static let numeric: [TensorDatatype] = [.uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64, .fp16, .fp32, .fp64]

    /// The range of whole numbers an integer datatype holds (nil for floating point).
    var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: return 0...255
        case .uint16: return 0...65535
        case .uint32: return 0...4_294_967_295
        case .uint64: return 0...Double(UInt64.max)
        case .int8: return -128...127
        case .int16: return -32768...32767
        case .int32: return -2_147_483_648...2_147_483_647
        case .int64: return Double(Int64.min)...Double(Int64.max)
        default: return nil
        }
    }

    /// Converts little-endian binary elements to floats; `field` names the input in errors.
    func floats(_ bytes: UnsafeRawBufferPointer, count: Int, field: String) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
        switch self {
        case .uint8: for i in 0..<count { out[i] = Float(bytes[i]) }
        case .int8: for i in 0..<count { out[i] = Float(Int8(bitPattern: bytes[i])) }
        case .uint16: for i in 0..<count { out[i] = Float(load(UInt16.self, i)) }
        case .int16: for i in 0..<count { out[i] = Float(load(Int16.self, i)) }
        case .uint32: for i in 0..<count { out[i] = Float(load(UInt32.self, i)) }
        case .int32: for i in 0..<count { out[i] = Float(load(Int32.self, i)) }
        case .uint64: for i in 0..<count { out[i] = Float(load(UInt64.self, i)) }
        case .int64: for i in 0..<count { out[i] = Float(load(Int64.self, i)) }
        case .fp16:
            for i in 0..<count { out[i] = Self.halfToFloat(load(UInt16.self, i)) }
        case .fp32: for i in 0..<count { out[i] = Float(bitPattern: load(UInt32.self, i)) }
        case .fp64: for i in 0..<count { out[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
        case .bool, .bytes: throw ServeError.badRequest(field, "\(rawValue) is not a numeric datatype")
        }
        if let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw ServeError.badRequest(field, "element \(bad) is not a finite number")
        }
        return out
    }

    /// IEEE 754 half precision bits as a float (portable: no `Float16` type needed).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F), frac = UInt32(h & 0x3FF)
        if exp == 0 { let v = Float(frac) / 16_777_216; return sign != 0 ? -v : v }  // subnormal: frac * 2^-24
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (frac << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (frac << 13))
    }
}
