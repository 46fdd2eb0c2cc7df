import Foundation
import Testing
@testable import EmberNN

/// RNN, LSTM and GRU layers and cells against PyTorch (scripts/golden/make_rnn_golden.py): PyTorch's parameter names
/// and order, forward outputs and final states, and gradients with respect to the input, the initial states and every
/// parameter; variable-length batches against PyTorch's packed sequences; 10 Adam steps of a small LSTM language model.
@Suite struct RecurrentGoldenTests {
    static let file = Fixtures.load("nn_rnn")
    static let layers = Fixtures.named(file["layers"])
    static let cells = Fixtures.named(file["cells"])
    static let atol = 1e-5, rtol = 1e-4

    static func makeLayer(_ c: J) -> RecurrentLayer {
        let o = c["options"]
        let (i, h, n) = (o["input_size"].int, o["hidden_size"].int, o["num_layers"].int)
        let (bias, bf, bi) = (o["bias"].bool, o["batch_first"].bool, o["bidirectional"].bool)
        switch c["kind"].string {
        case "RNN": return RNN(i, h, numLayers: n, nonlinearity: o["nonlinearity"].string, bias: bias, batchFirst: bf, bidirectional: bi)
        case "LSTM": return LSTM(i, h, numLayers: n, bias: bias, batchFirst: bf, bidirectional: bi)
        default: return GRU(i, h, numLayers: n, bias: bias, batchFirst: bf, bidirectional: bi)
        }
    }

    static func makeCell(_ c: J) -> RecurrentCell {
        let o = c["options"]
        let (i, h, bias) = (o["input_size"].int, o["hidden_size"].int, o["bias"].bool)
        switch c["kind"].string {
        case "RNNCell": return RNNCell(i, h, bias: bias, nonlinearity: o["nonlinearity"].string)
        case "LSTMCell": return LSTMCell(i, h, bias: bias)
        default: return GRUCell(i, h, bias: bias)
        }
    }

    /// Leaves for the input and the optional initial states.
    static func leaves(_ c: J) -> (x: Tensor, h0: Tensor?, c0: Tensor?) {
        func leaf(_ j: J) -> Tensor? {
            guard j.exists else { return nil }
            let t = j.tensor
            t.requiresGrad = true
            return t
        }
        return (leaf(c["input"])!, leaf(c["h0"]), leaf(c["c0"]))
    }

    /// Compares gradients of `loss` with respect to the input, the states and every named parameter with PyTorch's.
    static func checkGradients(_ loss: Tensor, _ c: J, model: Module, x: Tensor, h0: Tensor?, c0: Tensor?) {
        let params = model.namedParameters()
        let wrt = [x] + [h0, c0].compactMap { $0 } + params.map(\.1)
        let gs = gradients(of: loss, wrt: wrt)
        let g = c["grads"]
        let name = c["name"].string
        expectClose(gs[0], g["input"].tensor, atol: atol, rtol: rtol, "\(name) d input")
        var k = 1
        if h0 != nil { expectClose(gs[k], g["h0"].tensor, atol: atol, rtol: rtol, "\(name) d h0"); k += 1 }
        if c0 != nil { expectClose(gs[k], g["c0"].tensor, atol: atol, rtol: rtol, "\(name) d c0"); k += 1 }
        for (j, (pname, _)) in params.enumerated() {
            expectClose(gs[k + j], g["params"][pname].tensor, atol: atol, rtol: rtol, "\(name) d \(pname)")
        }
    }

    /// Every case on the fused path (the default: `lstm_sequence`/`gru_sequence`) and on the unfused ops.
    @Test(arguments: layers.keys.sorted(), [true, false])
    func layer(_ name: String, fused: Bool) throws {
        let c = Self.layers[name]!
        let model = Self.makeLayer(c)
        model.fused = fused
        #expect(model.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try model.loadStateDict(c["state"].stateDict)
        let (x, h0, c0) = Self.leaves(c)
        let lengths = c["lengths"].exists ? c["lengths"].ints : nil
        let output: Tensor, hn: Tensor, cn: Tensor?
        switch model {
        case let m as LSTM:
            let state: (Tensor, Tensor)? = h0.map { ($0, c0!) }
            let r = m(x, state, lengths: lengths)
            (output, hn, cn) = (r.output, r.state.h, r.state.c)
        case let m as GRU:
            let r = m(x, h0, lengths: lengths)
            (output, hn, cn) = (r.output, r.hidden, nil)
        case let m as RNN:
            let r = m(x, h0, lengths: lengths)
            (output, hn, cn) = (r.output, r.hidden, nil)
        default: preconditionFailure()
        }
        expectClose(output, c["output"].tensor, atol: Self.atol, rtol: Self.rtol, "\(name) output")
        expectClose(hn, c["h_n"].tensor, atol: Self.atol, rtol: Self.rtol, "\(name) h_n")
        if let cn { expectClose(cn, c["c_n"].tensor, atol: Self.atol, rtol: Self.rtol, "\(name) c_n") }
        let u = c["upstream"]
        var loss = (output * u["out"].tensor).sum() + (hn * u["h"].tensor).sum()
        if let cn { loss = loss + (cn * u["c"].tensor).sum() }
        Self.checkGradients(loss, c, model: model, x: x, h0: h0, c0: c0)
    }

    @Test(arguments: cells.keys.sorted(), [true, false])
    func cell(_ name: String, fused: Bool) throws {
        let c = Self.cells[name]!
        let model = Self.makeCell(c)
        model.fused = fused
        #expect(model.stateDict().map(\.0) == c["state"].stateOrder, "state-dict names and order as PyTorch's")
        _ = try model.loadStateDict(c["state"].stateDict)
        let (x, h0, c0) = Self.leaves(c)
        let h: Tensor, cNew: Tensor?
        switch model {
        case let m as LSTMCell:
            let r = m(x, h0.map { ($0, c0!) })
            (h, cNew) = (r.h, r.c)
        case let m as GRUCell: (h, cNew) = (m(x, h0), nil)
        case let m as RNNCell: (h, cNew) = (m(x, h0), nil)
        default: preconditionFailure()
        }
        expectClose(h, c["h"].tensor, atol: Self.atol, rtol: Self.rtol, "\(name) h")
        var loss = (h * c["upstream"]["h"].tensor).sum()
        if let cNew {
            expectClose(cNew, c["c"].tensor, atol: Self.atol, rtol: Self.rtol, "\(name) c")
            loss = loss + (cNew * c["upstream"]["c"].tensor).sum()
        }
        Self.checkGradients(loss, c, model: model, x: x, h0: h0, c0: c0)
    }

    final class CharLM: Module {
        let embed = Embedding(11, 8)
        let lstm = LSTM(8, 16, batchFirst: true)
        let head = Linear(16, 11)
        override func forward(_ tokens: Tensor) -> Tensor { head(lstm(embed(tokens)).output) }
    }

    @Test func languageModelTrainsAsPyTorch() throws {
        let lm = Self.file["lm"]
        let model = CharLM()
        #expect(model.stateDict().map(\.0) == lm["initial"].stateOrder)
        _ = try model.loadStateDict(lm["initial"].stateDict)
        let tokens = lm["tokens"].tensor
        let inputs = tokens.slice(axis: 1, start: 0, end: 7), targets = tokens.slice(axis: 1, start: 1).contiguous()
        let opt = Adam(model.parameters, lr: 0.01)
        var losses: [Double] = []
        for _ in 0..<10 {
            opt.zeroGrad()
            let logits = model(inputs)
            let loss = crossEntropy(logits.reshaped([-1, 11]), targets.reshaped([-1]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        }
        expectClose(losses, lm["losses"].doubles, atol: 1e-5, rtol: 1e-4, "LM losses")
        _ = expectStateClose(model, lm["final"], atol: 1e-5, rtol: 1e-4, "LM weights after 10 Adam steps")
    }
}
