import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// `preset: char-gpt`: a tiny GPT trained on the pattern text through `ember train`, its run directory read back,
/// `ember generate` with and without the key/value cache, and the config checks.
@Suite struct GPTSequenceTests {
    static func config(_ text: String, extra: String = "") -> String {
        """
        data:
          text: {path: \(text)}
          window: 16
          split: {validation: 0.1, test: 0.1}
        model:
          preset: char-gpt
          options: {d_model: 16, heads: 2, layers: 2, context: 24, dropout: 0.1\(extra)}
        training:
          optimizer: {name: adamw, lr: 0.01, weight_decay: 0.01}
          batch_size: 8
          epochs: 3
          clip_grad_norm: 1
          seed: 3
        """
    }

    static let trained: (dir: URL, outcome: SequenceOutcome) = {
        let dir = tempDirectory("gpt")
        let text = write(patternText, "pattern.txt", in: dir)
        let path = write(Self.config(text), "gpt.yaml", in: dir)
        let run = dir.appendingPathComponent("run")
        let outcome = try! SequenceRunner.run(trainOptions(path, dir: run), console: CapturedConsole().console)
        return (run, outcome)
    }()

    @Test func trainsAndSavesAGPT() throws {
        let (dir, outcome) = Self.trained
        let loss = outcome.history.metrics["val_loss"]!
        #expect(loss.count == 3 && loss.last! < loss.first!, "validation loss should fall: \(loss)")
        let (file, model) = try SequenceModelFile.load(from: dir.path)
        #expect(file.spec.isGPT && file.spec.heads == 2 && file.spec.context == 24)
        let gpt = try #require(model as? GPT)
        #expect(gpt.stateDict().map(\.0).prefix(3) == ["wte.weight", "wpe.weight", "blocks.0.ln1.weight"])
        #expect(bits(model) == bits(outcome.model))
    }

    /// Within the context, the cached and the uncached generation draw the same characters for the same seed.
    @Test func cachedAndUncachedGenerationAgree() throws {
        let dir = Self.trained.dir.path
        for seed in [1, 2] as [UInt64] {
            let o = SamplingOptions(temperature: 0.9, topK: 8, topP: 0.95, seed: seed)
            let cached = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 19, options: o, useCache: true)
            let uncached = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 19, options: o, useCache: false)
            #expect(cached == uncached)
            #expect(cached.unicodeScalars.count == 23)
        }
        let greedy = try GenerateRunner.run(model: dir, prompt: "the c", tokens: 12, options: SamplingOptions(temperature: 0), useCache: true)
        #expect(greedy == (try GenerateRunner.run(model: dir, prompt: "the c", tokens: 12, options: SamplingOptions(temperature: 0), useCache: false)))
        // beyond the context (24): both keep sampling valid characters
        let long = try GenerateRunner.run(model: dir, prompt: "the ", tokens: 60, options: SamplingOptions(seed: 3))
        #expect(long.unicodeScalars.count == 64)
    }

    @Test func topPKeepsTheSmallestLikelySet() {
        // probabilities ~ [0.64, 0.24, 0.09, 0.03]: p 0.7 keeps two, p 0.5 only the first
        let logits: [Float] = [3, 2, 1, 0]
        var rng = RandomState(seed: 1)
        let one = SamplingOptions(topP: 0.5)
        #expect((0..<50).allSatisfy { _ in one.pick(logits, rng: &rng) == 0 })
        let two = SamplingOptions(topP: 0.7)
        let picks = Set((0..<200).map { _ in two.pick(logits, rng: &rng) })
        #expect(picks == [0, 1])
    }

    @Test func configErrors() {
        let text = "data: {text: {path: x.txt}, window: 64}\n"
        #expect(configError(text + "model: {preset: char-gpt, options: {d_model: 10, heads: 3}}")?.contains("model.options.heads") == true)
        #expect(configError(text + "model: {preset: char-gpt, options: {hidden: 3}}")?.contains("not an option of char-gpt") == true)
    }
}
