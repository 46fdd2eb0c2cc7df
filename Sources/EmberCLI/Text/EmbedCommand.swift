import ArgumentParser
import EmberData
import EmberIO
import EmberTrain
import Foundation

/// `ember embed MODEL_DIR --input lines.txt --output emb.npy`: sentence embeddings of a text file, one per line.
public struct EmbedCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Sentence embeddings (BERT + mean pooling, as sentence-transformers) of each line of a text file.",
        discussion: """
            MODEL_DIR is a sentence-transformers model folder: config.json, vocab.txt, model.safetensors (Hugging Face \
            BertModel names), and modules.json / 1_Pooling/config.json / sentence_bert_config.json when present \
            (all-MiniLM-L6-v2: scripts/fetch-data puts it in .data/minilm). Every line of --input (UTF-8) is one \
            sentence, blank lines included, so row i of the output is line i+1. --output writes a float32 .npy \
            [lines, dim] or, for a .json name or --format json, {"embeddings": [[...]], ...}. An existing output \
            file is replaced only when `ember embed` wrote it. With --query, prints the --top lines most similar to \
            the query (cosine) instead of, or as well as, writing the embeddings.
            """)

    /// The model folder.
    @Argument(help: "A sentence-transformers model folder (config.json, vocab.txt, model.safetensors).")
    public var model: String

    /// Lines to embed.
    @Option(help: "A UTF-8 text file, one sentence per line.")
    public var input: String

    /// Where the embeddings go.
    @Option(help: "Output file: .npy (float32 [lines, dim]) or .json.")
    public var output: String?

    /// Output format.
    @Option(help: "npy or json (default: from the --output name; npy unless it ends in .json).")
    public var format: String?

    /// Batch size.
    @Option(help: "Sentences per batch.")
    public var batchSize = 32

    /// A search query.
    @Option(help: "Print the lines of --input most similar to this text (cosine of the embeddings).")
    public var query: String?

    /// Number of hits.
    @Option(help: "With --query: how many lines to print.")
    public var top = 5

    /// Parsed from the command line.
    public init() {}

    /// Runs the command.
    public func run() throws {
        try reportingErrors {
            try EmbedRunner.run(model: model, input: input, output: output, format: format, batchSize: batchSize,
                                query: query, top: top, console: .standard)
            return 0
        }
    }
}

/// What `ember embed` does, callable from tests.
public enum EmbedRunner {
    /// Marks a .npy header as written by `ember embed` (a comment, which NumPy's header parser skips).
    static let npyMark = "# written by ember embed"
    /// The `producer` of a JSON file `ember embed` wrote.
    static let jsonProducer = "ember embed"

    /// Embeds the lines of `input` with the model folder `model`; writes them to `output` and/or prints the `top`
    /// lines nearest to `query`. Returns the embeddings [lines, dim].
    @discardableResult
    public static func run(model: String, input: String, output: String?, format: String?, batchSize: Int,
                           query: String?, top: Int, console: Console) throws -> Tensor {
        guard batchSize > 0 else { throw CLIError("--batch-size: expected a positive integer, got \(batchSize)") }
        guard top > 0 else { throw CLIError("--top: expected a positive integer, got \(top)") }
        guard output != nil || query != nil else { throw CLIError("expected --output FILE or --query TEXT (or both)") }
        let json: Bool
        switch format?.lowercased() {
        case nil: json = output?.lowercased().hasSuffix(".json") ?? false
        case "json"?: json = true
        case "npy"?: json = false
        case let f?: throw CLIError("--format: expected npy or json, got \(f)")
        }
        var outURL: URL? = nil
        if let output {
            guard !output.isEmpty else { throw CLIError("--output: expected a file name, got ''") }
            let url = URL(fileURLWithPath: output)
            try refuseForeignFile(url)
            outURL = url
        }
        let lines = try readLines(input)
        let embedder: SentenceEmbedder
        do { embedder = try SentenceEmbedder(directory: URL(fileURLWithPath: model)) } catch let e as DataError {
            throw CLIError("model \(model): \(e)")
        }
        let start = Date()
        let embeddings = embedder.embed(lines, batchSize: batchSize)
        let seconds = Date().timeIntervalSince(start)
        if let outURL {
            let data = json ? jsonBytes(embeddings, model: model, normalized: embedder.normalize) : npyBytes(embeddings)
            do { try AtomicFile.write(data, to: outURL) } catch {
                throw CLIError("--output \(outURL.path): cannot write: \(fileSystemReason(error, path: outURL.path))")
            }
            console.line("wrote \(outURL.path): \(lines.count) x \(embedder.dimension) float32 embeddings"
                         + "\(embedder.normalize ? " (unit length)" : "") in \(String(format: "%.1f", seconds)) s")
        }
        if let query {
            let q = embedder.embed([query])
            for (rank, m) in SentenceEmbedder.nearest(to: q, in: embeddings, top: top).enumerated() {
                console.line("\(rank + 1). \(String(format: "%.4f", m.cosine))  line \(m.index + 1): \(lines[m.index])")
            }
        }
        return embeddings
    }

    /// The lines of a UTF-8 text file (LF or CRLF; a final newline does not start another line).
    static func readLines(_ path: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CLIError("--input \(path): no such file")
        }
        guard !isDir.boolValue else { throw CLIError("--input \(path): is a directory; expected a text file, one sentence per line") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIError("--input \(path): cannot read: \(fileSystemReason(error, path: path))")
        }
        guard !data.isEmpty else { throw CLIError("--input \(path): expected at least one line, found an empty file") }
        var lines: [String] = []
        var lineNumber = 0
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var bytes = raw
            if bytes.last == 0x0D { bytes = bytes.dropLast() }
            guard let s = String(bytes: bytes, encoding: .utf8) else {
                throw CLIError("--input \(path), line \(lineNumber): expected UTF-8 text, found bytes that are not UTF-8")
            }
            lines.append(s)
        }
        if data.last == 0x0A { lines.removeLast() }
        return lines
    }

    /// An existing file is replaced only when `ember embed` wrote it.
    static func refuseForeignFile(_ url: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return }
        if isDir.boolValue { throw CLIError("--output \(url.path) is a directory; expected a file name") }
        guard let data = FileManager.default.contents(atPath: url.path), writtenByEmbed(data) else {
            throw CLIError("--output \(url.path) exists and was not written by `ember embed`; it is left alone (choose another name or remove it)")
        }
    }

    static func writtenByEmbed(_ data: Data) -> Bool {
        if data.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) {
            guard data.count >= 10 else { return false }
            let n = Int(data[data.startIndex + 8]) | Int(data[data.startIndex + 9]) << 8
            guard data.count >= 10 + n else { return false }
            return String(decoding: data[(data.startIndex + 10)..<(data.startIndex + 10 + n)], as: UTF8.self).contains(npyMark)
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return false }
        return obj["producer"] as? String == jsonProducer
    }

    /// A version 1.0 .npy file of float32 `t` [N, D], little-endian, C order, data aligned to 64 bytes.
    static func npyBytes(_ t: Tensor) -> Data {
        let shape = t.shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape)\(t.rank == 1 ? "," : "")), } \(npyMark)"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        let values = t.cast(.float32).toArray(Float.self)
        values.withUnsafeBytes { raw in
            for v in raw.bindMemory(to: UInt32.self) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    /// {"producer": "ember embed", "model": ..., "dimension": D, "normalized": ..., "embeddings": [[...]]}.
    static func jsonBytes(_ t: Tensor, model: String, normalized: Bool) -> Data {
        let d = t.shape[1]
        let v = t.toArray(Float.self)
        var s = "{\"producer\": \"\(jsonProducer)\", \"model\": \(jsonString(model)), \"dimension\": \(d), "
            + "\"normalized\": \(normalized), \"count\": \(t.shape[0]), \"embeddings\": ["
        for i in 0..<t.shape[0] {
            if i > 0 { s += ",\n" }
            s += "[" + v[(i * d)..<((i + 1) * d)].map { "\($0)" }.joined(separator: ", ") + "]"
        }
        s += "]}\n"
        return Data(s.utf8)
    }

    static func jsonString(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
