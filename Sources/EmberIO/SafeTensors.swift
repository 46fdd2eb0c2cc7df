@_exported import EmberCore
import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian row-major data.
///
/// Ember writes tensors sorted by alignment then name, pads the header to a multiple of 8 and writes atomically.
/// Reading validates everything the official reader checks and throws `FileFormatError` naming the file and problem.
///
/// Dtypes: F32, F64, F16, BF16, I32, I64, U8 and BOOL, read and written as stored. Hugging Face checkpoints are
/// mostly F16 or BF16; to run one in a float32 model, convert on reading (bit for bit what PyTorch's `t.float()`
/// gives):
///
/// ```swift
/// let (weights, _) = try SafeTensors.read(from: url, convertingTo: .float32)
/// try model.loadStateDict(weights)
/// ```
public enum SafeTensors {
    static func code(_ d: DType) -> String {
        switch d {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int32: return "I32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        case .uint8: return "U8"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        }
    }

    static func dtype(_ s: String) -> DType? {
        switch s {
        case "F32": return .float32
        case "F64": return .float64
        case "I32": return .int32
        case "I64": return .int64
        case "BOOL": return .bool
        case "U8": return .uint8
        case "F16": return .float16
        case "BF16": return .bfloat16
        default: return nil
        }
    }

    /// Serializes named tensors (names must be unique) and string metadata.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) -> Data {
        precondition(Set(tensors.map(\.0)).count == tensors.count, "SafeTensors.encode: duplicate tensor names")
        let ordered = tensors.sorted { a, b in
            a.1.dtype.byteSize != b.1.dtype.byteSize ? a.1.dtype.byteSize > b.1.dtype.byteSize : a.0 < b.0
        }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var body = Data()
        for (name, t) in ordered {
            let c = t.contiguous()
            let bytes = c.count * c.dtype.byteSize
            header[name] = ["dtype": code(c.dtype), "shape": c.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            if bytes > 0 { c.withHostBytes { body.append(Data(bytes: $0, count: bytes)) } }
            offset += bytes
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Writes named tensors to `url` atomically.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: url)
    }

    /// Reads every tensor and the metadata from `url`, each tensor in the dtype the file stores.
    public static func read(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileFormatError.io(path: url.path, reason: "cannot read: \(fileSystemReason(error, path: url.path))")
        }
        return try decode(data, path: url.path)
    }

    /// Reads every tensor and the metadata from `url`, converting each floating-point tensor (F16, BF16, F32, F64)
    /// to `dtype` (a float dtype) as `Tensor.cast` does: float16/bfloat16 to float32 is exact, equal bit for bit to
    /// PyTorch's `t.float()`. Integer and bool tensors (token ids, step counters, masks) keep their dtype.
    public static func read(from url: URL, convertingTo dtype: DType) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        precondition(dtype.isFloatingPoint, "SafeTensors.read(from:convertingTo:): \(dtype) is not a float dtype")
        let (tensors, metadata) = try read(from: url)
        return (tensors.mapValues { t in t.dtype.isFloatingPoint ? t.cast(dtype) : t }, metadata)
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func bad(_ r: String) -> FileFormatError { .invalid(path: path, reason: r) }
        guard data.count >= 8 else { throw bad("file is \(data.count) bytes; a safetensors file starts with an 8-byte header length") }
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard n <= 100_000_000 else {
            throw bad("header length \(n) is over the 100,000,000 bytes a safetensors header may have (not a safetensors file?)")
        }
        guard 8 + Int(n) <= data.count else {
            throw bad("header length \(n) exceeds the file size \(data.count) (truncated or not a safetensors file)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(n)))
        guard let obj = try? JSONSerialization.jsonObject(with: headerData), let header = obj as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let mm = m as? [String: Any] else { throw bad("__metadata__ must be an object of strings") }
            for (k, v) in mm {
                guard let s = v as? String else { throw bad("__metadata__ value for '\(k)' must be a string") }
                metadata[k] = s
            }
        }
        let base = 8 + Int(n)
        let bodyCount = data.count - base
        var spans: [(Int, Int, String)] = []
        var tensors: [String: Tensor] = [:]
        for (name, v) in header where name != "__metadata__" {
            guard let entry = v as? [String: Any], let ds = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offs = entry["data_offsets"] as? [Int], offs.count == 2 else {
                throw bad("tensor '\(name)': expected {dtype, shape, data_offsets: [begin, end]}")
            }
            guard let dt = dtype(ds) else { throw bad("tensor '\(name)': dtype \(ds) is not supported (F32, F64, F16, BF16, I32, I64, U8, BOOL)") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw bad("tensor '\(name)': negative dimension in shape \(shape)") }
            // Overflow-checked sizes: the product of the dimensions (a zero one counted as 1, as the strides of an
            // empty tensor count it) must fit in Int, and so must the byte size.
            var product = 1
            for d in shape {
                let (p, overflow) = product.multipliedReportingOverflow(by: Swift.max(d, 1))
                guard !overflow else { throw bad("tensor '\(name)': shape \(shape) has more elements than a 64-bit count holds") }
                product = p
            }
            let count = shape.contains(0) ? 0 : product
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: dt.byteSize)
            guard !overflow else {
                throw bad("tensor '\(name)': \(count) \(ds) elements (shape \(shape)) are more bytes than a 64-bit size holds")
            }
            guard offs[0] >= 0, offs[1] >= offs[0], offs[1] - offs[0] == byteCount else {
                throw bad("tensor '\(name)': byte range \(offs) does not hold \(count) \(ds) elements of shape \(shape)")
            }
            guard offs[1] <= bodyCount else { throw bad("tensor '\(name)': byte range \(offs) runs past the end of the data (\(bodyCount) bytes)") }
            spans.append((offs[0], offs[1], name))
            // checked in the file's bytes, then uploaded through the backend
            let t = try data.withUnsafeBytes { raw -> Tensor in
                let slice = UnsafeRawBufferPointer(rebasing: raw[(base + offs[0])..<(base + offs[1])])
                if dt == .bool, let i = slice.firstIndex(where: { $0 > 1 }) {
                    throw bad("tensor '\(name)': BOOL element \(i) is \(slice[i]), not 0 or 1")
                }
                return Tensor(rawBytes: slice, shape: shape, dtype: dt)
            }
            tensors[name] = t
        }
        spans.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var expected = 0
        for (b, e, name) in spans {
            guard b == expected else { throw bad("tensor '\(name)' starts at byte \(b), expected \(expected) (gap or overlap)") }
            expected = e
        }
        guard expected == bodyCount else { throw bad("data section is \(bodyCount) bytes but tensors cover \(expected)") }
        return (tensors, metadata)
    }
}
