import Foundation
import Testing
import EmberTestSupport
import EmberCLI
@testable import EmberServe

/// The request parser against Foundation's JSONDecoder (an independent implementation, and what the server parsed
/// with before): the same values, numbers to the bit, for valid documents (edge cases and thousands of random
/// ones), rejection of everything invalid; the response writer read back by JSONSerialization.
@Suite struct FastJSONTests {
    /// Foundation's reading of `text`: `JSONValue.parse` (JSONDecoder, what the server used before), nil when it
    /// rejects the text.
    func foundation(_ text: String) -> JSONValue? {
        try? JSONValue.parse(Data(text.utf8))
    }

    /// The value with every object's keys sorted (JSONValue.parse sorts them; FastJSON keeps the given order).
    func sorted(_ v: JSONValue) -> JSONValue {
        switch v {
        case .array(let items): return .array(items.map(sorted))
        case .object(let members): return .object(members.sorted { $0.0 < $1.0 }.map { ($0.0, sorted($0.1)) })
        default: return v
        }
    }

    /// Equal values, numbers to the bit.
    func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): return x.bitPattern == y.bitPattern
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && same($0.1, $1.1) }
        default: return a == b
        }
    }

    @Test func readsWhatFoundationReads() throws {
        let cases = [
            #"{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":[0,1.5,-2,3e2,-0.25,1E-3,12345678901234567890]}]}"#,
            #"  [ 1 , 2.0 ,-0, 0.1, 1e308, 5e-324, 123456789012345, 1234567890123456, 9007199254740993 ]  "#,
            #"{"a":"x\"y\\z\/\b\f\n\r\t\u00e9\u20ac\ud83d\ude00","b":[true,false,null],"c":{},"d":[],"é":"ü"}"#,
            "\"plain\"", "true", "null", "-1.5e-7", "0", "[[[[[]]]]]", #"{"k":{"k":{"k":[1,{"z":2}]}}}"#,
            "[0.1,0.2,0.30000000000000004,2.2250738585072014e-308,4.9406564584124654e-324,1.7976931348623157e308]",
        ]
        for text in cases {
            let v = try FastJSON.parse(Array(text.utf8))
            let f = try #require(foundation(text), "Foundation reads \(text)")
            #expect(same(sorted(v), f), "\(text) -> \(v.rendered(pretty: false))")
        }
        // Random documents: nested arrays/objects of numbers in many notations, strings with escapes.
        var rng = SplitMix64(11)
        func number() -> String {
            switch rng.below(6) {
            case 0: return String(Int64(bitPattern: rng.next()) >> Int64(rng.below(60)))
            case 1: return "\(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (rng.below(2) == 0 ? 1 : -1))"
            case 2: return "\(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF))"
            case 3: return "\(rng.below(1000)).\(rng.below(100000))e\(rng.below(2) == 0 ? "-" : "+")\(rng.below(40))"
            case 4: return "-0.\(String(repeating: "0", count: rng.below(20)))\(rng.below(1_000_000) + 1)"
            default: return String(rng.below(17))
            }
        }
        func string() -> String {
            let pieces = ["a", "Z", " ", "\\n", "\\\"", "\\\\", "\\u0041", "é", "\\ud834\\udd1e", "€", "\\t", "\\/"]
            return "\"" + (0..<rng.below(6)).map { _ in pieces[rng.below(pieces.count)] }.joined() + "\""
        }
        func value(_ depth: Int) -> String {
            switch depth > 3 ? rng.below(3) : rng.below(6) {
            case 0: return number()
            case 1: return string()
            case 2: return ["true", "false", "null"][rng.below(3)]
            case 3, 4: return "[" + (0..<rng.below(5)).map { _ in value(depth + 1) }.joined(separator: ",") + "]"
            default:
                let keys = Set((0..<rng.below(4)).map { "k\($0 * 7 + rng.below(7))" })
                return "{" + keys.sorted().map { "\"\($0)\": " + value(depth + 1) }.joined(separator: " ,") + "}"
            }
        }
        for _ in 0..<3000 {
            let text = value(0)
            guard let f = foundation(text) else { Issue.record("Foundation rejects the generated \(text)"); continue }
            let v = try FastJSON.parse(Array(text.utf8))
            #expect(same(sorted(v), f), "\(text) -> \(v.rendered(pretty: false))")
        }
    }

    @Test func rejectsWhatIsNotJSON() {
        let bad = ["", " ", "{", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "01", "+1", ".5", "1.", "1e", "-", "--1",
                   "NaN", "Infinity", "[1]x", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00x\"",
                   "\"tab\there\"", "'single'", "[1]]", "{}{}", "/* c */ 1", "1e400", "[-1e999]"]
        for text in bad {
            #expect(throws: (any Error).self, "\(text.debugDescription)") { try FastJSON.parse(Array(text.utf8)) }
            // JSONDecoder accepts a trailing comma (not JSON); everything else it rejects too.
            if !["[1,]", "{\"a\":1,}"].contains(text) { #expect(foundation(text) == nil, "Foundation agrees that \(text.debugDescription) is not JSON") }
        }
        // Invalid UTF-8 inside a string, and nesting past the limit.
        #expect(throws: (any Error).self) { try FastJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: FastJSON.maxDepth + 1) + String(repeating: "]", count: FastJSON.maxDepth + 1)
        #expect(throws: (any Error).self) { try FastJSON.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: FastJSON.maxDepth) + String(repeating: "]", count: FastJSON.maxDepth)
        #expect((try? FastJSON.parse(Array(ok.utf8))) != nil)
    }

    @Test func writerMatchesFoundationReadingBack() throws {
        var rng = SplitMix64(3)
        var w = JSONBytes()
        var floats: [Float] = [0, -0.0, 1, -3, 0.1, 1e-45, 3.4028235e38, 1e15, 123456.79, .nan, .infinity]
        for _ in 0..<2000 { floats.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x7F7F_FFFF) * (rng.below(2) == 0 ? 1 : -1)) }
        let strings = ["plain", "quote\"", "back\\slash", "new\nline", "é€😀", "\u{01}"]
        w.raw("{\"f\":[")
        for (i, f) in floats.enumerated() { if i > 0 { w.raw(",") }; w.float(f) }
        w.raw("],\"s\":[")
        for (i, s) in strings.enumerated() { if i > 0 { w.raw(",") }; w.string(s) }
        w.raw("],\"i\":")
        w.int(-42)
        w.raw("}")
        let back = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        let fs = try #require(back["f"] as? [Any])
        #expect(fs.count == floats.count)
        for (f, b) in zip(floats, fs) {
            if f.isFinite {
                // The decimal reads back as the same 32-bit float.
                #expect(Float((b as? NSNumber)?.doubleValue ?? .nan) == f, "\(f) -> \(b)")
            } else {
                #expect(b is NSNull)
            }
        }
        #expect(back["s"] as? [String] == strings)
        #expect((back["i"] as? NSNumber)?.intValue == -42)
    }
}
