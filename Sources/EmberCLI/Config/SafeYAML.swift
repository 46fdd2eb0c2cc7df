import Foundation
import Yams

/// Reading YAML (and JSON) from outside safely, as YAML libraries' safe modes do: bounded size, bounded nesting and
/// bounded alias expansion, checked before anything walks or writes the document.
///
/// - **Size**: at most `maxBytes` (1 MiB) of text.
/// - **Nesting**: at most `maxDepth` (64) levels of mappings and lists. Text nested far deeper is refused by a quick
///   scan before the YAML composer (which recurses once per level) sees it, so 10,000 levels are an error, not a
///   stack overflow.
/// - **Aliases**: `*name` repeats a subtree without copying it, so a few lines can stand for billions of values
///   ("billion laughs"). The document as the aliases expand it may hold at most `maxNodes` (100,000) values and
///   `maxBytes` of scalar text; beyond that it is refused before it is walked or written out.
enum SafeYAML {
    static let maxBytes = 1 << 20
    static let maxDepth = 64
    static let maxNodes = 100_000

    /// The root node of `text` (nil for an empty document).
    /// - Throws: `ConfigError` naming `file` and the line, for text beyond the limits or that is not YAML.
    static func compose(_ text: String, file: String?, what: String = "the document") throws -> Node? {
        guard text.utf8.count <= maxBytes else {
            throw ConfigError(path: "", message: "\(what) is \(text.utf8.count) bytes; at most \(maxBytes) (1 MiB) are read", file: file)
        }
        if let line = deepLine(text) {
            throw ConfigError(path: "", message: "\(what) nests deeper than \(maxDepth) levels", file: file, line: line)
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw ConfigError(path: "", message: "not valid YAML or JSON: \(yamlProblem(e))", file: file, line: yamlLine(e))
        }
        if let root { try checkExpanded(root, file: file, what: what) }
        return root
    }

    /// Walks the composed tree as aliases expand it, without recursion, stopping at the first limit passed.
    static func checkExpanded(_ root: Node, file: String?, what: String) throws {
        var stack: [(Node, Int)] = [(root, 1)]
        var nodes = 0, bytes = 0
        while let (node, depth) = stack.popLast() {
            nodes += 1
            guard depth <= maxDepth else {
                throw ConfigError(path: "", message: "\(what) nests deeper than \(maxDepth) levels", file: file, line: node.mark?.line)
            }
            guard nodes <= maxNodes else {
                throw ConfigError(path: "", message: "\(what) expands to more than \(maxNodes) values (aliases repeating aliases?)",
                                  file: file, line: node.mark?.line)
            }
            switch node {
            case .scalar(let s):
                bytes += s.string.utf8.count
                guard bytes <= maxBytes else {
                    throw ConfigError(path: "", message: "\(what) expands to more than \(maxBytes) bytes of text (aliases repeating aliases?)",
                                      file: file, line: node.mark?.line)
                }
            case .sequence(let seq): for n in seq { stack.append((n, depth + 1)) }
            case .mapping(let m): for (k, v) in m { stack.append((k, depth + 1)); stack.append((v, depth + 1)) }
            }
        }
    }

    /// The line where `text` first nests deeper than the scan allows, or nil. A quick over-estimate of the YAML
    /// nesting: flow brackets outside quotes and comments, plus block indentation levels, plus `- ` and `? ` entries
    /// that open on one line. It only has to stop the composer's recursion from running away; `checkExpanded`
    /// applies the exact limit afterwards.
    static func deepLine(_ text: String) -> Int? {
        let limit = 4 * maxDepth
        var flow = 0, line = 1
        var indents: [Int] = []
        var quote: UInt8? = nil
        var atLineStart = true, indent = 0, dashes = 0, inComment = false
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\n") {
                line += 1; atLineStart = true; indent = 0; dashes = 0; inComment = false
                if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") { atLineStart = false }   // a quoted scalar goes on
                i += 1
                continue
            }
            if inComment { i += 1; continue }
            if let q = quote {
                if c == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") { i += 2; continue }
                if c == q { quote = nil }
                i += 1
                continue
            }
            if atLineStart {
                if c == UInt8(ascii: " ") { indent += 1; i += 1; continue }
                if c == UInt8(ascii: "#") || c == UInt8(ascii: "\r") { atLineStart = false; inComment = c == UInt8(ascii: "#"); i += 1; continue }
                atLineStart = false
                if flow == 0 {
                    while let last = indents.last, last >= indent { indents.removeLast() }
                    indents.append(indent)
                }
            }
            switch c {
            case UInt8(ascii: "'"), UInt8(ascii: "\""): quote = c
            case UInt8(ascii: "["), UInt8(ascii: "{"): flow += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flow = Swift.max(flow - 1, 0)
            case UInt8(ascii: "#"):
                if i == 0 || bytes[i - 1] == UInt8(ascii: " ") || bytes[i - 1] == UInt8(ascii: "\t") { inComment = true }
            case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"):
                if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: " ") { dashes += 1 }
            default: break
            }
            if flow + indents.count + dashes > limit { return line }
            i += 1
        }
        return nil
    }
}

func yamlProblem(_ e: YamlError) -> String {
    switch e {
    case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
    case .reader(let problem, _, _, _): return problem
    default: return "\(e)"
    }
}

func yamlLine(_ e: YamlError) -> Int? {
    switch e {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
    default: return nil
    }
}
