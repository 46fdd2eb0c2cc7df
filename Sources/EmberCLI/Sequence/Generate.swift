import ArgumentParser
import Foundation

/// How `ember generate` picks each next character from the model's logits.
public struct SamplingOptions: Sendable, Equatable {
    /// Divides the logits before the softmax: below 1 sharper, above 1 flatter; 0 picks the most likely character.
    public var temperature = 1.0
    /// Keep only the `topK` most likely characters (nil or 0: all). 1 is greedy decoding.
    public var topK: Int?
    /// Keep only the most likely characters whose probabilities (after temperature and top-k) add up to at least
    /// `topP` (nucleus sampling; nil or 1: all).
    public var topP: Double?
    /// The seed of the draws: the same seed, model and prompt give the same text.
    public var seed: UInt64 = 0

    /// Default options: temperature 1, every character, seed 0.
    public init(temperature: Double = 1, topK: Int? = nil, topP: Double? = nil, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.seed = seed
    }

    /// Picks a token from `logits` (one row), drawing from `rng`. The probabilities are computed in double precision
    /// from the logits in a fixed order, so a draw depends only on the logits and the generator's position.
    public func pick(_ logits: [Float], rng: inout RandomState) -> Int {
        precondition(!logits.isEmpty, "SamplingOptions.pick: no logits")
        // Candidates by decreasing logit, ties by lower id (a stable, deterministic order).
        var order = Array(logits.indices)
        order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if temperature == 0 || topK == 1 { return order[0] }
        if let k = topK, k > 0, k < order.count { order = Array(order.prefix(k)) }
        let top = Double(logits[order[0]])
        var weights = order.map { Foundation.exp((Double(logits[$0]) - top) / temperature) }
        if let p = topP, p < 1 {
            // the smallest prefix (by decreasing probability) whose mass reaches p
            let all = weights.reduce(0, +)
            var acc = 0.0, keep = 0
            while keep < weights.count {
                acc += weights[keep]
                keep += 1
                if acc >= p * all { break }
            }
            weights = Array(weights.prefix(keep))
            order = Array(order.prefix(keep))
        }
        let total = weights.reduce(0, +)
        let u = rng.nextDouble() * total
        var acc = 0.0
        for (i, w) in weights.enumerated() {
            acc += w
            if u < acc { return order[i] }
        }
        return order[order.count - 1]
    }
}

/// Samples text from a trained character-level language model.
public enum TextGenerator {
    /// The prompt followed by `count` sampled characters. The prompt is run through the model in one pass; then each
    /// sampled character is fed back with the recurrent state carried, without gradients.
    /// - Throws: `DataError` when the prompt has a character outside the vocabulary and `unknown` is `.error`.
    public static func generate(_ model: CharLanguageModel, tokenizer: CharTokenizer, prompt: String, count: Int,
                                options: SamplingOptions, unknown: CharTokenizer.UnknownPolicy = .error) throws -> String {
        precondition(count >= 0, "TextGenerator.generate: count must be non-negative, got \(count)")
        var ids = try tokenizer.encode(prompt, unknown: unknown, source: "the prompt")
        let promptCount = ids.count
        // An empty prompt starts from a newline when the vocabulary has one (a fresh line), else the first symbol.
        if ids.isEmpty { ids = [tokenizer.id(of: "\n") ?? (tokenizer.count > 1 ? 1 : 0)] }
        var rng = RandomState(seed: options.seed)
        let was = model.training
        model.eval()
        defer { model.train(was) }
        var out: [Int32] = []
        out.reserveCapacity(count)
        withoutGrad {
            var (logits, state) = model(Tensor(ids.map { Int64($0) }, shape: [1, ids.count]), state: nil)
            var last = logits.select(axis: 1, ids.count - 1).reshaped([-1]).cast(.float32).toArray(Float.self)
            for _ in 0..<count {
                let next = Int32(options.pick(last, rng: &rng))
                out.append(next)
                (logits, state) = model(Tensor([Int64(next)], shape: [1, 1]), state: state)
                last = logits.reshaped([-1]).cast(.float32).toArray(Float.self)
            }
        }
        return (promptCount > 0 ? prompt : "") + tokenizer.decode(out)
    }

    /// The prompt followed by `count` characters sampled from a GPT, with its key/value cache (`useCache`, each
    /// new character runs through the model once) or without (the whole window again for every character). Within
    /// the context both give the same text for the same seed.
    public static func generate(_ model: GPT, tokenizer: CharTokenizer, prompt: String, count: Int, options: SamplingOptions,
                                unknown: CharTokenizer.UnknownPolicy = .error, useCache: Bool = true) throws -> String {
        precondition(count >= 0, "TextGenerator.generate: count must be non-negative, got \(count)")
        var ids = try tokenizer.encode(prompt, unknown: unknown, source: "the prompt")
        let promptCount = ids.count
        if ids.isEmpty { ids = [tokenizer.id(of: "\n") ?? (tokenizer.count > 1 ? 1 : 0)] }
        var rng = RandomState(seed: options.seed)
        let out = model.generate(prompt: ids.map { Int($0) }, count: count, useCache: useCache) { options.pick($0, rng: &rng) }
        return (promptCount > 0 ? prompt : "") + tokenizer.decode(out.map { Int32($0) })
    }
}

/// `ember generate RUN_DIR`: text from a trained character-level language model.
public struct GenerateCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample text from a character-level language model (char-lstm or char-gpt), or images from a GAN, trained by `ember train`.",
        discussion: """
            GAN runs (presets dcgan, cgan, wgan-gp): --count images drawn with --seed are written to --output, a PNG \
            grid or a .npy array (float32 [N, C, H, W] in [-1, 1]); --class (an index or a name) asks a conditional GAN \
            for one class. The same seed gives the same bits; an existing file is replaced only if `ember generate` \
            wrote it.

            The prompt is encoded with the model's saved vocabulary and run through the network; then --tokens \
            characters are drawn one at a time, the recurrent state carried from each to the next. --temperature \
            below 1 sharpens the distribution (0: always the most likely character), --top-k keeps the k most likely \
            characters (1: greedy), --top-p the most likely characters holding probability p. A char-gpt model keeps a \
            key/value cache of the positions it has seen (--no-cache recomputes the window for every character). The \
            same --seed, model and prompt give the same text.
            """)

    /// The run directory.
    @Argument(help: "Run directory written by `ember train` for a char-lstm model.")
    public var model: String

    /// Prompt.
    @Option(help: "Text to start from (default: none, a fresh line).")
    public var prompt = ""

    /// Characters to sample.
    @Option(parsing: .unconditional, help: "Characters to generate.")
    public var tokens = 300

    /// Temperature.
    @Option(parsing: .unconditional, help: "Sampling temperature (> 0; 0: greedy).")
    public var temperature = 1.0

    /// Top-k.
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Sample among the k most likely characters only (0: all).")
    public var topK = 0

    /// Top-p.
    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Sample among the most likely characters whose probabilities add up to p (1: all).")
    public var topP = 1.0

    /// Seed.
    @Option(parsing: .unconditional, help: "Seed of the draws.")
    public var seed = 0

    /// Without the key/value cache (GPT models).
    @Flag(name: .customLong("no-cache"), help: "GPT models: recompute the whole window for every character instead of using the key/value cache (for comparison).")
    public var noCache = false

    /// Unknown characters.
    @Option(help: "Prompt characters outside the vocabulary: error, replace (the unknown token) or skip.")
    public var unknown = "error"

    /// Images to generate (GAN runs).
    @Option(parsing: .unconditional, help: "Images to generate (GAN runs; default 64).")
    public var count: Int?

    /// The class of a conditional GAN's samples.
    @Option(name: .customLong("class"), help: "Class index or name of the images (conditional GAN runs).")
    public var classLabel: String?

    /// Output file (GAN runs).
    @Option(help: "Output file of a GAN run's images: .png (grid) or .npy.")
    public var output: String?

    /// Parsed from the command line.
    public init() {}

    /// Numbers in range.
    public func validate() throws {
        if let count, !(1...100_000).contains(count) { throw ValidationError("--count must be in 1...100000, got \(count)") }
        guard tokens >= 0 && tokens <= 10_000_000 else { throw ValidationError("--tokens must be in 0...10000000, got \(tokens)") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature must be a non-negative number, got \(temperature)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be a non-negative integer, got \(topK)") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        guard seed >= 0 else { throw ValidationError("--seed must be a non-negative integer, got \(seed)") }
        guard CharTokenizer.UnknownPolicy(rawValue: unknown) != nil else { throw ValidationError("--unknown must be error, replace or skip, got \(unknown)") }
    }

    /// Runs the command.
    public func run() throws {
        try reportingErrors {
            if GANModelFile.isGANRun(model) {
                guard let output else { throw CLIError("--output FILE.png or FILE.npy: where to write the images of GAN run \(model)") }
                try GANGenerate.run(model: model, count: count ?? 64, classLabel: classLabel, seed: UInt64(seed), output: output,
                                    console: .standard)
                return 0
            }
            if count != nil || classLabel != nil || output != nil {
                throw CLIError("--count, --class and --output apply to GAN runs; \(model) is not one (text generation prints to standard output)")
            }
            let text = try GenerateRunner.run(model: model, prompt: prompt, tokens: tokens,
                                              options: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: UInt64(seed)),
                                              unknown: CharTokenizer.UnknownPolicy(rawValue: unknown)!, useCache: !noCache)
            Console.standard.line(text)
            return 0
        }
    }
}

/// `ember generate`'s logic, callable in-process.
public enum GenerateRunner {
    /// Loads the run directory's language model and samples from it.
    public static func run(model path: String, prompt: String, tokens: Int, options: SamplingOptions,
                           unknown: CharTokenizer.UnknownPolicy = .error, useCache: Bool = true) throws -> String {
        let (file, module) = try SequenceModelFile.load(from: path)
        if let gpt = module as? GPT, let tok = file.tokenizer {
            return try TextGenerator.generate(gpt, tokenizer: tok, prompt: prompt, count: tokens, options: options,
                                              unknown: unknown, useCache: useCache)
        }
        guard let lm = module as? CharLanguageModel, let tok = file.tokenizer else {
            throw CLIError("\(path) holds a forecaster, not a language model: its forecasts are in metrics.json")
        }
        return try TextGenerator.generate(lm, tokenizer: tok, prompt: prompt, count: tokens, options: options, unknown: unknown)
    }
}
