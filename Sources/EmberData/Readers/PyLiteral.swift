/// A Python literal as found in `.npy` headers: strings, booleans, None, integers, tuples/lists and dicts.
enum PyLiteral: Equatable {
    case string(String)
    case bool(Bool)
    case none
    case int(Int)
    case tuple([PyLiteral])
    case dict([(String, PyLiteral)])

    static func == (a: PyLiteral, b: PyLiteral) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.none, .none): return true
        case (.int(let x), .int(let y)): return x == y
        case (.tuple(let x), .tuple(let y)): return x == y
        case (.dict(let x), .dict(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }
}

/// A small recursive-descent parser for the Python literal subset above (no evaluation, bounded nesting).
struct PyLiteralParser {
    struct Failure: Error { let message: String }

    private let chars: [Character]
    private var i = 0
    private var depth = 0

    init(_ text: String) { chars = Array(text) }

    /// Parses one literal followed only by whitespace and, as Python's `ast.literal_eval` (NumPy's header reader)
    /// allows, a `#` comment (`ember generate` marks its `.npy` files with one).
    mutating func parseTop() throws -> PyLiteral {
        let v = try parseValue()
        skipSpace()
        if i < chars.count, chars[i] == "#" {
            while i < chars.count, chars[i] != "\n" { i += 1 }
            skipSpace()
        }
        guard i == chars.count else { throw Failure(message: "unexpected text after the literal at character \(i)") }
        return v
    }

    /// Skips whitespace and `#` comments (to the end of the line), as Python's `ast.literal_eval` does.
    private mutating func skipSpace() {
        while i < chars.count {
            if chars[i].isWhitespace {
                i += 1
            } else if chars[i] == "#" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
            } else {
                return
            }
        }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard i < chars.count, chars[i] == c else { throw Failure(message: "expected '\(c)' at character \(i)") }
        i += 1
    }

    private mutating func parseValue() throws -> PyLiteral {
        skipSpace()
        guard i < chars.count else { throw Failure(message: "unexpected end of header") }
        depth += 1
        defer { depth -= 1 }
        guard depth < 32 else { throw Failure(message: "nesting too deep") }
        let c = chars[i]
        switch c {
        case "'", "\"": return .string(try parseString())
        case "{": return try parseDict()
        case "(", "[": return try parseSequence(close: c == "(" ? ")" : "]")
        default:
            if c == "-" || c.isNumber { return .int(try parseInt()) }
            var word = ""
            while i < chars.count, chars[i].isLetter { word.append(chars[i]); i += 1 }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default: throw Failure(message: "unexpected \(word.isEmpty ? "'\(c)'" : word) at character \(i)")
            }
        }
    }

    private mutating func parseString() throws -> String {
        let q = chars[i]
        i += 1
        var s = ""
        while i < chars.count, chars[i] != q {
            if chars[i] == "\\", i + 1 < chars.count { i += 1 }
            s.append(chars[i])
            i += 1
        }
        guard i < chars.count else { throw Failure(message: "unterminated string") }
        i += 1
        return s
    }

    private mutating func parseInt() throws -> Int {
        var s = ""
        if chars[i] == "-" { s = "-"; i += 1 }
        while i < chars.count, chars[i].isASCII, chars[i].isNumber { s.append(chars[i]); i += 1 }
        if i < chars.count, chars[i] == "L" { i += 1 }   // Python 2 long suffix
        guard let v = Int(s) else { throw Failure(message: "bad integer '\(s)'") }
        return v
    }

    private mutating func parseSequence(close: Character) throws -> PyLiteral {
        i += 1
        var items: [PyLiteral] = []
        while true {
            skipSpace()
            if i < chars.count, chars[i] == close { i += 1; return .tuple(items) }
            items.append(try parseValue())
            skipSpace()
            guard i < chars.count else { throw Failure(message: "unterminated sequence") }
            if chars[i] == "," { i += 1; continue }
            try expect(close)
            return .tuple(items)
        }
    }

    private mutating func parseDict() throws -> PyLiteral {
        i += 1
        var items: [(String, PyLiteral)] = []
        while true {
            skipSpace()
            if i < chars.count, chars[i] == "}" { i += 1; return .dict(items) }
            guard case .string(let key) = try parseValue() else { throw Failure(message: "dict keys must be strings") }
            try expect(":")
            items.append((key, try parseValue()))
            skipSpace()
            guard i < chars.count else { throw Failure(message: "unterminated dict") }
            if chars[i] == "," { i += 1; continue }
            try expect("}")
            return .dict(items)
        }
    }
}
