import Foundation

/// `data: {passages: {dir, works, lines, per_work, block}, split: {validation, test}}`: passages of spoken text
/// from plays, labelled with the work they come from (see `PlayPassages` for what counts as spoken text and how the
/// parts are assigned without leakage).
public struct PassagesDataConfig: Sendable, Equatable {
    /// The folder with one text file per work.
    public var directory: String
    /// The works (file stems: `hamlet` reads `hamlet.txt` or `hamlet_gut.txt`), in class order.
    public var works: [String]
    /// Lines per passage.
    public var lines = 3
    /// At most this many passages per work, spread evenly over the work (nil: all).
    public var perWork: Int?
    /// Consecutive passages that stay together in one part.
    public var block = 8
    /// Fractions of each work's blocks held out for validation and test.
    public var validation = 0.1, test = 0.2
}

/// The scratch preset `text-transformer`: a small pre-norm Transformer encoder over token ids, mean-pooled, linear.
public struct TextTransformerConfig: Sendable, Equatable {
    /// `characters` (a vocabulary of the training passages' characters) or a folder with a WordPiece `vocab.txt`
    /// (e.g. the MiniLM folder, so the scratch model sees the same tokens as the pretrained one).
    public var tokenizer = "characters"
    /// Width, attention heads, layers and feed-forward width.
    public var dModel = 128, heads = 4, layers = 2, feedforward = 512
    /// Longest input in tokens (longer passages are cut).
    public var maxTokens = 128
    /// Dropout inside the encoder layers.
    public var dropout = 0.1
}

/// Preset names of text classifiers and their options.
enum TextPreset {
    static let transformer = "text-transformer"
    static let names = [transformer]
    static let options = ["tokenizer", "d_model", "heads", "layers", "feedforward", "max_tokens", "dropout"]
}

/// Parses `data.passages` and its sibling `split` into `d`.
func parsePassagesData(_ m: ConfigMapping, into d: inout DataConfig) throws {
    let p = m.optional("passages")!
    for key in m.keys where !["passages", "split"].contains(key) {
        throw m.optional(key)!.error("not used with data.passages (its keys: passages, split)")
    }
    let pm = try p.mapping()
    var c = PassagesDataConfig(directory: try pm.required("dir", expected: "the folder with one text file per work").string(), works: [])
    let works = try pm.required("works", expected: "a list of at least two work names (file stems)")
    let items = try works.list()
    guard items.count >= 2 else { throw works.mismatch("a list of at least two work names (file stems)") }
    for item in items {
        let name = try item.string()
        guard !name.isEmpty, !name.contains("/") else { throw item.mismatch("a file stem without '/'") }
        guard !c.works.contains(name) else { throw item.error("\(jsonQuoted(name)) is listed twice") }
        c.works.append(name)
    }
    if let x = pm.optional("lines") { c.lines = try x.int(atLeast: 1, atMost: 1000) }
    if let x = pm.optional("per_work") { c.perWork = try x.int(atLeast: 1) }
    if let x = pm.optional("block") { c.block = try x.int(atLeast: 1, atMost: 100_000) }
    try pm.finish()
    if let s = m.optional("split") {
        let sm = try s.mapping()
        if let x = sm.optional("validation") { c.validation = try x.double(in: 0...0.9, "a fraction in [0, 0.9]") }
        if let x = sm.optional("test") {
            c.test = try x.double(in: 0...0.9, "a fraction in (0, 0.9]")
            if c.test == 0 { throw x.mismatch("a fraction in (0, 0.9]") }
        }
        try sm.finish()
        if c.validation + c.test >= 0.95 { throw s.error("validation + test must leave passages to train on") }
    }
    d.task = .classification
    d.split.validation = c.validation
    d.split.test = c.test
    d.passages = c
}

/// Parses the options of `preset: text-transformer`.
func parseTextTransformer(_ options: ConfigValue?) throws -> TextTransformerConfig {
    var c = TextTransformerConfig()
    guard let options else { return c }
    let m = try options.mapping()
    for key in m.keys where !TextPreset.options.contains(key) {
        throw m.optional(key)!.error("not an option of \(TextPreset.transformer) (its options: \(TextPreset.options.joined(separator: ", ")))")
    }
    if let x = m.optional("tokenizer") {
        c.tokenizer = try x.string()
        if c.tokenizer.isEmpty { throw x.mismatch("`characters` or a folder with a WordPiece vocab.txt") }
    }
    if let x = m.optional("d_model") { c.dModel = try x.int(atLeast: 1, atMost: 4096) }
    if let x = m.optional("heads") { c.heads = try x.int(atLeast: 1, atMost: 256) }
    if let x = m.optional("layers") { c.layers = try x.int(atLeast: 1, atMost: 48) }
    if let x = m.optional("feedforward") { c.feedforward = try x.int(atLeast: 1, atMost: 1 << 16) }
    if let x = m.optional("max_tokens") { c.maxTokens = try x.int(atLeast: 2, atMost: 1 << 14) }
    if let x = m.optional("dropout") { c.dropout = try x.double(in: 0...0.9, "a probability in [0, 0.9]") }
    if c.dModel % c.heads != 0, let x = m.optional("heads") { throw x.error("d_model (\(c.dModel)) must be a multiple of heads (\(c.heads))") }
    try m.finish()
    return c
}

/// Passages need `preset: text-transformer` or `pretrained`; the text preset needs passages; LoRA, freezing and
/// learning-rate groups of a text classifier are checked when the model is built (they name parameters).
func checkTextModel(data: DataConfig, model: ModelConfig, top: ConfigMapping) throws {
    let modelAt = top.optional("model")!
    switch (data.passages != nil, model.text != nil || model.transfer != nil) {
    case (true, false):
        throw modelAt.error("passages need `preset: \(TextPreset.transformer)` or `pretrained:` (a sentence-transformers folder or a text classifier run)")
    case (false, true) where model.text != nil:
        throw modelAt.error("the \(TextPreset.transformer) preset needs text passages (data.passages)")
    default: break
    }
}
