import Foundation
import Testing
@testable import EmberNN

/// Attention layers against PyTorch (scripts/golden/make_transformer_golden.py): `MultiheadAttention`,
/// `TransformerEncoderLayer`, `TransformerDecoderLayer` and `TransformerEncoder` with PyTorch's state-dict names and
/// order, forward outputs and gradients (inputs and every parameter) under every mask kind; the sinusoidal and rotary
/// encodings; 10 AdamW steps of a tiny GPT (untied and tied) matching PyTorch's losses and final weights.
@Suite struct TransformerGoldenTests {
    static let file = Fixtures.load("nn_transformer")
    static let atol = 2e-5, rtol = 2e-4

    /// A fixture tensor, bool masks included.
    static func tensor(_ j: J) -> Tensor {
        if j["dtype"].exists && j["dtype"].string == "bool" {
            return Tensor(j["data"].array.map { $0.bool }, shape: j["shape"].ints)
        }
        return j.tensor
    }

    static func optional(_ j: J) -> Tensor? { j.exists ? tensor(j) : nil }

    static func leaf(_ j: J) -> Tensor {
        let t = j.tensor
        t.requiresGrad = true
        return t
    }

    /// Compares d(sum(output * upstream)) w.r.t. `inputs` (named) and every parameter with PyTorch's.
    static func checkGradients(_ output: Tensor, _ c: J, model: Module, inputs: [(String, Tensor)]) {
        let name = c["name"].string
        expectClose(output, c["output"].tensor, atol: atol, rtol: rtol, "\(name) output")
        let loss = (output * c["upstream"].tensor).sum()
        let params = model.namedParameters()
        let gs = gradients(of: loss, wrt: inputs.map(\.1) + params.map(\.1))
        for (i, (key, _)) in inputs.enumerated() {
            expectClose(gs[i], c["grads"][key].tensor, atol: atol, rtol: rtol, "\(name) d \(key)")
        }
        for (j, (pname, _)) in params.enumerated() {
            expectClose(gs[inputs.count + j], c["grads"]["params"][pname].tensor, atol: atol, rtol: rtol, "\(name) d \(pname)")
        }
    }

    static let mhaCases = Fixtures.named(file["mha"])

    @Test(arguments: mhaCases.keys.sorted(), [true, false])
    func multiheadAttention(_ name: String, fused: Bool) throws {
        let c = Self.mhaCases[name]!, o = c["options"]
        let m = MultiheadAttention(embedDim: o["embed_dim"].int, numHeads: o["num_heads"].int, bias: o["bias"].bool,
                                   batchFirst: o["batch_first"].bool)
        m.fused = fused
        #expect(m.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try m.loadStateDict(c["state"].stateDict)
        let q = Self.leaf(c["query"])
        let k = c["key"].exists ? Self.leaf(c["key"]) : q, v = c["value"].exists ? Self.leaf(c["value"]) : q
        let out = m(q, k, v, keyPaddingMask: Self.optional(c["key_padding_mask"]), attnMask: Self.optional(c["attn_mask"]),
                    isCausal: c["is_causal"].bool)
        let inputs = c["key"].exists ? [("query", q), ("key", k), ("value", v)] : [("query", q)]
        Self.checkGradients(out, c, model: m, inputs: inputs)
    }

    static func encoderLayer(_ o: J) -> TransformerEncoderLayer {
        TransformerEncoderLayer(dModel: o["d_model"].int, nhead: o["nhead"].int, dimFeedforward: o["dim_feedforward"].int,
                                dropout: 0, activation: TransformerActivation(rawValue: o["activation"].string)!,
                                batchFirst: o["batch_first"].bool, normFirst: o["norm_first"].bool)
    }

    static let encoderLayerCases = Fixtures.named(file["encoder_layers"])

    @Test(arguments: encoderLayerCases.keys.sorted())
    func transformerEncoderLayer(_ name: String) throws {
        let c = Self.encoderLayerCases[name]!
        let m = Self.encoderLayer(c["options"])
        #expect(m.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try m.loadStateDict(c["state"].stateDict)
        let x = Self.leaf(c["src"])
        let out = m(x, srcMask: Self.optional(c["src_mask"]), srcKeyPaddingMask: Self.optional(c["src_key_padding_mask"]),
                    isCausal: c["is_causal"].bool)
        Self.checkGradients(out, c, model: m, inputs: [("input", x)])
    }

    static let decoderLayerCases = Fixtures.named(file["decoder_layers"])

    @Test(arguments: decoderLayerCases.keys.sorted())
    func transformerDecoderLayer(_ name: String) throws {
        let c = Self.decoderLayerCases[name]!, o = c["options"]
        let m = TransformerDecoderLayer(dModel: o["d_model"].int, nhead: o["nhead"].int,
                                        dimFeedforward: o["dim_feedforward"].int, dropout: 0,
                                        activation: TransformerActivation(rawValue: o["activation"].string)!,
                                        batchFirst: true, normFirst: o["norm_first"].bool)
        #expect(m.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try m.loadStateDict(c["state"].stateDict)
        let tgt = Self.leaf(c["tgt"]), mem = Self.leaf(c["memory"])
        let out = m(tgt, memory: mem, tgtMask: Self.optional(c["tgt_mask"]),
                    memoryKeyPaddingMask: Self.optional(c["memory_key_padding_mask"]))
        Self.checkGradients(out, c, model: m, inputs: [("input", tgt), ("memory", mem)])
    }

    @Test func transformerEncoder() throws {
        let c = Self.file["encoders"][0], o = c["options"]
        let m = TransformerEncoder(numLayers: o["num_layers"].int, norm: LayerNorm([o["d_model"].int])) {
            Self.encoderLayer(o)
        }
        #expect(m.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try m.loadStateDict(c["state"].stateDict)
        let x = Self.leaf(c["src"])
        let out = m(x, mask: Self.optional(c["src_mask"]), srcKeyPaddingMask: Self.optional(c["src_key_padding_mask"]))
        Self.checkGradients(out, c, model: m, inputs: [("input", x)])
    }

    /// Called as plain modules (`Module.callAsFunction`, e.g. inside a `Sequential`), the positional layers give what
    /// their offset-0 call gives (their `forward` once called itself through the base call, without end).
    @Test func positionalLayersAsPlainModules() {
        let x = Tensor.arange(0, 24).reshaped([2, 3, 4])
        let layers: [(Module, (Tensor) -> Tensor)] = [
            { let m = LearnedPositionalEmbedding(maxLength: 5, dim: 4, generator: Generator(seed: 1)); return (m, { m($0, offset: 0) }) }(),
            { let m = SinusoidalPositionalEncoding(dModel: 4, maxLength: 5); return (m, { m($0, offset: 0) }) }(),
            { let m = RotaryEmbedding(dim: 4); return (m, { m($0, offset: 0) }) }(),
        ]
        for (module, direct) in layers {
            #expect(module.forward(x).toArray(Float.self) == direct(x).toArray(Float.self), "\(type(of: module))")
            #expect((module as Module)(x).toArray(Float.self) == direct(x).toArray(Float.self), "\(type(of: module))")
        }
    }

    @Test func sinusoidalAndRotaryEncodings() {
        let p = Self.file["positional"]
        let s = p["sinusoidal"]
        let pe = SinusoidalPositionalEncoding(dModel: s["d_model"].int, maxLength: s["max_len"].int)
        expectClose(pe.pe, s["table"].tensor, atol: 1e-6, rtol: 1e-6, "sinusoidal table")
        #expect(pe.stateDict().isEmpty, "the table is a non-persistent buffer")
        let zeros = Tensor.zeros([2, 4, s["d_model"].int])
        expectClose(pe(zeros, offset: 3), s["table"].tensor.slice(axis: 0, start: 3, end: 7).unsqueezed(axis: 0).expanded(to: [2, 4, 10]),
                    atol: 1e-6, rtol: 1e-6, "sinusoidal added at offset 3")
        let r = p["rotary"]
        let rope = RotaryEmbedding(dim: r["dim"].int, base: r["base"].double)
        expectClose(rope(r["x"].tensor, offset: r["offset"].int), r["output"].tensor, atol: 1e-6, rtol: 1e-5, "rotary")
    }

    static let gptCases = Fixtures.named(file["gpt"])

    /// 10 AdamW steps of a tiny GPT: losses and final weights as PyTorch's (tied: head.weight is wte.weight).
    @Test(arguments: gptCases.keys.sorted())
    func gptTrainsAsPyTorch(_ name: String) throws {
        let c = Self.gptCases[name]!, o = c["config"]
        let config = GPTConfig(vocabSize: o["vocab_size"].int, context: o["context"].int, dModel: o["d_model"].int,
                               heads: o["heads"].int, layers: o["layers"].int, tieWeights: o["tie_weights"].bool)
        let model = GPT(config)
        #expect(model.stateDict().map(\.0) == c["initial"].stateOrder)
        #expect(model.parameterCount == config.parameterCount)
        _ = try model.loadStateDict(c["initial"].stateDict)
        if config.tieWeights { #expect(model.head.weight === model.wte.weight) }
        let tokens = c["tokens"].tensor, T = config.context, V = config.vocabSize
        let inputs = tokens.slice(axis: 1, start: 0, end: T), targets = tokens.slice(axis: 1, start: 1).contiguous()
        let opt = AdamW(model.parameters, lr: c["lr"].double, weightDecay: c["weight_decay"].double)
        var losses: [Double] = []
        for _ in 0..<10 {
            opt.zeroGrad()
            let loss = crossEntropy(model(inputs).reshaped([-1, V]), targets.reshaped([-1]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        }
        expectClose(losses, c["losses"].doubles, atol: 1e-5, rtol: 1e-4, "\(name) GPT losses")
        // The key part of each qkv bias is the one exception: adding b to every key adds q·b to every score of a
        // query row, which the softmax cancels, so its gradient is 0 in exact arithmetic and only rounding noise
        // (~1e-9) in either framework. Adam divides that noise by its own RMS and moves those entries by up to lr per
        // step in a direction neither framework determines. They are checked against that bound (and the gradient
        // against 0 in `keyBiasGradientVanishes`); every other entry, q and v biases included, to 1e-5 + 1e-4|x|.
        let final = c["final"].stateDict, d = config.dModel, lr = c["lr"].double
        #expect(model.stateDict().map(\.0) == c["final"].stateOrder)
        for (pname, t) in model.stateDict() {
            let expected = final[pname]!
            guard pname.hasSuffix("qkv.bias") else {
                expectClose(t, expected, atol: 1e-5, rtol: 1e-4, "\(name) \(pname) after 10 AdamW steps")
                continue
            }
            for part in [0, 2] {
                expectClose(t.slice(axis: 0, start: part * d, end: (part + 1) * d),
                            expected.slice(axis: 0, start: part * d, end: (part + 1) * d), atol: 1e-5, rtol: 1e-4,
                            "\(name) \(pname) [\(part == 0 ? "q" : "v") part] after 10 AdamW steps")
            }
            let start = c["initial"].stateDict[pname]!.slice(axis: 0, start: d, end: 2 * d).toArray(Double.self)
            let mine = t.slice(axis: 0, start: d, end: 2 * d).toArray(Double.self)
            let theirs = expected.slice(axis: 0, start: d, end: 2 * d).toArray(Double.self)
            for i in 0..<d {
                #expect(Swift.abs(mine[i] - start[i]) <= 10 * lr * 1.01 + 1e-6 && Swift.abs(theirs[i] - start[i]) <= 10 * lr * 1.01 + 1e-6,
                        "\(name) \(pname) key part \(i): moved more than 10 steps of lr")
            }
        }
    }

    /// The key bias's gradient is 0 up to rounding (see above): the attention softmax cancels it.
    @Test func keyBiasGradientVanishes() throws {
        let c = Self.gptCases["untied"]!, o = c["config"]
        let config = GPTConfig(vocabSize: o["vocab_size"].int, context: o["context"].int, dModel: o["d_model"].int,
                               heads: o["heads"].int, layers: o["layers"].int)
        let model = GPT(config)
        _ = try model.loadStateDict(c["initial"].stateDict)
        let tokens = c["tokens"].tensor, T = config.context, d = config.dModel
        let loss = crossEntropy(model(tokens.slice(axis: 1, start: 0, end: T)).reshaped([-1, config.vocabSize]),
                                tokens.slice(axis: 1, start: 1).contiguous().reshaped([-1]))
        let g = gradients(of: loss, wrt: [model.blocks[0].qkv.bias!])[0]
        let keyPart = g.slice(axis: 0, start: d, end: 2 * d).toArray(Double.self).map(Swift.abs).max()!
        let queryPart = g.slice(axis: 0, start: 0, end: d).toArray(Double.self).map(Swift.abs).max()!
        #expect(keyPart < 1e-6 && queryPart > 1e-4, "key-bias gradient \(keyPart), query-bias gradient \(queryPart)")
    }
}
