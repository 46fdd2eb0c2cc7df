import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// A small text with an easy pattern, so that a tiny model learns it in a few epochs of a debug build.
let patternText = String(repeating: "the cat sat on the mat. the dog ate the log.\n", count: 60)

/// A language-model config over `text` (a file path).
func lmConfig(_ text: String, epochs: Int = 3, extra: String = "") -> String {
    """
    data:
      text: {path: \(text)}
      window: 16
      split: {validation: 0.1, test: 0.1}
    model:
      preset: char-lstm
      options: {embedding: 8, hidden: 24, layers: 1}
    training:
      optimizer: {name: adam, lr: 0.03}
      batch_size: 8
      epochs: \(epochs)
      clip_grad_norm: 5
      seed: 3
      callbacks:
        checkpoint: {every_batches: 4}
    \(extra)
    """
}

/// One tiny language model trained once for the tests that sample from it.
let trainedLanguageModel: (dir: URL, outcome: SequenceOutcome) = {
    let dir = tempDirectory("lm")
    let text = write(patternText, "pattern.txt", in: dir)
    let config = write(lmConfig(text), "lm.yaml", in: dir)
    let run = dir.appendingPathComponent("run")
    let outcome = try! SequenceRunner.run(trainOptions(config, dir: run), console: CapturedConsole().console)
    return (run, outcome)
}()

@Suite struct LanguageModelRunTests {
    @Test func trainsAndReportsLossAndBitsPerCharacter() throws {
        let (dir, outcome) = trainedLanguageModel
        let h = outcome.history
        #expect(h.epochs == 3)
        for key in ["loss", "bpc", "val_loss", "val_bpc"] { #expect(h.metrics[key]?.count == 3, "\(key)") }
        let loss = h.metrics["val_loss"]!, bpc = h.metrics["val_bpc"]!
        #expect(loss.last! < loss.first!, "validation loss should fall: \(loss)")
        #expect(abs(bpc.last! - loss.last! / log(2)) < 1e-9)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as! [String: Any]
        let test = metrics["loss"] as! Double, testBPC = metrics["bpc"] as! Double
        #expect(abs(testBPC - test / log(2)) < 1e-9)
        #expect(test < log(Double(outcome.saved!.tokenizer!.count)), "test loss \(test) should beat a uniform guess")
        #expect((metrics["validation"] as! [String: Any])["bpc"] != nil)
        let history = try String(contentsOf: dir.appendingPathComponent("history.csv"), encoding: .utf8)
        #expect(history.hasPrefix("epoch,bpc,loss,lr,val_bpc,val_loss"))
    }

    @Test func modelFileRoundTripsTheVocabulary() throws {
        let (dir, outcome) = trainedLanguageModel
        let (file, model) = try SequenceModelFile.load(from: dir.path)
        #expect(file.tokenizer == outcome.saved!.tokenizer)
        #expect(file.tokenizer!.symbols == CharTokenizer(training: String(patternText.prefix(Int(Double(patternText.count) * 0.8)))).symbols)
        #expect(bits(model) == bits(outcome.model))
        // Other commands name what the directory holds instead of failing to decode it.
        #expect(throws: CLIError.self) { try SavedModel.read(from: dir.path) }
        let text = try InspectRunner.run(model: dir.path, json: false, console: CapturedConsole().console)
        #expect(text.contains("embedding.weight [\(file.tokenizer!.count), 8]") && text.contains("rnn.weight_hh_l0 [96, 24]"), "\(text)")
        let json = try InspectRunner.run(model: dir.path, json: true, console: CapturedConsole().console)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(object["vocabulary"] as? [String] == file.tokenizer!.symbols)
    }

    @Test func generationIsDeterministicForASeed() throws {
        let dir = trainedLanguageModel.dir.path
        let o = SamplingOptions(temperature: 0.8, topK: 5, seed: 1)
        let a = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 80, options: o)
        let b = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 80, options: o)
        #expect(a == b)
        #expect(a.hasPrefix("the ") && a.unicodeScalars.count == 84)
        let c = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 80, options: SamplingOptions(temperature: 0.8, topK: 5, seed: 2))
        #expect(a != c)
    }

    @Test func topOneIsGreedyArgmax() throws {
        let (dir, outcome) = trainedLanguageModel
        let topOne = try GenerateRunner.run(model: dir.path, prompt: "the c", tokens: 40, options: SamplingOptions(temperature: 1.5, topK: 1, seed: 9))
        // Greedy decoding by hand: feed the text so far (from a zero state) and take the argmax each time.
        let lm = outcome.model as! CharLanguageModel, tok = outcome.saved!.tokenizer!
        var ids = try tok.encode("the c")
        lm.eval()
        for _ in 0..<40 {
            let logits = withoutGrad { lm(Tensor(ids.map { Int64($0) }, shape: [1, ids.count]), state: nil).logits }
            let last = logits.select(axis: 1, ids.count - 1).reshaped([-1]).toArray(Float.self)
            ids.append(Int32(last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!))
        }
        #expect(topOne == tok.decode(ids))
        let zero = try GenerateRunner.run(model: dir.path, prompt: "the c", tokens: 40, options: SamplingOptions(temperature: 0, seed: 4))
        #expect(zero == topOne)
    }

    @Test func lowTemperatureFollowsTheModelHighTemperatureSpreads() throws {
        let dir = trainedLanguageModel.dir.path
        // The text has several equally likely words after "the ", so a cold sample is not the greedy one; but it
        // stays in the training words, while a hot one makes up words and uses more distinct characters.
        let known: Set<Substring> = ["the", "cat", "sat", "on", "mat", "dog", "ate", "log"]
        func sample(_ t: Double, _ seed: UInt64) throws -> String {
            try GenerateRunner.run(model: dir, prompt: "the ", tokens: 200, options: SamplingOptions(temperature: t, seed: seed))
        }
        func knownShare(_ s: String) -> Double {
            let words = s.split(whereSeparator: { " .\n".contains($0) }).dropLast()   // the last word may be cut off
            return Double(words.filter { known.contains($0) }.count) / Double(Swift.max(words.count, 1))
        }
        let cold = try sample(0.2, 1), hot = try sample(5, 1)
        #expect(knownShare(cold) > 0.95, "\(cold)")
        #expect(knownShare(hot) < knownShare(cold) - 0.3, "\(hot)")
        #expect(Set(hot).count > Set(cold).count, "a hot sample should use more distinct characters")
        // The unit draw: fixed logits, many draws; lower temperature puts more mass on the top token.
        let logits: [Float] = [2, 1, 0.5, 0]
        func share(_ t: Double) -> Double {
            var rng = RandomState(seed: 5)
            let o = SamplingOptions(temperature: t)
            return Double((0..<2000).filter { _ in o.pick(logits, rng: &rng) == 0 }.count) / 2000
        }
        let expected = { (t: Double) in exp(2 / t) / logits.map { exp(Double($0) / t) }.reduce(0, +) }
        #expect(abs(share(1) - expected(1)) < 0.04)
        #expect(abs(share(0.5) - expected(0.5)) < 0.04)
        #expect(share(0.5) > share(1) && share(1) > share(3))
        var rng = RandomState(seed: 1)
        #expect((0..<200).allSatisfy { _ in SamplingOptions(temperature: 1, topK: 2).pick(logits, rng: &rng) < 2 })
    }

    @Test func promptOutsideTheVocabulary() throws {
        let dir = trainedLanguageModel.dir.path
        #expect(throws: DataError.self) { try GenerateRunner.run(model: dir, prompt: "THE", tokens: 5, options: SamplingOptions()) }
        let replaced = try GenerateRunner.run(model: dir, prompt: "tHe", tokens: 5, options: SamplingOptions(), unknown: .replace)
        #expect(replaced.hasPrefix("tHe"))
    }

    @Test func resumedTrainingCarriesTheStateAndMatchesAnUninterruptedRun() throws {
        let dir = tempDirectory("lm-resume")
        let text = write(patternText, "pattern.txt", in: dir)
        let config = write(lmConfig(text, epochs: 2), "lm.yaml", in: dir)
        let full = try SequenceRunner.run(trainOptions(config, dir: dir.appendingPathComponent("full")), console: CapturedConsole().console)
        var o = trainOptions(config, dir: dir.appendingPathComponent("parts"))
        o.stopAfterBatches = 7
        let first = try SequenceRunner.run(o, console: CapturedConsole().console)
        #expect(first.interrupted)
        o.stopAfterBatches = nil
        o.resume = true
        let rest = try SequenceRunner.run(o, console: CapturedConsole().console)
        #expect(!rest.interrupted)
        #expect(bits(rest.model) == bits(full.model))
        #expect(rest.history.metrics["val_loss"] == full.history.metrics["val_loss"])
    }

    @Test func shuffledWindowsWithoutCarriedState() throws {
        let dir = tempDirectory("lm-windows")
        let text = write(patternText, "pattern.txt", in: dir)
        let config = write(lmConfig(text, epochs: 1).replacingOccurrences(of: "  window: 16", with: "  window: 16\n  stateful: false"), "lm.yaml", in: dir)
        let out = try SequenceRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        #expect(out.history.epochs == 1 && out.metrics != nil)
    }
}

@Suite struct ForecastRunTests {
    /// A monthly series with trend and season.
    static func seasonalCSV(in dir: URL) -> String {
        var lines = ["month,value"]
        for t in 0..<96 { lines.append("\(t),\(100 + Double(t) + 15 * sin(2 * Double.pi * Double(t) / 12))") }
        return write(lines.joined(separator: "\n") + "\n", "series.csv", in: dir)
    }

    static func config(_ csv: String) -> String {
        """
        data:
          series: {path: \(csv), column: value, date: month}
          window: 12
          horizon: 6
          season: 12
          scaling: standard
          split: {validation: 6, test: 12}
        model:
          preset: lstm-forecaster
          options: {hidden: 8, layers: 1}
        training:
          optimizer: {name: adam, lr: 0.02}
          batch_size: 16
          epochs: 4
          seed: 1
        """
    }

    @Test func reportsTheModelBesideNaiveAndSeasonalNaive() throws {
        let dir = tempDirectory("forecast")
        let config = write(Self.config(Self.seasonalCSV(in: dir)), "f.yaml", in: dir)
        let console = CapturedConsole()
        let out = try SequenceRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: console.console)
        let m = try JSONSerialization.jsonObject(with: Data(contentsOf: out.runDirectory.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect(m["forecasts"] as? Double == 7)   // origins 84...90 forecast 6 steps inside the last 12
        for part in ["model", "naive", "seasonal_naive"] {
            let s = try #require(m[part] as? [String: Any], "\(part)")
            #expect(Set(s.keys) == ["mae", "rmse", "mape", "smape", "mase"])
        }
        #expect(m["beats_baselines"] is Bool)
        #expect((m["validation"] as? [String: Any])?["forecasts"] as? Double == 1)
        // The seasonal naive figures are those of ForecastMetrics on the raw series, whatever the model did.
        let values = (0..<96).map { 100 + Double($0) + 15 * sin(2 * Double.pi * Double($0) / 12) }
        let origins = Array(84...90)
        let expected = ForecastMetrics.scores(actuals: origins.map { Array(values[$0..<($0 + 6)]) },
                                              forecasts: origins.map { ForecastMetrics.seasonalNaive(values, origin: $0, horizon: 6, season: 12) },
                                              scale: ForecastMetrics.maseScale(training: Array(values[..<78]), season: 12))
        let got = m["seasonal_naive"] as! [String: Any]
        #expect(abs((got["mase"] as! Double) - expected.mase) < 1e-9)
        #expect(console.output.contains("seasonal naive"))
        let (file, _) = try SequenceModelFile.load(from: out.runDirectory.path)
        #expect(file.series?.horizon == 6 && file.series?.scaler.kind == .standard)
    }

    @Test func configErrorsNameTheKey() {
        let text = "data: {text: {path: x.txt}, window: 8}\n"
        #expect(configError(text + "model: {preset: mlp}")?.contains("text data needs `preset: char-lstm` or `preset: char-gpt`") == true)
        #expect(configError("data: {dataset: digits}\nmodel: {preset: char-lstm}")?.contains("needs sequence data") == true)
        #expect(configError(text + "model: {preset: char-lstm, options: {horizon: 3}}")?.contains("model.options.horizon") == true)
        #expect(configError(text + "model: {preset: char-lstm}\nevaluation: {metrics: [mase]}")?.contains("evaluation.metrics[0]") == true)
        #expect(configError("data: {series: {path: a.csv, column: v}, horizon: 0}\nmodel: {preset: lstm-forecaster}")?.contains("data.horizon") == true)
        #expect(configError("data: {series: {path: a.csv, column: v}, stateful: true}\nmodel: {preset: lstm-forecaster}")?.contains("data.stateful") == true)
        #expect(configError("data: {dataset: digits}\nmodel: {preset: mlp}\ntraining: {clip_grad_norm: 1}")?.contains("clip_grad_norm") == true)
        #expect(configError(text + "model: {preset: char-lstm}") == nil)
    }
}
