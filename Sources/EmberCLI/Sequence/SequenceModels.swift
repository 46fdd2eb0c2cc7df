import Foundation

/// The state a recurrent stack carries between calls: the hidden state, and for an LSTM the cell state, each
/// `[layers, batch, hidden]`.
public struct RecurrentState {
    /// Hidden state.
    public var h: Tensor
    /// Cell state (LSTM only).
    public var c: Tensor?

    /// The same state cut from the tape (truncated backpropagation through time).
    public func detached() -> RecurrentState { RecurrentState(h: h.detached(), c: c?.detached()) }
}

/// What a saved sequence model is: its kind and sizes, enough to rebuild it before loading its weights.
public struct SequenceModelSpec: Codable, Equatable, Sendable {
    /// A next-token model or a multi-step forecaster.
    public enum Kind: String, Codable, Sendable {
        /// Embedding -> recurrent stack -> linear head over the vocabulary.
        case languageModel = "language_model"
        /// Recurrent stack over a window of values -> linear head of `outputs` forecast steps.
        case forecaster
    }
    /// The kind.
    public var kind: Kind
    /// `lstm`, `gru` or `rnn`.
    public var cell: String
    /// Vocabulary size (language model) or input features (forecaster).
    public var inputs: Int
    /// Embedding size (language model).
    public var embedding: Int?
    /// Hidden units and layers of the recurrent stack.
    public var hidden: Int, layers: Int
    /// Dropout between recurrent layers and before the head (training only).
    public var dropout: Double
    /// Vocabulary size (language model) or forecast steps (forecaster).
    public var outputs: Int
    /// Forecaster: works relative to the last value of each window.
    public var relative: Bool?
    /// GPT (cell `gpt`): attention heads, context length and weight tying (`embedding` and `hidden` are d_model).
    public var heads: Int?, context: Int?, tieWeights: Bool?

    /// Whether this is a GPT (`preset: char-gpt`).
    public var isGPT: Bool { cell == "gpt" }

    /// The GPT sizes of a `gpt` spec.
    public var gptConfig: GPTConfig {
        GPTConfig(vocabSize: inputs, context: context ?? 128, dModel: hidden, heads: heads ?? 1, layers: layers,
                  dropout: dropout, tieWeights: tieWeights ?? false)
    }

    /// The parameters of this model.
    var parameterCount: Int {
        if isGPT { return gptConfig.parameterCount }
        let g = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1
        var n = 0
        for l in 0..<layers {
            let i = l == 0 ? (embedding ?? inputs) : hidden
            n += g * hidden * (i + hidden + 2)
        }
        return n + (embedding.map { $0 * inputs } ?? 0) + hidden * outputs + outputs
    }

    /// Sizes in range, a known cell (values from a file).
    func validate() -> String? {
        if isGPT {
            guard kind == .languageModel, let h = heads, let c = context, h >= 1, c >= 1, c <= 1 << 16, hidden % h == 0 else {
                return "a gpt needs kind language_model, heads dividing hidden (d_model) and a context in 1...65536"
            }
        } else if !SequencePreset.cells.contains(cell) { return "cell must be one of \(SequencePreset.cells.joined(separator: ", ")), got \(jsonQuoted(cell))" }
        for (name, v) in [("inputs", inputs), ("hidden", hidden), ("layers", layers), ("outputs", outputs), ("embedding", embedding ?? 1)]
        where !(1...(1 << 20)).contains(v) {
            return "\(name) must be in 1...\(1 << 20), got \(v)"
        }
        guard dropout >= 0 && dropout < 1 else { return "dropout must be in [0, 1), got \(dropout)" }
        guard kind == .forecaster || embedding != nil else { return "a language model needs `embedding`" }
        guard parameterCount <= ConfigLimits.maxParameters else { return "more than \(grouped(ConfigLimits.maxParameters)) parameters" }
        return nil
    }
}

/// Builds the recurrent stack of `spec` (batch-first).
private func recurrentStack(_ spec: SequenceModelSpec, input: Int, generator: Generator) -> RecurrentLayer {
    let dropout = spec.layers > 1 ? spec.dropout : 0
    switch spec.cell {
    case "gru": return GRU(input, spec.hidden, numLayers: spec.layers, batchFirst: true, dropout: dropout, generator: generator)
    case "rnn": return RNN(input, spec.hidden, numLayers: spec.layers, batchFirst: true, dropout: dropout, generator: generator)
    default: return LSTM(input, spec.hidden, numLayers: spec.layers, batchFirst: true, dropout: dropout, generator: generator)
    }
}

/// Runs `rnn` over batch-first `x` from `state`, returning the outputs and the final state.
private func runStack(_ rnn: RecurrentLayer, _ x: Tensor, _ state: RecurrentState?) -> (Tensor, RecurrentState) {
    switch rnn {
    case let lstm as LSTM:
        let (y, s) = lstm(x, state.map { ($0.h, $0.c!) })
        return (y, RecurrentState(h: s.h, c: s.c))
    case let gru as GRU:
        let (y, h) = gru(x, state?.h)
        return (y, RecurrentState(h: h, c: nil))
    case let rnn as RNN:
        let (y, h) = rnn(x, state?.h)
        return (y, RecurrentState(h: h, c: nil))
    default:
        preconditionFailure("runStack: unknown recurrent layer \(type(of: rnn))")
    }
}

/// A character-level language model: token ids `[B, T]` -> embedding -> recurrent stack -> dropout -> linear head,
/// giving next-token logits `[B, T, vocabulary]`. State-dict names: `embedding.weight`, `rnn.weight_ih_l0`, ...,
/// `head.weight`, `head.bias` (as a PyTorch module with those attribute names would have them).
public final class CharLanguageModel: Module {
    /// The sizes.
    public let spec: SequenceModelSpec
    /// Token embeddings.
    public let embedding: Embedding
    /// The recurrent stack.
    public let rnn: RecurrentLayer
    /// Dropout before the head.
    public let dropout: Dropout
    /// The output layer.
    public let head: Linear

    /// A model of `spec` (kind `.languageModel`), initialized from `generator`.
    public init(_ spec: SequenceModelSpec, generator: Generator) {
        precondition(spec.kind == .languageModel && spec.embedding != nil, "CharLanguageModel: needs a language-model spec, got \(spec)")
        self.spec = spec
        embedding = Embedding(spec.inputs, spec.embedding!, generator: generator)
        rnn = recurrentStack(spec, input: spec.embedding!, generator: generator)
        dropout = Dropout(spec.dropout, generator: generator)
        head = Linear(spec.hidden, spec.outputs, generator: generator)
    }

    /// Logits `[B, T, vocabulary]` for int64 tokens `[B, T]`, and the state after the last token.
    public func callAsFunction(_ tokens: Tensor, state: RecurrentState?) -> (logits: Tensor, state: RecurrentState) {
        precondition(tokens.rank == 2, "CharLanguageModel: tokens must be [batch, time], got \(tokens.shape)")
        let (y, s) = runStack(rnn, embedding(tokens), state)
        return (head(dropout(y)), s)
    }

    /// Logits for tokens `[B, T]` from a zero state.
    override public func forward(_ x: Tensor) -> Tensor { self(x, state: nil).logits }
}

/// A multi-step forecaster: a window of scaled values `[B, window]` -> recurrent stack -> the last step's hidden state
/// -> linear head of `horizon` values `[B, horizon]` (all steps at once). With `relative`, the window's last value is
/// subtracted from the inputs and added to the outputs, so the network models changes rather than levels.
public final class SeriesForecaster: Module {
    /// The sizes.
    public let spec: SequenceModelSpec
    /// The recurrent stack.
    public let rnn: RecurrentLayer
    /// Dropout before the head.
    public let dropout: Dropout
    /// The output layer.
    public let head: Linear

    /// A model of `spec` (kind `.forecaster`), initialized from `generator`.
    public init(_ spec: SequenceModelSpec, generator: Generator) {
        precondition(spec.kind == .forecaster, "SeriesForecaster: needs a forecaster spec, got \(spec)")
        self.spec = spec
        rnn = recurrentStack(spec, input: spec.inputs, generator: generator)
        dropout = Dropout(spec.dropout, generator: generator)
        head = Linear(spec.hidden, spec.outputs, generator: generator)
    }

    /// Forecasts `[B, horizon]` for windows `[B, window]`.
    override public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2, "SeriesForecaster: input must be [batch, window], got \(x.shape)")
        let t = x.shape[1]
        let last = x.slice(axis: 1, start: t - 1, end: t)
        let relative = spec.relative ?? false
        let input = relative ? x - last : x
        let (y, _) = runStack(rnn, input.unsqueezed(axis: 2), nil)
        let out = head(dropout(y.select(axis: 1, t - 1)))
        return relative ? out + last : out
    }
}
