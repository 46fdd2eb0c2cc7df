import Foundation

/// The data section of a sequence experiment: text for a character-level language model (`data.text`), or a CSV
/// series for forecasting (`data.series`). See the README's config schema.
public enum SequenceDataConfig: Sendable, Equatable {
    /// Character-level language modelling on plain text.
    case text(TextDataConfig)
    /// Multi-step forecasting of one CSV column.
    case series(SeriesDataConfig)
}

/// `data: {text: {path, pattern, unknown}, window, stateful, split: {validation, test}, limit: {train}}`.
public struct TextDataConfig: Sendable, Equatable {
    /// A text file or a folder of them.
    public var path: String
    /// Which files of a folder (`*`, `?` wildcards; default every file).
    public var pattern: String?
    /// Tokens per training window (the truncation length of backpropagation through time).
    public var window = 128
    /// Carry the recurrent state from batch to batch (each batch row continues the previous batch's row); false:
    /// shuffled windows, each from a zero state.
    public var stateful = true
    /// Fractions of the characters held out at the end, in order: validation, then test.
    public var validation = 0.05, test = 0.05
    /// Use at most this many training characters (quick runs), from the start of the training part.
    public var limitTrain: Int?
}

/// `data: {series: {path, column, date, missing}, window, horizon, season, scaling, split: {validation, test}}`.
public struct SeriesDataConfig: Sendable, Equatable {
    /// The CSV file.
    public var path: String
    /// The value column.
    public var column: String
    /// The time-stamp column, if any (shown in reports; the file's row order is the time order).
    public var date: String?
    /// Missing values: error, interpolate or drop.
    public var missing = TimeSeries.MissingPolicy.error
    /// Past steps the model sees.
    public var window = 24
    /// Steps forecast at once.
    public var horizon = 12
    /// Season length for the seasonal naive baseline and MASE (12 for monthly data, 1: none).
    public var season = 1
    /// Scaling fitted on the training part.
    public var scaling = SeriesScaler(kind: .standard)
    /// Steps held out at the end (a number >= 1), or fractions of the series (< 1): validation, then test.
    public var validation = 0.1, test = 0.2

    /// A held-out size in steps for a series of `n` steps.
    static func steps(_ v: Double, of n: Int) -> Int { v >= 1 ? Int(v) : Int((Double(n) * v).rounded()) }
}

/// The model of a sequence experiment: `preset: char-lstm` or `preset: lstm-forecaster` with options.
public struct SequenceModelConfig: Sendable, Equatable {
    /// The preset name.
    public var preset: String
    /// `lstm` (default), `gru` or `rnn`.
    public var cell = "lstm"
    /// Embedding size (char-lstm).
    public var embedding = 64
    /// Hidden units per recurrent layer.
    public var hidden = 256
    /// Recurrent layers.
    public var layers = 2
    /// Dropout between recurrent layers and before the head.
    public var dropout = 0.0
    /// Forecaster: inputs and targets relative to the window's last value (helps a trended series).
    public var relative = true
    /// char-gpt: model width, attention heads and context length (positions with an embedding; training windows
    /// longer than this are refused).
    public var dModel = 128, heads = 4, context = 128
    /// char-gpt: the output projection is the token embedding's weight.
    public var tieWeights = false
}

/// Preset names of the sequence models and the options each reads.
enum SequencePreset {
    static let languageModel = "char-lstm", forecaster = "lstm-forecaster", gpt = "char-gpt"
    static let names = [languageModel, forecaster, gpt]
    static let options: [String: [String]] = [
        languageModel: ["cell", "embedding", "hidden", "layers", "dropout"],
        forecaster: ["cell", "hidden", "layers", "dropout", "relative"],
        gpt: ["d_model", "heads", "layers", "context", "dropout", "tie_weights"],
    ]
    static let cells = ["lstm", "gru", "rnn"]
}

/// Metric names of sequence experiments.
enum SequenceMetricName {
    static let text = ["loss", "bpc", "perplexity"]
    static let series = ["mae", "rmse", "mape", "smape", "mase"]
}

/// Parses `data.text` / `data.series` and their sibling keys into `d`.
func parseSequenceData(_ m: ConfigMapping, path: String, into d: inout DataConfig) throws {
    let text = m.optional("text"), series = m.optional("series")
    for key in ["dataset", "train", "test", "task", "directory", "scale", "shape", "preparation", "augmentation"] {
        if let x = m.optional(key) { throw x.error("not used with data.\(text != nil ? "text" : "series")") }
    }
    if let t = text, series != nil { throw t.error("give either data.text or data.series, not both") }
    func fractionOrSteps(_ x: ConfigValue, steps: Bool) throws -> Double {
        let v = try x.double()
        if steps, v >= 1 {
            guard v == v.rounded(), v <= Double(ConfigLimits.maxSize) else { throw x.mismatch("a whole number of steps or a fraction in [0, 0.9]") }
            return v
        }
        guard v >= 0, v <= 0.9 else { throw x.mismatch(steps ? "a whole number of steps or a fraction in [0, 0.9]" : "a fraction in [0, 0.9]") }
        return v
    }
    func parseSplit(_ isSeries: Bool) throws -> (Double?, Double?) {
        guard let s = m.optional("split") else { return (nil, nil) }
        let sm = try s.mapping()
        let v = try sm.optional("validation").map { try fractionOrSteps($0, steps: isSeries) }
        let t = try sm.optional("test").map { try fractionOrSteps($0, steps: isSeries) }
        try sm.finish()
        return (v, t)
    }
    if let t = text {
        d.task = .classification
        var c: TextDataConfig
        if t.isScalar {
            c = TextDataConfig(path: try t.string())
        } else {
            let tm = try t.mapping()
            c = TextDataConfig(path: try tm.required("path", expected: "a text file or a folder of text files").string())
            if let p = tm.optional("pattern") { c.pattern = try p.string() }
            try tm.finish()
        }
        if let w = m.optional("window") { c.window = try w.int(atLeast: 1, atMost: 1 << 16) }
        if let s = m.optional("stateful") { c.stateful = try s.bool() }
        let (v, te) = try parseSplit(false)
        if let v { c.validation = v }
        if let te { c.test = te }
        if c.validation + c.test >= 0.95, let s = m.optional("split") { throw s.error("validation + test must leave text to train on") }
        if let l = m.optional("limit") {
            let lm = try l.mapping()
            if let x = lm.optional("train") { c.limitTrain = try x.int(atLeast: 2) }
            try lm.finish()
        }
        for key in ["horizon", "season", "scaling"] {
            if let x = m.optional(key) { throw x.error("applies to data.series only") }
        }
        d.split.validation = c.validation
        d.split.test = c.test
        d.sequence = .text(c)
    } else if let s = series {
        d.task = .regression
        let sm = try s.mapping()
        var c = SeriesDataConfig(path: try sm.required("path", expected: "a CSV file").string(),
                                 column: try sm.required("column", expected: "the value column's name").string())
        if let x = sm.optional("date") { c.date = try x.string() }
        if let x = sm.optional("missing") {
            c.missing = TimeSeries.MissingPolicy(rawValue: try x.choice(TimeSeries.MissingPolicy.allCases.map(\.rawValue)))!
        }
        try sm.finish()
        if let x = m.optional("window") { c.window = try x.int(atLeast: 1, atMost: 1 << 16) }
        if let x = m.optional("horizon") { c.horizon = try x.int(atLeast: 1, atMost: 1 << 16) }
        if let x = m.optional("season") { c.season = try x.int(atLeast: 1, atMost: 1 << 16) }
        if let x = m.optional("scaling") {
            let kinds = SeriesScaler.Kind.allCases.map(\.rawValue)
            if x.isScalar {
                c.scaling = SeriesScaler(kind: SeriesScaler.Kind(rawValue: try x.choice(kinds))!)
            } else {
                let xm = try x.mapping()
                if let k = xm.optional("kind") { c.scaling.kind = SeriesScaler.Kind(rawValue: try k.choice(kinds))! }
                if let l = xm.optional("log") { c.scaling.log = try l.bool() }
                try xm.finish()
            }
        }
        let (v, te) = try parseSplit(true)
        if let v { c.validation = v }
        if let te {
            guard te > 0 else { throw m.optional("split")!.error("data.split.test must hold out at least one forecast") }
            c.test = te
        }
        for key in ["stateful", "limit"] {
            if let x = m.optional(key) { throw x.error("applies to data.text only") }
        }
        d.split.validation = c.validation
        d.split.test = c.test
        d.sequence = .series(c)
    }
    _ = path
}

/// Parses the options of a sequence preset.
func parseSequenceModel(_ preset: String, options: ConfigValue?) throws -> SequenceModelConfig {
    var c = SequenceModelConfig(preset: preset)
    if preset == SequencePreset.forecaster { c.hidden = 64; c.layers = 1 }
    if preset == SequencePreset.gpt { c.cell = "gpt"; c.layers = 4 }
    guard let options else { return c }
    let m = try options.mapping()
    let known = SequencePreset.options[preset] ?? []
    for key in m.keys where !known.contains(key) {
        throw m.optional(key)!.error("not an option of \(preset) (its options: \(known.joined(separator: ", ")))")
    }
    if let x = m.optional("cell") { c.cell = try x.choice(SequencePreset.cells) }
    if let x = m.optional("embedding") { c.embedding = try x.int(atLeast: 1, atMost: 1 << 14) }
    if let x = m.optional("hidden") { c.hidden = try x.int(atLeast: 1, atMost: 1 << 14) }
    if let x = m.optional("layers") { c.layers = try x.int(atLeast: 1, atMost: 64) }
    if let x = m.optional("dropout") { c.dropout = try x.double(in: 0...0.9, "a probability in [0, 0.9]") }
    if let x = m.optional("relative") { c.relative = try x.bool() }
    if let x = m.optional("d_model") { c.dModel = try x.int(atLeast: 1, atMost: 1 << 14) }
    if let x = m.optional("heads") { c.heads = try x.int(atLeast: 1, atMost: 256) }
    if let x = m.optional("context") { c.context = try x.int(atLeast: 1, atMost: 1 << 16) }
    if let x = m.optional("tie_weights") { c.tieWeights = try x.bool() }
    if preset == SequencePreset.gpt, c.dModel % c.heads != 0, let x = m.optional("heads") {
        throw x.error("d_model (\(c.dModel)) must be a multiple of heads (\(c.heads))")
    }
    try m.finish()
    return c
}

/// `evaluation.metrics` of a sequence experiment.
func parseSequenceEvaluation(_ v: ConfigValue?, data: SequenceDataConfig) throws -> EvaluationConfig {
    var e = EvaluationConfig()
    guard let v else { return e }
    let m = try v.mapping()
    if let ms = m.optional("metrics") {
        let allowed: [String]
        if case .text = data { allowed = SequenceMetricName.text } else { allowed = SequenceMetricName.series }
        e.metrics = try ms.list().map { try $0.choice(allowed, what: "a metric (\(allowed.joined(separator: ", ")))") }
    }
    try m.finish()
    return e
}

/// Text needs `char-lstm`, a series `lstm-forecaster`, and the sequence presets need sequence data; gradient clipping
/// is done by the sequence trainer only.
func checkSequenceModel(data: DataConfig, model: ModelConfig, training: TrainingConfig, top: ConfigMapping) throws {
    let modelAt = top.optional("model")!
    switch (data.sequence, model.sequence?.preset) {
    case (nil, nil):
        if training.clipGradNorm != nil, let t = top.optional("training") {
            throw t.error("clip_grad_norm applies to sequence models (data.text, data.series) only")
        }
    case (.text?, SequencePreset.languageModel?), (.text?, SequencePreset.gpt?), (.series?, SequencePreset.forecaster?):
        break
    case (.text?, _):
        throw modelAt.error("text data needs `preset: \(SequencePreset.languageModel)` or `preset: \(SequencePreset.gpt)`")
    case (.series?, _):
        throw modelAt.error("series data needs `preset: \(SequencePreset.forecaster)`")
    case (nil, let p?):
        throw modelAt.error("the \(p) preset needs sequence data (data.\(p == SequencePreset.forecaster ? "series" : "text"))")
    }
}
