import Foundation

/// BERT's tokenizer: basic (whitespace, punctuation, CJK) splitting after normalisation, then greedy
/// longest-match-first WordPiece over a `vocab.txt`, with `[CLS]`/`[SEP]`, truncation, padding and attention masks.
///
/// It gives the ids Hugging Face's `tokenizers` library gives for the same vocabulary and settings (`BertNormalizer`,
/// `BertPreTokenizer`, `WordPiece` with `##` continuations, a `[CLS] A [SEP]` template), which the tests check on
/// more than 10,000 lines. The normalisation, in that library's order:
///
/// 1. clean-up: U+0000, U+FFFD and control/format characters (general category C*, except tab, newline and
///    carriage return) are removed; every whitespace character becomes a space;
/// 2. CJK ideographs get a space on each side (each becomes a word of its own);
/// 3. accents are stripped (canonical decomposition, then nonspacing marks removed) when `stripAccents` is set or,
///    when it is nil, when lower-casing is;
/// 4. lower-casing (each scalar's full lower-case mapping).
///
/// Words are then split at whitespace and around every punctuation character (ASCII punctuation and Unicode P*).
/// A word longer than `maxInputCharsPerWord` scalars, or one the vocabulary cannot cover, becomes `[UNK]`. The special
/// tokens written literally in the text (`[CLS]`, `[MASK]`, ...) are kept whole and not normalised, as the library's
/// added tokens are.
///
/// ```swift
/// let tok = try WordPieceTokenizer(directory: URL(fileURLWithPath: "minilm"))   // vocab.txt (+ tokenizer_config.json)
/// let batch = tok.encode(["Hello, world!", "Ünïcödé"], maxLength: 128)            // padded to the longest
/// batch.ids      // [[101, 7592, 1010, 2088, 999, 102], [101, 4895, 2594, 10244, 102, 0]]
/// batch.attentionMask
/// ```
public struct WordPieceTokenizer: Sendable {
    /// Normalisation and splitting settings (the keys of a Hugging Face `tokenizer_config.json`).
    public struct Options: Sendable, Equatable {
        /// Lower-case the text (`do_lower_case`).
        public var lowercase = true
        /// Strip accents; nil follows `lowercase` (`strip_accents`).
        public var stripAccents: Bool? = nil
        /// Put CJK ideographs in words of their own (`tokenize_chinese_chars`).
        public var handleChineseCharacters = true
        /// Remove control characters and turn all whitespace into spaces.
        public var cleanText = true
        /// Longer words become the unknown token.
        public var maxInputCharsPerWord = 100
        /// The unknown, class, separator, padding and mask tokens.
        public var unknownToken = "[UNK]", classToken = "[CLS]", separatorToken = "[SEP]", paddingToken = "[PAD]",
                   maskToken = "[MASK]"
        /// The prefix of a word piece that continues a word.
        public var continuingPrefix = "##"
        /// The longest input the model takes, special tokens included (`model_max_length`), if known.
        public var modelMaxLength: Int? = nil

        /// BERT uncased defaults.
        public init() {}
    }

    /// The encoded form of a batch of texts: `ids[i]`, `tokenTypeIDs[i]` and `attentionMask[i]` all have length
    /// `length` (the padded length); `lengths[i]` is the unpadded number of tokens of text i.
    public struct Batch: Sendable, Equatable {
        /// Token ids, `[CLS]` first and `[SEP]` last, then padding.
        public var ids: [[Int32]]
        /// Segment ids (0 for a single sequence).
        public var tokenTypeIDs: [[Int32]]
        /// 1 for a real token, 0 for padding.
        public var attentionMask: [[Int32]]
        /// Number of real tokens of each text.
        public var lengths: [Int]
        /// Padded length (0 for an empty batch).
        public var length: Int { ids.first?.count ?? 0 }
    }

    /// How `encode` pads a batch.
    public enum Padding: Sendable, Equatable {
        /// Every row as long as the longest (what sentence-transformers does).
        case longest
        /// Every row exactly this long (after truncation to it).
        case fixed(Int)
        /// No padding: rows keep their own lengths.
        case none
    }

    /// The vocabulary: `vocabulary[id]` is the token of `id`.
    public let vocabulary: [String]
    /// The settings.
    public let options: Options
    /// Ids of the special tokens.
    public let unknownID: Int32, classID: Int32, separatorID: Int32, paddingID: Int32
    private let index: [String: Int32]
    /// Special tokens matched literally in the raw text, longest first.
    private let literalSpecials: [(scalars: [Unicode.Scalar], id: Int32)]

    /// A tokenizer over `vocabulary` (one token per id, in order). Throws `DataError` (file `source`) when a special
    /// token is missing or a token is listed twice.
    public init(vocabulary: [String], options: Options = Options(), source: String = "vocabulary") throws {
        var index: [String: Int32] = [:]
        index.reserveCapacity(vocabulary.count)
        for (i, t) in vocabulary.enumerated() {
            if index[t] != nil {
                throw DataError(.badValue, file: source, at: .line(i + 1), expected: "each token once", found: "\(excerpt(t)) again")
            }
            index[t] = Int32(i)
        }
        func id(_ t: String) throws -> Int32 {
            guard let i = index[t] else {
                throw DataError(.notFound, file: source, expected: "the special token \(t) in the vocabulary")
            }
            return i
        }
        guard options.maxInputCharsPerWord > 0 else {
            throw DataError(.badValue, file: source, expected: "max_input_chars_per_word > 0", found: String(options.maxInputCharsPerWord))
        }
        self.vocabulary = vocabulary
        self.options = options
        self.index = index
        unknownID = try id(options.unknownToken)
        classID = try id(options.classToken)
        separatorID = try id(options.separatorToken)
        paddingID = try id(options.paddingToken)
        var specials: [(scalars: [Unicode.Scalar], id: Int32)] = []
        for t in Set([options.paddingToken, options.unknownToken, options.classToken, options.separatorToken, options.maskToken]) {
            if let i = index[t], !t.isEmpty { specials.append((Array(t.unicodeScalars), i)) }
        }
        literalSpecials = specials.sorted { $0.scalars.count != $1.scalars.count ? $0.scalars.count > $1.scalars.count : $0.id < $1.id }
    }

    /// Reads `vocab.txt` (one token per line, UTF-8; the line number minus one is the id).
    public init(vocabularyFile url: URL, options: Options = Options()) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError(FileManager.default.fileExists(atPath: url.path) ? .io : .fileNotFound, file: url.path,
                            expected: "a readable WordPiece vocabulary (vocab.txt)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DataError(.badValue, file: url.path, expected: "UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw DataError(.truncated, file: url.path, expected: "at least one token") }
        try self.init(vocabulary: lines, options: options, source: url.path)
    }

    /// Reads a model folder: `vocab.txt`, and the settings from `tokenizer_config.json` when it is there
    /// (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`, the special tokens, `model_max_length`). A setting
    /// this tokenizer does not implement (`do_basic_tokenize: false`, `never_split`) is refused with a `DataError`.
    public init(directory: URL) throws {
        var options = Options()
        let config = directory.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: config.path) {
            options = try Self.readOptions(config)
        }
        try self.init(vocabularyFile: directory.appendingPathComponent("vocab.txt"), options: options)
    }

    /// A special token in a tokenizer config: a string or an added-token object with "content".
    private struct TokenText: Decodable {
        var text: String
        private enum Keys: String, CodingKey { case content }
        init(from decoder: Decoder) throws {
            if let s = try? decoder.singleValueContainer().decode(String.self) { text = s; return }
            text = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .content)
        }
    }

    /// The keys of a Hugging Face `tokenizer_config.json` this tokenizer reads (others are ignored).
    private struct ConfigFile: Decodable {
        var do_lower_case: Bool?, strip_accents: Bool?, tokenize_chinese_chars: Bool?, do_basic_tokenize: Bool?
        var never_split: [String]?
        var unk_token: TokenText?, cls_token: TokenText?, sep_token: TokenText?, pad_token: TokenText?, mask_token: TokenText?
        var model_max_length: Double?
    }

    static func readOptions(_ url: URL) throws -> Options {
        let path = url.path
        guard let data = try? Data(contentsOf: url) else {
            throw DataError(.io, file: path, expected: "a readable tokenizer configuration")
        }
        let c: ConfigFile
        do { c = try JSONDecoder().decode(ConfigFile.self, from: data) } catch let DecodingError.typeMismatch(type, ctx) {
            throw DataError(.badValue, file: path, at: .column(ctx.codingPath.map(\.stringValue).joined(separator: ".")),
                            expected: "a value of type \(type)")
        } catch {
            throw DataError(.badHeader, file: path, expected: "a JSON object with tokenizer settings", found: "\(error)".prefix(200).description)
        }
        var o = Options()
        if let v = c.do_lower_case { o.lowercase = v }
        o.stripAccents = c.strip_accents
        if let v = c.tokenize_chinese_chars { o.handleChineseCharacters = v }
        if c.do_basic_tokenize == false {
            throw DataError(.unsupported, file: path, at: .column("do_basic_tokenize"), expected: "true (WordPiece without basic tokenization is not implemented)")
        }
        if let ns = c.never_split, !ns.isEmpty {
            throw DataError(.unsupported, file: path, at: .column("never_split"), expected: "null or empty (never_split is not implemented)")
        }
        if let t = c.unk_token { o.unknownToken = t.text }
        if let t = c.cls_token { o.classToken = t.text }
        if let t = c.sep_token { o.separatorToken = t.text }
        if let t = c.pad_token { o.paddingToken = t.text }
        if let t = c.mask_token { o.maskToken = t.text }
        if let v = c.model_max_length, v >= 2, v < 1e9 { o.modelMaxLength = Int(v) }
        return o
    }

    /// The id of `token`, or nil.
    public func id(of token: String) -> Int32? { index[token] }

    // MARK: - Basic tokenization

    /// The words of `text` after normalisation and whitespace/punctuation/CJK splitting (before WordPiece).
    public func basicTokens(_ text: String) -> [String] {
        var words: [String] = []
        for piece in splitSpecials(text) {
            switch piece {
            case .special(let id): words.append(vocabulary[Int(id)])
            case .text(let t): words += basicTokensOfText(t)
            }
        }
        return words
    }

    private enum Piece { case text([Unicode.Scalar]), special(Int32) }

    /// Cuts the raw text at literal special tokens (leftmost, longest first).
    private func splitSpecials(_ text: String) -> [Piece] {
        let s = Array(text.unicodeScalars)
        var out: [Piece] = []
        var start = 0, i = 0
        outer: while i < s.count {
            for sp in literalSpecials where sp.scalars.first == s[i] && i + sp.scalars.count <= s.count {
                if s[i..<(i + sp.scalars.count)].elementsEqual(sp.scalars) {
                    if start < i { out.append(.text(Array(s[start..<i]))) }
                    out.append(.special(sp.id))
                    i += sp.scalars.count
                    start = i
                    continue outer
                }
            }
            i += 1
        }
        if start < s.count { out.append(.text(Array(s[start..<s.count]))) }
        return out
    }

    private func basicTokensOfText(_ input: [Unicode.Scalar]) -> [String] {
        var s = input
        if options.cleanText {
            s = s.compactMap { c in
                if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { return nil }
                return Self.isWhitespace(c) ? " " : c
            }
        }
        if options.handleChineseCharacters {
            var t: [Unicode.Scalar] = []
            t.reserveCapacity(s.count)
            for c in s {
                if Self.isCJK(c) { t.append(" "); t.append(c); t.append(" ") } else { t.append(c) }
            }
            s = t
        }
        if options.stripAccents ?? options.lowercase {
            let decomposed = String(String.UnicodeScalarView(s)).decomposedStringWithCanonicalMapping
            s = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if options.lowercase {
            var t: [Unicode.Scalar] = []
            t.reserveCapacity(s.count)
            for c in s {
                if c.isASCII {
                    t.append(c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c)
                } else {
                    t.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            s = t
        }
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
        }
        for c in s {
            if Self.isWhitespace(c) {
                flush()
            } else if Self.isPunctuation(c) {
                flush()
                words.append(String(c))
            } else {
                current.append(c)
            }
        }
        flush()
        return words
    }

    /// Whitespace as BERT defines it: tab, newline, carriage return and Unicode White_Space.
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    /// Control as BERT defines it: general category C* (control, format, unassigned, private use, surrogate) except
    /// tab, newline and carriage return.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// ASCII punctuation (all of `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`) and Unicode punctuation (P*).
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks (and their extensions and compatibility ideographs) BERT splits out.
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }

    // MARK: - WordPiece

    /// The ids of one word: greedy longest match first, continuations prefixed with `##`; the unknown id alone when
    /// the word is too long or cannot be covered.
    public func wordPieceIDs(_ word: String) -> [Int32] {
        let chars = Array(word.unicodeScalars)
        if chars.count > options.maxInputCharsPerWord { return [unknownID] }
        var out: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int32? = nil
            while start < end {
                var piece = start > 0 ? options.continuingPrefix : ""
                piece.unicodeScalars.append(contentsOf: chars[start..<end])
                if let id = index[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknownID] }
            out.append(id)
            start = end
        }
        return out
    }

    /// The token ids of `text`, without special tokens, truncation or padding.
    public func tokenIDs(_ text: String) -> [Int32] {
        basicTokens(text).flatMap { wordPieceIDs($0) }
    }

    /// The tokens (strings) of `text`, without special tokens.
    public func tokenize(_ text: String) -> [String] {
        tokenIDs(text).map { vocabulary[Int($0)] }
    }

    /// Encodes each text as `[CLS] tokens [SEP]`, cutting the tokens so that a row holds at most `maxLength` ids
    /// (special tokens included; nil: `modelMaxLength` when known, else no limit), then pads as asked with the padding
    /// id (mask 0). `maxLength` must leave room for the two special tokens.
    public func encode(_ texts: [String], maxLength: Int? = nil, padding: Padding = .longest) -> Batch {
        var limit = maxLength ?? options.modelMaxLength
        if case .fixed(let n) = padding { limit = Swift.min(limit ?? n, n) }
        precondition(limit.map { $0 >= 2 } ?? true, "WordPieceTokenizer.encode: length limit \(limit ?? 0) leaves no room for [CLS] and [SEP]")
        var rows: [[Int32]] = texts.map { text in
            var ids = tokenIDs(text)
            if let limit, ids.count > limit - 2 { ids.removeLast(ids.count - (limit - 2)) }
            return [classID] + ids + [separatorID]
        }
        let lengths = rows.map(\.count)
        let target: Int?
        switch padding {
        case .longest: target = lengths.max() ?? 0
        case .fixed(let n): target = n
        case .none: target = nil
        }
        var masks: [[Int32]] = []
        for i in rows.indices {
            let width = target ?? rows[i].count
            masks.append([Int32](repeating: 1, count: lengths[i]) + [Int32](repeating: 0, count: width - lengths[i]))
            rows[i] += [Int32](repeating: paddingID, count: width - lengths[i])
        }
        return Batch(ids: rows, tokenTypeIDs: rows.map { [Int32](repeating: 0, count: $0.count) }, attentionMask: masks,
                     lengths: lengths)
    }
}
