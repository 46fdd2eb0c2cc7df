import Foundation

/// A minimal protocol-buffers wire-format encoder: just what TensorBoard's `Event`, `Summary`, `HistogramProto`
/// and `TensorProto` messages need. Fields are appended in the order they are written; a nested message is encoded
/// into its own `ProtoWriter` and then added with `message(_:_:)`.
///
/// ```swift
/// var w = ProtoWriter()
/// w.double(1, 1.5)          // field 1, wire type 1 (fixed64)
/// w.string(3, "brain.Event:2")
/// let bytes: [UInt8] = w.bytes
/// ```
public struct ProtoWriter: Sendable {
    /// The encoded bytes so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty message.
    public init() {}

    /// Wire types of the protobuf encoding.
    enum WireType: UInt64 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    /// Appends `value` as a base-128 varint (negative values take ten bytes, as int64 does on the wire).
    public mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ type: WireType) {
        precondition(field > 0, "ProtoWriter: field numbers start at 1, got \(field)")
        rawVarint(UInt64(field) << 3 | type.rawValue)
    }

    /// An `int32`/`int64`/`uint64`/`bool`/`enum` field.
    public mutating func varint(_ field: Int, _ value: Int64) {
        key(field, .varint)
        rawVarint(UInt64(bitPattern: value))
    }

    /// A `double` field (fixed64, little-endian).
    public mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        appendLE(value.bitPattern)
    }

    /// A `float` field (fixed32, little-endian).
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        appendLE(value.bitPattern)
    }

    /// A `bytes` field.
    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        rawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    /// A nested message field.
    public mutating func message(_ field: Int, _ value: ProtoWriter) { bytes(field, value.bytes) }

    /// A packed `repeated double` field.
    public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        var payload = ProtoWriter()
        payload.bytes.reserveCapacity(values.count * 8)
        for v in values { payload.appendLE(v.bitPattern) }
        bytes(field, payload.bytes)
    }

    /// A packed `repeated float` field.
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var payload = ProtoWriter()
        payload.bytes.reserveCapacity(values.count * 4)
        for v in values { payload.appendLE(v.bitPattern) }
        bytes(field, payload.bytes)
    }

    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
