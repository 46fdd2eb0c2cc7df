import Foundation
import Yams

/// Bounds on what configs, data files and `model.json` may ask for: far above any real use, far below what would
/// overflow an `Int` or exhaust memory before anything useful happens.
public enum ConfigLimits {
    /// The largest integer a config key takes (2^31 - 1), unless the key says otherwise.
    public static let maxInt = Int(Int32.max)
    /// The largest size of one dimension: features, channels, kernel, stride, padding, pooling size (2^24).
    public static let maxSize = 1 << 24
    /// The most values one example may have, at any layer (2^28).
    public static let maxExampleElements = 1 << 28
    /// The most parameters a model may have (2^28, 1 GiB of float32 weights).
    public static let maxParameters = 1 << 28
    /// The most classes a classification task may have.
    public static let maxClasses = 100_000
    /// The most epochs.
    public static let maxEpochs = 1_000_000
    /// The most threads `--threads` takes.
    public static let maxThreads = 4096

    /// The product of `dims`, or nil when it overflows or exceeds `limit`.
    public static func product(_ dims: [Int], limit: Int = maxExampleElements) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= limit else { return nil }
            n = p
        }
        return n
    }
}

/// An error in an experiment config: the key path (`training.optimizer.lr`), what was expected there and what was
/// found, with the file and line when known.
///
/// ```
/// digits.yaml, line 12: training.optimizer.lr: expected a number, got "fast"
/// ```
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The dotted key path of the offending value (`data.split.test`, `model.layers[2].out`); empty for the document.
    public var path: String
    /// What was expected and what was found.
    public var message: String
    /// The config file, when the config came from one.
    public var file: String?
    /// The 1-based line of the offending value, when known.
    public var line: Int?

    /// An error at `path`.
    public init(path: String, message: String, file: String? = nil, line: Int? = nil) {
        self.path = path; self.message = message; self.file = file; self.line = line
    }

    /// `file, line N: path: message`.
    public var description: String {
        var prefix = ""
        if let file { prefix = file + (line.map { ", line \($0)" } ?? "") + ": " } else if let line { prefix = "line \(line): " }
        return prefix + (path.isEmpty ? "" : path + ": ") + message
    }
}

/// A value of a parsed config document together with its key path, for typed reads that fail with a `ConfigError`
/// naming the path. The document is a YAML node tree (JSON is YAML too).
struct ConfigValue {
    let node: Node
    let path: String
    let file: String?

    /// The document root of `text`.
    /// - Throws: `ConfigError` for text that is not YAML, or beyond `SafeYAML`'s size, nesting and alias limits.
    static func parse(_ text: String, file: String?) throws -> ConfigValue {
        guard let root = try SafeYAML.compose(text, file: file) else {
            return ConfigValue(node: Node.mapping(Node.Mapping([])), path: "", file: file)
        }
        return ConfigValue(node: root, path: "", file: file)
    }

    func error(_ message: String) -> ConfigError {
        ConfigError(path: path, message: message, file: file, line: node.mark?.line)
    }

    /// `expected X, got Y`.
    func mismatch(_ expected: String) -> ConfigError { error("expected \(expected), got \(found)") }

    /// How the value reads in an error message: a quoted string, a bare number, `a list`, `a mapping`.
    var found: String {
        switch node {
        case .scalar(let s):
            if kind == .str { return jsonQuoted(s.string) }
            if kind == .null { return "nothing (null)" }
            return s.string
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// The value's resolved YAML tag (str, int, float, bool, null, map, seq).
    var kind: Tag.Name { Tag.Name(rawValue: node.tag.description) }

    var isNull: Bool { kind == .null }
    var isMapping: Bool { if case .mapping = node { return true }; return false }
    var isSequence: Bool { if case .sequence = node { return true }; return false }
    var isScalar: Bool { if case .scalar = node { return true }; return false }

    func double() throws -> Double {
        guard case .scalar(let s) = node else { throw mismatch("a number") }
        if kind == .int || kind == .float, let v = node.float { return v }
        // YAML 1.1 reads an unquoted `1e-3` as a string; take it as the number it plainly is.
        if kind == .str, s.style == .plain || s.style == .any, let v = Double(s.string), v.isFinite { return v }
        throw mismatch("a number")
    }

    func double(in range: ClosedRange<Double>, _ what: String? = nil) throws -> Double {
        let v = try double()
        guard range.contains(v) else { throw error("expected \(what ?? "a number in \(range.lowerBound)...\(range.upperBound)"), got \(found)") }
        return v
    }

    func positiveDouble() throws -> Double {
        let v = try double()
        guard v > 0, v.isFinite else { throw mismatch("a positive number") }
        return v
    }

    func int() throws -> Int {
        guard isScalar, kind == .int, let v = node.int else { throw mismatch("an integer") }
        return v
    }

    /// An integer in `minimum...maximum`. The default maximum (`ConfigLimits.maxInt`, 2^31 - 1) keeps sizes and counts
    /// far from overflow; seeds pass `.max`.
    func int(atLeast minimum: Int, atMost maximum: Int = ConfigLimits.maxInt) throws -> Int {
        let v = try int()
        guard v >= minimum else {
            throw mismatch(minimum == 1 ? "a positive integer" : minimum == 0 ? "a non-negative integer" : "an integer >= \(minimum)")
        }
        guard v <= maximum else { throw mismatch("an integer of at most \(maximum)") }
        return v
    }

    func bool() throws -> Bool {
        guard isScalar, kind == .bool, let v = node.bool else { throw mismatch("true or false") }
        return v
    }

    func string() throws -> String {
        guard isScalar, !isNull, case .scalar(let s) = node else { throw mismatch("a string") }
        return s.string
    }

    /// A string that must be one of `choices` (compared case-insensitively, `-` and `_` alike).
    func choice(_ choices: [String], what: String? = nil) throws -> String {
        guard isScalar, !isNull, case .scalar(let s) = node else {
            throw mismatch(what ?? "one of \(choices.joined(separator: ", "))")
        }
        let key = normalizedName(s.string)
        guard let hit = choices.first(where: { normalizedName($0) == key }) else {
            throw mismatch(what ?? "one of \(choices.joined(separator: ", "))")
        }
        return hit
    }

    func list() throws -> [ConfigValue] {
        guard case .sequence(let seq) = node else { throw mismatch("a list") }
        return seq.enumerated().map { ConfigValue(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    /// A list of integers, or a single integer standing for a list of one.
    func intList(atLeast minimum: Int = 1, atMost maximum: Int = ConfigLimits.maxInt) throws -> [Int] {
        if isSequence { return try list().map { try $0.int(atLeast: minimum, atMost: maximum) } }
        guard isScalar, kind == .int else { throw mismatch("an integer or a list of integers") }
        return [try int(atLeast: minimum, atMost: maximum)]
    }

    /// An integer or a pair of integers (`3` or `[3, 5]`), as a pair.
    func pair(atLeast minimum: Int) throws -> [Int] {
        if isSequence {
            let items = try list()
            guard items.count == 2 else { throw mismatch("an integer or a list of two integers") }
            return try items.map { try $0.int(atLeast: minimum) }
        }
        guard isScalar, kind == .int else { throw mismatch("an integer or a list of two integers") }
        let v = try int(atLeast: minimum)
        return [v, v]
    }

    func mapping() throws -> ConfigMapping {
        guard case .mapping(let m) = node else { throw mismatch("a mapping") }
        return try ConfigMapping(self, m)
    }
}

/// The keys of a mapping, read one by one; `finish()` rejects any key that was not read.
final class ConfigMapping {
    let value: ConfigValue
    private var entries: [(key: String, node: Node)] = []
    private var used = Set<String>()

    fileprivate init(_ value: ConfigValue, _ m: Node.Mapping) throws {
        self.value = value
        for (k, v) in m {
            guard case .scalar(let s) = k else {
                throw ConfigError(path: value.path, message: "expected string keys, got a non-string key", file: value.file, line: k.mark?.line)
            }
            if entries.contains(where: { $0.key == s.string }) {
                throw ConfigError(path: join(value.path, s.string), message: "appears twice", file: value.file, line: k.mark?.line)
            }
            entries.append((s.string, v))
        }
    }

    var keys: [String] { entries.map(\.key) }

    /// The value at `key`, or nil when absent (an explicit `null` counts as absent).
    func optional(_ key: String) -> ConfigValue? {
        used.insert(key)
        guard let e = entries.first(where: { $0.key == key }) else { return nil }
        let v = ConfigValue(node: e.node, path: join(value.path, key), file: value.file)
        return v.isNull ? nil : v
    }

    /// The value at `key`; a missing key is an error saying what was expected.
    func required(_ key: String, expected: String) throws -> ConfigValue {
        guard let v = optional(key) else {
            throw ConfigError(path: join(value.path, key), message: "missing; expected \(expected)", file: value.file,
                              line: value.node.mark?.line)
        }
        return v
    }

    /// Marks the `type`/`name` key of a `{type: kind, ...}` entry as read.
    func skipKind() { used.insert("type"); used.insert("name") }

    /// Throws for the first key that no reader asked for, listing the known ones.
    func finish(known extra: [String] = []) throws {
        for e in entries where !used.contains(e.key) {
            let known = (Array(used) + extra).sorted().joined(separator: ", ")
            throw ConfigError(path: join(value.path, e.key), message: "unknown key (known here: \(known))", file: value.file,
                              line: e.node.mark?.line)
        }
    }
}

func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

/// Lower-cased with `-` and `_` removed, so `batch-size`, `batch_size` and `BatchSize` compare equal.
func normalizedName(_ s: String) -> String {
    String(s.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " })
}

/// A string as JSON writes it: in double quotes, with quotes, backslashes and control characters escaped.
func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
