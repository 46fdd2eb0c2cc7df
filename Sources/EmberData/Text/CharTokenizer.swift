import EmberCore

/// A character-level tokenizer: one token per Unicode scalar, with the vocabulary taken from a training text.
///
/// The vocabulary is the sorted set of scalars in the training text, after one reserved token for characters it has
/// never seen (id 0, decoded as U+FFFD). What happens to an unseen character is the caller's choice, made at each
/// `encode`: `.error` throws a `DataError` naming the character and where it is, `.replace` maps it to the unknown
/// id, `.skip` leaves it out. A tokenizer is `Codable`, so a model saves its vocabulary beside its weights and a
/// prompt is encoded later exactly as the training text was.
///
/// ```swift
/// let tok = CharTokenizer(training: text)
/// let ids = try tok.encode("ROMEO:")            // [Int32]
/// tok.decode(ids) == "ROMEO:"
/// ```
///
/// Scalars rather than grapheme clusters: the split is fast, simple, and the same on every platform ("e" followed by
/// a combining accent is two tokens).
public struct CharTokenizer: Codable, Equatable, Sendable {
    /// What `encode` does with a character that is not in the vocabulary.
    public enum UnknownPolicy: String, Codable, Sendable, CaseIterable {
        /// Throw a `DataError` naming the character and its position.
        case error
        /// Use the reserved unknown token (id 0).
        case replace
        /// Leave the character out.
        case skip
    }

    /// The id of the reserved unknown token.
    public static let unknownID: Int32 = 0
    /// How the unknown token is decoded.
    public static let unknownCharacter: Unicode.Scalar = "\u{FFFD}"

    /// The vocabulary: `symbols[id]` is the scalar of token `id`; `symbols[0]` is the unknown token's stand-in.
    public let symbols: [String]
    private let index: [UInt32: Int32]

    /// Number of tokens, the unknown token included.
    public var count: Int { symbols.count }

    /// A tokenizer whose vocabulary is every scalar of `text` (sorted by code point), after the unknown token.
    public init(training text: String) {
        var seen = Set<UInt32>()
        for s in text.unicodeScalars { seen.insert(s.value) }
        seen.remove(Self.unknownCharacter.value)
        self.init(scalars: seen.sorted().map { Unicode.Scalar($0)! })
    }

    /// A tokenizer over `scalars` (duplicates removed, order kept) after the unknown token.
    public init(scalars: [Unicode.Scalar]) {
        var list = [String(Self.unknownCharacter)]
        var index: [UInt32: Int32] = [:]
        for s in scalars where s != Self.unknownCharacter && index[s.value] == nil {
            index[s.value] = Int32(list.count)
            list.append(String(s))
        }
        symbols = list
        self.index = index
    }

    enum CodingKeys: String, CodingKey { case symbols }

    /// Reads a saved vocabulary: one scalar per entry, the unknown token first, no duplicates.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let symbols = try c.decode([String].self, forKey: .symbols)
        guard symbols.first == String(Self.unknownCharacter) else {
            throw DecodingError.dataCorruptedError(forKey: .symbols, in: c, debugDescription: "the first symbol must be the unknown token U+FFFD")
        }
        var scalars: [Unicode.Scalar] = []
        for (i, s) in symbols.enumerated().dropFirst() {
            guard s.unicodeScalars.count == 1, let scalar = s.unicodeScalars.first else {
                throw DecodingError.dataCorruptedError(forKey: .symbols, in: c, debugDescription: "symbol \(i) is not one character: \(s.debugDescription)")
            }
            scalars.append(scalar)
        }
        self.init(scalars: scalars)
        guard self.symbols.count == symbols.count else {
            throw DecodingError.dataCorruptedError(forKey: .symbols, in: c, debugDescription: "the vocabulary lists a character twice")
        }
    }

    /// Writes the vocabulary as a list of one-character strings.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(symbols, forKey: .symbols)
    }

    public static func == (a: CharTokenizer, b: CharTokenizer) -> Bool { a.symbols == b.symbols }

    /// The id of `scalar`, or nil when it is not in the vocabulary.
    public func id(of scalar: Unicode.Scalar) -> Int32? { index[scalar.value] }

    /// Token ids of `text`.
    /// - Parameters:
    ///   - unknown: what to do with characters outside the vocabulary.
    ///   - source: names the text in errors (a file name, "the prompt").
    /// - Throws: `DataError(.badValue)` with `.error`, naming the first unknown character and its line.
    public func encode(_ text: String, unknown: UnknownPolicy = .error, source: String = "text") throws -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.utf8.count)
        // A table for ASCII keeps encoding a large corpus fast.
        var ascii = [Int32](repeating: -1, count: 128)
        for v in 0..<128 { if let i = index[UInt32(v)] { ascii[v] = i } }
        var line = 1
        for s in text.unicodeScalars {
            let v = s.value
            let id = v < 128 ? (ascii[Int(v)] >= 0 ? ascii[Int(v)] : nil) : index[v]
            if v == 10 { line += 1 }
            if let id { out.append(id); continue }
            switch unknown {
            case .replace: out.append(Self.unknownID)
            case .skip: break
            case .error:
                throw DataError(.badValue, file: source, at: .line(line),
                                expected: "characters of the model's vocabulary (\(count - 1) characters)",
                                found: "U+\(hex4(v)) \(excerpt(String(s)))")
            }
        }
        return out
    }

    /// The text of token ids (the unknown token as U+FFFD).
    /// Precondition: every id is in `0 ..< count`.
    public func decode(_ ids: some Sequence<Int32>) -> String {
        var s = String.UnicodeScalarView()
        for id in ids {
            precondition(id >= 0 && Int(id) < count, "CharTokenizer.decode: token \(id) is out of range for a vocabulary of \(count)")
            s.append(symbols[Int(id)].unicodeScalars.first!)
        }
        return String(s)
    }
}

/// `v` in upper-case hexadecimal, at least four digits (as Unicode writes code points).
func hex4(_ v: UInt32) -> String {
    let h = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: Swift.max(0, 4 - h.count)) + h
}
