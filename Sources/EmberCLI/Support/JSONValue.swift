import Foundation

/// A JSON value with ordered object keys, for files people read (`metrics.json`) and `--json` output.
public indirect enum JSONValue: Equatable, Sendable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A number (non-finite numbers are written as `null`).
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, keys in the order given.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered(pretty: false) == b.rendered(pretty: false) }

    /// The value at `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }

    /// The number, if this is one.
    public var number: Double? { if case .number(let v) = self { return v }; return nil }

    /// JSON text; `pretty` puts one member per line, indented by two spaces.
    public func rendered(pretty: Bool = true, indent: Int = 0) -> String {
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let end = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        let nl = pretty ? "\n" : ""
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let v):
            guard v.isFinite else { return "null" }
            if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
            return "\(v)"
        case .string(let s): return jsonQuoted(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            // Arrays of scalars stay on one line (confusion-matrix rows, shapes).
            if items.allSatisfy({ if case .array = $0 { return false }; if case .object = $0 { return false }; return true }) {
                return "[" + items.map { $0.rendered(pretty: false) }.joined(separator: ", ") + "]"
            }
            return "[" + nl + items.map { pad + $0.rendered(pretty: pretty, indent: indent + 1) }.joined(separator: "," + nl) + end + "]"
        case .object(let kv):
            if kv.isEmpty { return "{}" }
            let sep = pretty ? ": " : ":"
            return "{" + nl + kv.map { pad + jsonQuoted($0.0) + sep + $0.1.rendered(pretty: pretty, indent: indent + 1) }
                .joined(separator: "," + nl) + end + "}"
        }
    }

    /// A value decoded from JSON data (object keys in sorted order).
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }
}

extension JSONValue: Decodable {
    /// Decodes any JSON value.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else {
            let d = try c.decode([String: JSONValue].self)
            self = .object(d.keys.sorted().map { ($0, d[$0]!) })
        }
    }
}
