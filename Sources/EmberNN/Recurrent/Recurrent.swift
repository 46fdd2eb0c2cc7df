/// The recurrence a `RecurrentLayer` runs: Elman (tanh or ReLU), LSTM or GRU, with PyTorch's gate layouts.
public enum RecurrentKind: String, Sendable, Codable {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    case rnnTanh
    /// h' = relu(W_ih x + b_ih + W_hh h + b_hh)
    case rnnRelu
    /// Gates i, f, g, o (rows of `weight_ih` in that order): c' = f c + i g, h' = o tanh(c').
    case lstm
    /// Gates r, z, n: n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.
    case gru

    /// Rows of `weight_ih` per hidden unit.
    var gates: Int {
        switch self {
        case .rnnTanh, .rnnRelu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
}

/// A multi-layer, optionally bidirectional recurrent layer with PyTorch's semantics and parameter names
/// (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `..._reverse`), so a state dict maps 1:1 onto
/// `torch.nn.RNN`/`LSTM`/`GRU`. Use `RNN`, `LSTM` or `GRU`.
///
/// Inputs are `[T, B, I]` (or `[B, T, I]` with `batchFirst`); the states `[layers * directions, B, H]`.
/// Variable-length batches take `lengths` (one per sequence, as PyTorch's packed sequences): past its length a
/// sequence's state stops changing, its outputs are zero, and the reverse direction starts at its last valid step.
/// The input projection of all time steps is one GEMM per layer and direction; each step adds the recurrent GEMM.
/// When the input is an `Embedding`'s output (a character or word model), the fused LSTM and GRU project the
/// vocabulary instead of every token and read its rows by index (`lstmLayer`/`gruLayer` in EmberCore).
public class RecurrentLayer: Module {
    public let kind: RecurrentKind
    public let inputSize: Int, hiddenSize: Int, numLayers: Int
    public let bidirectional: Bool, batchFirst: Bool, hasBias: Bool
    /// Dropout on the outputs of every layer but the last, in training mode (PyTorch's `dropout`).
    public let dropout: Double
    let generator: Generator
    /// [layer * directions + direction] -> [w_ih, w_hh, b_ih?, b_hh?]
    private let weights: [[Tensor]]

    /// Number of directions (2 when bidirectional).
    public var directions: Int { bidirectional ? 2 : 1 }
    /// Whether LSTM and GRU layers run each layer and direction as one fused op (`lstmSequence`/`gruSequence`:
    /// one recurrent GEMM and one cell kernel per step, forward and backward), for float32 and float64. Default
    /// true. Set it to false to run the step as separate differentiable ops, which also supports gradients of
    /// gradients (`createGraph`) through the layer. Elman RNNs and other dtypes always take the unfused path.
    public var fused = true

    init(kind: RecurrentKind, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool,
         dropout: Double, bidirectional: Bool, generator: Generator) {
        precondition(inputSize > 0 && hiddenSize > 0 && numLayers > 0,
                     "\(kind): input size \(inputSize), hidden size \(hiddenSize) and layers \(numLayers) must be positive")
        precondition(dropout >= 0 && dropout < 1, "\(kind): dropout must be in [0, 1), got \(dropout)")
        self.kind = kind
        self.inputSize = inputSize; self.hiddenSize = hiddenSize; self.numLayers = numLayers
        self.bidirectional = bidirectional; self.batchFirst = batchFirst; self.hasBias = bias
        self.dropout = dropout
        self.generator = generator.fork()
        // PyTorch's init: every parameter U(-1/sqrt(H), 1/sqrt(H)), in registration order.
        let bound = 1 / Double(hiddenSize).squareRoot()
        let rows = kind.gates * hiddenSize, dirs = bidirectional ? 2 : 1
        var ws: [[Tensor]] = []
        for layer in 0..<numLayers {
            let inputs = layer == 0 ? inputSize : hiddenSize * dirs
            for _ in 0..<dirs {
                var shapes = [[rows, inputs], [rows, hiddenSize]]
                if bias { shapes += [[rows], [rows]] }
                ws.append(shapes.map { s in makeParameter(s) { Init.uniform($0, low: -bound, high: bound, generator: generator) } })
            }
        }
        weights = ws
    }

    override public var generatedParameters: [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for layer in 0..<numLayers {
            for d in 0..<directions {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                let w = weights[layer * directions + d]
                out.append(("weight_ih" + suffix, w[0]))
                out.append(("weight_hh" + suffix, w[1]))
                if hasBias {
                    out.append(("bias_ih" + suffix, w[2]))
                    out.append(("bias_hh" + suffix, w[3]))
                }
            }
        }
        return out
    }

    /// Runs the whole stack. `h0`/`c0`: `[layers * directions, B, H]` (zeros when nil; `c0` for LSTM only).
    /// Returns the output `[T, B, directions * H]` (batch-first when so configured) and the final states.
    func run(_ x: Tensor, h0: Tensor?, c0: Tensor?, lengths: [Int]?) -> (Tensor, Tensor, Tensor?) {
        let name = "\(type(of: self))"
        precondition(x.rank == 3 && x.shape[2] == inputSize,
                     "\(name): input must be [\(batchFirst ? "B, T" : "T, B"), \(inputSize)], got \(x.shape)")
        let seq = batchFirst ? x.transposed(0, 1) : x
        let T = seq.shape[0], B = seq.shape[1], H = hiddenSize, D = directions
        let stateShape = [numLayers * D, B, H]
        if let h0 { precondition(h0.shape == stateShape, "\(name): initial hidden state must be \(stateShape), got \(h0.shape)") }
        if let c0 { precondition(c0.shape == stateShape, "\(name): initial cell state must be \(stateShape), got \(c0.shape)") }
        var mask: Tensor? = nil
        if let lengths {
            precondition(lengths.count == B, "\(name): \(lengths.count) lengths for a batch of \(B)")
            precondition(lengths.allSatisfy { $0 >= 1 && $0 <= T }, "\(name): lengths must be in 1...\(T), got \(lengths)")
            // mask[t, b] = 1 while t < lengths[b]
            var m = [Float](repeating: 0, count: T * B)
            for b in 0..<B { for t in 0..<lengths[b] { m[t * B + b] = 1 } }
            mask = Tensor(m, shape: [T, B, 1]).cast(x.dtype)
        }
        var layerInput = seq
        var hn: [Tensor] = [], cn: [Tensor] = []
        for layer in 0..<numLayers {
            var outs: [Tensor] = []
            for d in 0..<D {
                let idx = layer * D + d
                let h = h0?.select(axis: 0, idx) ?? Tensor.zeros([B, H], dtype: x.dtype, on: x.backend)
                let c = kind == .lstm ? (c0?.select(axis: 0, idx) ?? Tensor.zeros([B, H], dtype: x.dtype, on: x.backend)) : nil
                let (out, hT, cT) = direction(layerInput, weights[idx], h: h, c: c, reverse: d == 1, mask: mask,
                                              lengths: lengths)
                outs.append(out)
                hn.append(hT)
                if let cT { cn.append(cT) }
            }
            layerInput = D == 1 ? outs[0] : concat(outs, axis: 2)
            if dropout > 0 && training && layer < numLayers - 1 {
                let input = layerInput
                layerInput = generator.withState { input.dropout(dropout, training: true, rng: &$0) }
            }
        }
        let output = batchFirst ? layerInput.transposed(0, 1) : layerInput
        return (output, stack(hn, axis: 0), kind == .lstm ? stack(cn, axis: 0) : nil)
    }

    /// One layer in one direction over seq [T, B, In]: outputs [T, B, H] and the final states.
    private func direction(_ seq: Tensor, _ w: [Tensor], h: Tensor, c: Tensor?, reverse: Bool,
                           mask: Tensor?, lengths: [Int]?) -> (Tensor, Tensor, Tensor?) {
        let T = seq.shape[0], H = hiddenSize
        let fusedOp = Self.runsFused(kind, fused: fused, seq.dtype)
        if fusedOp && kind == .lstm {
            // Every LSTM gate adds both biases, so the fused cell adds b_ih + b_hh once: the projection has no bias
            // (no pass to broadcast it into the [T, B, 4H] projection) and the op's one bias gradient reaches both
            // through the sum's backward (no second column sum of the gate gradients).
            let r = lstmLayer(seq, weightIH: w[0], weightHH: w[1], bias: hasBias ? w[2] + w[3] : nil, h0: h, c0: c!,
                              reverse: reverse, lengths: lengths)
            return (r.output, r.h, r.c)
        }
        let bhh = hasBias ? w[3] : nil
        if fusedOp {
            let r = gruLayer(seq, weightIH: w[0], biasIH: hasBias ? w[2] : nil, weightHH: w[1], biasHH: bhh, h0: h,
                             reverse: reverse, lengths: lengths)
            return (r.output, r.h, nil)
        }
        // The input projection of every step at once: [T, B, gates * H].
        let projected = linear(seq, w[0], hasBias ? w[2] : nil)
        var h = h, c = c
        var outs = [Tensor?](repeating: nil, count: T)
        for step in 0..<T {
            let t = reverse ? T - 1 - step : step
            var (hNew, cNew) = Self.cellStep(kind, input: projected.select(axis: 0, t), recurrent: linear(h, w[1], bhh), h: h, c: c)
            if let mask {
                // Past a sequence's length its state stays and its output is zero.
                let m = mask.select(axis: 0, t)
                outs[t] = hNew * m
                hNew = h + m * (hNew - h)
                if let cn = cNew, let cOld = c { cNew = cOld + m * (cn - cOld) }
            } else {
                outs[t] = hNew
            }
            h = hNew
            c = cNew
        }
        precondition(h.shape[1] == H)
        return (stack(outs.map { $0! }, axis: 0), h, c)
    }

    /// Whether a layer or cell of `kind` takes the fused sequence ops for `dtype`.
    static func runsFused(_ kind: RecurrentKind, fused: Bool, _ dtype: DType) -> Bool {
        fused && (kind == .lstm || kind == .gru) && (dtype == .float32 || dtype == .float64)
    }

    /// One step of the recurrence from the projected input W_ih x + b_ih and the projected state W_hh h + b_hh
    /// (both [B, gates * H]): the new hidden state and, for an LSTM, the new cell state.
    static func cellStep(_ kind: RecurrentKind, input xt: Tensor, recurrent ht: Tensor, h: Tensor, c: Tensor?) -> (Tensor, Tensor?) {
        switch kind {
        case .rnnTanh: return ((xt + ht).tanh(), nil)
        case .rnnRelu: return ((xt + ht).relu(), nil)
        case .lstm:
            let g = (xt + ht).chunked(4, axis: 1)
            let i = g[0].sigmoid(), f = g[1].sigmoid(), cand = g[2].tanh(), o = g[3].sigmoid()
            let cNew = f * c! + i * cand
            return (o * cNew.tanh(), cNew)
        case .gru:
            let xs = xt.chunked(3, axis: 1), hs = ht.chunked(3, axis: 1)
            let r = (xs[0] + hs[0]).sigmoid(), z = (xs[1] + hs[1]).sigmoid()
            let n = (xs[2] + r * hs[2]).tanh()
            return (n + z * (h - n), nil)
        }
    }

    /// The output sequence only (so a recurrent layer can sit in a `Sequential`).
    override public func forward(_ x: Tensor) -> Tensor { run(x, h0: nil, c0: nil, lengths: nil).0 }

    override public var layerDescription: String {
        "\(type(of: self))(\(inputSize), \(hiddenSize)" + (numLayers > 1 ? ", layers: \(numLayers)" : "")
            + (bidirectional ? ", bidirectional" : "") + (batchFirst ? ", batchFirst" : "") + (hasBias ? "" : ", bias: false")
            + (dropout > 0 ? ", dropout: \(dropout)" : "") + ")"
    }
}

/// A recurrent layer whose state is one hidden tensor (RNN, GRU): `(output, hidden) = layer(x, h0, lengths:)`.
public class HiddenStateLayer: RecurrentLayer {
    public func forward(_ input: (Tensor, Tensor?)) -> (Tensor, Tensor) {
        let (y, h, _) = run(input.0, h0: input.1, c0: nil, lengths: nil)
        return (y, h)
    }

    /// The output sequence and the final hidden state `[layers * directions, B, H]`.
    public func callAsFunction(_ x: Tensor, _ h0: Tensor? = nil, lengths: [Int]? = nil) -> (output: Tensor, hidden: Tensor) {
        let (y, h, _) = run(x, h0: h0, c0: nil, lengths: lengths)
        return (y, h)
    }
}

/// An Elman RNN (`torch.nn.RNN`): `let (output, hn) = rnn(x)` or `rnn(x, h0, lengths: [...])`.
public final class RNN: HiddenStateLayer, Layer {
    public typealias Input = (Tensor, Tensor?)
    public typealias Output = (Tensor, Tensor)

    /// - Parameter nonlinearity: "tanh" (default) or "relu", as PyTorch.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, nonlinearity: String = "tanh", bias: Bool = true,
                batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, generator: Generator = .default) {
        precondition(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be \"tanh\" or \"relu\", got \"\(nonlinearity)\"")
        super.init(kind: nonlinearity == "tanh" ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional,
                   generator: generator)
    }
}

/// A long short-term memory layer (`torch.nn.LSTM`): `let (output, (h, c)) = lstm(x)` or `lstm(x, (h0, c0))`.
public final class LSTM: RecurrentLayer, Layer {
    public typealias Input = (Tensor, (Tensor, Tensor)?)
    public typealias Output = (Tensor, (Tensor, Tensor))

    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: Generator = .default) {
        super.init(kind: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    public func forward(_ input: Input) -> Output {
        let (y, h, c) = run(input.0, h0: input.1?.0, c0: input.1?.1, lengths: nil)
        return (y, (h, c!))
    }

    /// The output sequence and the final (hidden, cell) states, each `[layers * directions, B, H]`.
    public func callAsFunction(_ x: Tensor, _ state: (Tensor, Tensor)? = nil, lengths: [Int]? = nil)
        -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        let (y, h, c) = run(x, h0: state?.0, c0: state?.1, lengths: lengths)
        return (y, (h, c!))
    }
}

/// A gated recurrent unit layer (`torch.nn.GRU`): `let (output, h) = gru(x)` or `gru(x, h0)`.
public final class GRU: HiddenStateLayer, Layer {
    public typealias Input = (Tensor, Tensor?)
    public typealias Output = (Tensor, Tensor)

    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: Generator = .default) {
        super.init(kind: .gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
}

/// One step of a recurrence for custom loops (`torch.nn.RNNCell`/`LSTMCell`/`GRUCell`): parameters `weight_ih`,
/// `weight_hh`, `bias_ih`, `bias_hh`; input [B, I] (or [I]), state [B, H].
public class RecurrentCell: Module {
    public let kind: RecurrentKind
    public let inputSize: Int, hiddenSize: Int
    @Parameter public var weightIh: Tensor
    @Parameter public var weightHh: Tensor
    @Parameter public var biasIh: Tensor?
    @Parameter public var biasHh: Tensor?
    /// Whether LSTM and GRU cells run the step as one fused op (see `RecurrentLayer.fused`). Default true.
    public var fused = true

    init(kind: RecurrentKind, inputSize: Int, hiddenSize: Int, bias: Bool, generator: Generator) {
        precondition(inputSize > 0 && hiddenSize > 0, "\(kind) cell: input size \(inputSize) and hidden size \(hiddenSize) must be positive")
        self.kind = kind
        self.inputSize = inputSize; self.hiddenSize = hiddenSize
        let bound = 1 / Double(hiddenSize).squareRoot(), rows = kind.gates * hiddenSize
        func make(_ shape: [Int]) -> Tensor { makeParameter(shape) { Init.uniform($0, low: -bound, high: bound, generator: generator) } }
        weightIh = make([rows, inputSize])
        weightHh = make([rows, hiddenSize])
        biasIh = bias ? make([rows]) : nil
        biasHh = bias ? make([rows]) : nil
    }

    func step(_ x: Tensor, h: Tensor?, c: Tensor?) -> (Tensor, Tensor?) {
        let batched = x.rank == 2
        precondition((x.rank == 1 || batched) && x.shape.last == inputSize,
                     "\(type(of: self)): input must be [B, \(inputSize)] or [\(inputSize)], got \(x.shape)")
        let xb = batched ? x : x.unsqueezed(axis: 0)
        let B = xb.shape[0]
        let zeros = Tensor.zeros([B, hiddenSize], dtype: x.dtype, on: x.backend)
        let hb = h.map { batched ? $0 : $0.unsqueezed(axis: 0) } ?? zeros
        let cb = kind == .lstm ? (c.map { batched ? $0 : $0.unsqueezed(axis: 0) } ?? zeros) : nil
        precondition(hb.shape == [B, hiddenSize], "\(type(of: self)): state must be [\(B), \(hiddenSize)], got \(hb.shape)")
        var hn: Tensor, cn: Tensor?
        if RecurrentLayer.runsFused(kind, fused: fused, xb.dtype) {
            // A sequence of one step.
            let projected = linear(xb, weightIh, biasIh).unsqueezed(axis: 0)
            if kind == .lstm {
                let r = lstmSequence(projected, weightHH: weightHh, biasHH: biasHh, h0: hb, c0: cb!)
                (hn, cn) = (r.h, r.c)
            } else {
                (hn, cn) = (gruSequence(projected, weightHH: weightHh, biasHH: biasHh, h0: hb).h, nil)
            }
        } else {
            (hn, cn) = RecurrentLayer.cellStep(kind, input: linear(xb, weightIh, biasIh), recurrent: linear(hb, weightHh, biasHh), h: hb, c: cb)
        }
        if !batched { hn = hn.squeezed(axis: 0); cn = cn?.squeezed(axis: 0) }
        return (hn, cn)
    }
}

/// `torch.nn.RNNCell`: `h = cell(x, h)`.
public final class RNNCell: RecurrentCell, Layer {
    public typealias Input = (Tensor, Tensor?)
    public typealias Output = Tensor
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, nonlinearity: String = "tanh", generator: Generator = .default) {
        precondition(nonlinearity == "tanh" || nonlinearity == "relu", "RNNCell: nonlinearity must be \"tanh\" or \"relu\", got \"\(nonlinearity)\"")
        super.init(kind: nonlinearity == "tanh" ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    public func forward(_ input: Input) -> Output { step(input.0, h: input.1, c: nil).0 }
    public func callAsFunction(_ x: Tensor, _ h: Tensor? = nil) -> Tensor { step(x, h: h, c: nil).0 }
}

/// `torch.nn.LSTMCell`: `let (h, c) = cell(x, (h, c))`.
public final class LSTMCell: RecurrentCell, Layer {
    public typealias Input = (Tensor, (Tensor, Tensor)?)
    public typealias Output = (Tensor, Tensor)
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .default) {
        super.init(kind: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    public func forward(_ input: Input) -> Output {
        let (h, c) = step(input.0, h: input.1?.0, c: input.1?.1)
        return (h, c!)
    }
    public func callAsFunction(_ x: Tensor, _ state: (Tensor, Tensor)? = nil) -> (h: Tensor, c: Tensor) {
        let (h, c) = step(x, h: state?.0, c: state?.1)
        return (h, c!)
    }
}

/// `torch.nn.GRUCell`: `h = cell(x, h)`.
public final class GRUCell: RecurrentCell, Layer {
    public typealias Input = (Tensor, Tensor?)
    public typealias Output = Tensor
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .default) {
        super.init(kind: .gru, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    public func forward(_ input: Input) -> Output { step(input.0, h: input.1, c: nil).0 }
    public func callAsFunction(_ x: Tensor, _ h: Tensor? = nil) -> Tensor { step(x, h: h, c: nil).0 }
}
