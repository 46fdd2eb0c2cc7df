import EmberCore
import EmberData
import Foundation

/// How scalars are stored in event files.
public enum ScalarStyle: Sendable {
    /// A rank-0 float tensor with the "scalars" plugin metadata: what current TensorBoard writes and reads.
    case tensor
    /// The legacy `simple_value` field (read by every TensorBoard version).
    case simpleValue
}

/// Writes TensorBoard event files: scalars, histograms and images, readable by TensorBoard's own reader.
///
/// One writer owns one file, `<logDirectory>/events.out.tfevents.<seconds>.<host>.<pid>.<n>`; point
/// `tensorboard --logdir` at the folder above `logDirectory` to compare runs. Records are buffered and written on
/// `flush()` (also every MiB and on `close()`/deinit).
///
/// ```swift
/// let tb = try TensorBoardWriter(logDirectory: URL(fileURLWithPath: "runs/net"))
/// try tb.addScalar("train/loss", 0.25, step: 10)
/// try tb.addHistogram("weights/fc.weight", model.fc.weight, step: 1)
/// try tb.addImage("samples", RasterImage(tensor: x, layout: .chw), step: 1)
/// try tb.close()
/// ```
public final class TensorBoardWriter {
    /// The run folder holding the event file.
    public let logDirectory: URL
    /// The event file being written.
    public var fileURL: URL { file.url }
    /// How `addScalar` stores values unless told otherwise.
    public var scalarStyle: ScalarStyle
    private let file: EventFile

    /// Creates the folder and a new event file in it, starting with the `brain.Event:2` version record.
    /// - Parameter filenameSuffix: appended to the file name (TensorBoard only needs "tfevents" in it).
    public init(logDirectory: URL, scalarStyle: ScalarStyle = .tensor, filenameSuffix: String = "") throws {
        self.logDirectory = logDirectory
        self.scalarStyle = scalarStyle
        let secs = Int(Date().timeIntervalSince1970)
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        let name = "events.out.tfevents.\(secs).\(host).\(getpid()).\(FileCounter.next())\(filenameSuffix)"
        file = try EventFile(url: logDirectory.appendingPathComponent(name))
        var e = Self.event(step: 0, wallTime: nil)
        e.string(3, "brain.Event:2")
        try file.append(e.bytes)
        try file.flush()
    }

    // MARK: scalars

    /// Logs one scalar value at `step`.
    public func addScalar(_ tag: String, _ value: Double, step: Int, style: ScalarStyle? = nil, wallTime: Double? = nil) throws {
        try write(step: step, wallTime: wallTime, values: [Self.scalarValue(tag, value, style: style ?? scalarStyle)])
    }

    /// Logs several scalars at one step, in one event (tags in sorted order).
    public func addScalars(_ values: [String: Double], step: Int, style: ScalarStyle? = nil) throws {
        guard !values.isEmpty else { return }
        try write(step: step, wallTime: nil, values: values.sorted { $0.key < $1.key }.map {
            Self.scalarValue($0.key, $0.value, style: style ?? scalarStyle)
        })
    }

    static func scalarValue(_ tag: String, _ value: Double, style: ScalarStyle) -> ProtoWriter {
        var v = ProtoWriter()
        v.string(1, tag)
        switch style {
        case .simpleValue:
            v.float(2, Float(value))
        case .tensor:
            var plugin = ProtoWriter()
            plugin.string(1, "scalars")
            var meta = ProtoWriter()
            meta.message(1, plugin)
            meta.varint(4, 1)  // DATA_CLASS_SCALAR
            var tensor = ProtoWriter()
            tensor.varint(1, 1)  // DT_FLOAT
            tensor.message(2, ProtoWriter())  // shape [] (a scalar)
            tensor.packedFloats(5, [Float(value)])
            v.message(9, meta)
            v.message(8, tensor)
        }
        return v
    }

    // MARK: histograms

    /// Logs a histogram of `values` with `bins` equal-width buckets (non-finite values are left out).
    public func addHistogram(_ tag: String, values: [Double], step: Int, bins: Int = 30) throws {
        try addHistogram(tag, SummaryHistogram(values, bins: bins), step: step)
    }

    /// Logs a histogram of a tensor's elements (e.g. a weight or its gradient).
    public func addHistogram(_ tag: String, _ tensor: Tensor, step: Int, bins: Int = 30) throws {
        try addHistogram(tag, SummaryHistogram(tensor.toArray(Double.self), bins: bins), step: step)
    }

    /// Logs a prepared histogram. An empty one (no finite values) is skipped.
    public func addHistogram(_ tag: String, _ histogram: SummaryHistogram, step: Int) throws {
        guard histogram.count > 0 else { return }
        try write(step: step, wallTime: nil, values: [Self.histogramValue(tag, histogram)])
    }

    static func histogramValue(_ tag: String, _ histogram: SummaryHistogram) -> ProtoWriter {
        var h = ProtoWriter()
        h.double(1, histogram.min)
        h.double(2, histogram.max)
        h.double(3, Double(histogram.count))
        h.double(4, histogram.sum)
        h.double(5, histogram.sumSquares)
        h.packedDoubles(6, histogram.bucketLimits)
        h.packedDoubles(7, histogram.bucketCounts)
        var v = ProtoWriter()
        v.string(1, tag)
        v.message(5, h)
        return v
    }

    // MARK: images

    /// Logs an image (stored as PNG).
    public func addImage(_ tag: String, _ image: RasterImage, step: Int) throws {
        var img = ProtoWriter()
        img.varint(1, Int64(image.height))
        img.varint(2, Int64(image.width))
        img.varint(3, Int64(image.channels))  // colorspace: 1 gray, 3 RGB, 4 RGBA
        img.bytes(4, try image.pngData())
        var v = ProtoWriter()
        v.string(1, tag)
        v.message(4, img)
        try write(step: step, wallTime: nil, values: [v])
    }

    // MARK: file

    /// Writes buffered records to disk.
    public func flush() throws { try file.flush() }

    /// Flushes and closes the file; later calls to `add...` are programmer errors.
    public func close() throws { try file.close() }

    static func event(step: Int, wallTime: Double?) -> ProtoWriter {
        var e = ProtoWriter()
        e.double(1, wallTime ?? Date().timeIntervalSince1970)
        e.varint(2, Int64(step))
        return e
    }

    func write(step: Int, wallTime: Double?, values: [ProtoWriter]) throws {
        var summary = ProtoWriter()
        for v in values { summary.message(1, v) }
        var e = Self.event(step: step, wallTime: wallTime)
        e.message(5, summary)
        try file.append(e.bytes)
    }
}

/// The distinct suffix TensorBoard file names get within one process.
enum FileCounter {
    private static let state = CounterBox()
    static func next() -> Int { state.next() }
    private final class CounterBox: @unchecked Sendable {
        let lock = NSLock()
        var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value - 1 }
    }
}

/// A histogram in TensorBoard's form: bucket `i` counts the values in `(bucketLimits[i-1], bucketLimits[i]]`
/// (the first bucket's left edge is the minimum), plus min, max, count, sum and sum of squares.
public struct SummaryHistogram: Sendable, Equatable {
    /// Smallest and largest finite value, their sum and sum of squares.
    public var min: Double, max: Double, sum: Double, sumSquares: Double
    /// Finite values counted.
    public var count: Int
    /// Right edges of the buckets, increasing.
    public var bucketLimits: [Double]
    /// Values per bucket.
    public var bucketCounts: [Double]

    /// A histogram from precomputed parts (`bucketLimits` and `bucketCounts` of equal length).
    public init(min: Double, max: Double, count: Int, sum: Double, sumSquares: Double, bucketLimits: [Double], bucketCounts: [Double]) {
        precondition(bucketLimits.count == bucketCounts.count, "SummaryHistogram: \(bucketLimits.count) limits for \(bucketCounts.count) counts")
        self.min = min; self.max = max; self.count = count; self.sum = sum; self.sumSquares = sumSquares
        self.bucketLimits = bucketLimits; self.bucketCounts = bucketCounts
    }

    /// Equal-width buckets from the minimum to the maximum of the finite `values`; one bucket when all are equal.
    public init(_ values: [Double], bins: Int = 30) {
        precondition(bins > 0, "SummaryHistogram: bins must be positive, got \(bins)")
        let finite = values.filter(\.isFinite)
        count = finite.count
        sum = finite.reduce(0, +)
        sumSquares = finite.reduce(0) { $0 + $1 * $1 }
        min = finite.min() ?? 0
        max = finite.max() ?? 0
        guard !finite.isEmpty else { bucketLimits = []; bucketCounts = []; return }
        if min == max {
            bucketLimits = [max]
            bucketCounts = [Double(count)]
            return
        }
        let width = (max - min) / Double(bins)
        let lo = min, hi = max
        let limits = (1...bins).map { $0 == bins ? hi : lo + width * Double($0) }
        bucketLimits = limits
        var counts = [Double](repeating: 0, count: bins)
        for v in finite {
            // Right-closed buckets: a value on an edge belongs to the bucket on its left.
            var i = Int(((v - lo) / width).rounded(.up)) - 1
            i = Swift.min(Swift.max(i, 0), bins - 1)
            if i > 0 && v <= limits[i - 1] { i -= 1 }
            if i < bins - 1 && v > limits[i] { i += 1 }
            counts[i] += 1
        }
        bucketCounts = counts
    }
}
