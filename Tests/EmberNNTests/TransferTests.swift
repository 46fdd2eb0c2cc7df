import EmberCore
import Foundation
import Testing
@testable import EmberNN

/// Transfer-learning tools: name patterns, freezing, discriminative learning rates and LoRA adapters, against
/// PyTorch (Fixtures/nn_transfer.json from scripts/golden/make_transfer_golden.py: LoRA written out from its
/// definition, trained by torch's autograd and Adam; SGD parameter groups).
@Suite struct TransferTests {
    static let fixture = Fixtures.load("nn_transfer")

    func mlp(_ state: J) throws -> Sequential {
        let m = Sequential([Linear(6, 5), Tanh(), Linear(5, 3)])
        try m.loadStateDict(state.dict.mapValues(\.tensor))
        return m
    }

    @Test func namePatterns() {
        let p = NamePattern("features")
        #expect(p.matches("features") && p.matches("features.0.weight") && !p.matches("features2.weight"))
        #expect(NamePattern("*.bias").matches("head.1.bias") && !NamePattern("*.bias").matches("head.1.weight"))
        #expect(NamePattern("layers.?.attn").matches("layers.3.attn.q.weight") && !NamePattern("layers.?.attn").matches("layers.12.attn.q"))
        #expect(NamePattern("*").matches("anything.at.all") && NamePattern("a*b*c").matches("axxbyyc") && !NamePattern("a*b*c").matches("axxbyy"))
    }

    @Test func freezingByPatternKeepsFrozenWeightsAndSaysWhatItMatched() throws {
        let m = Sequential([Linear(4, 3), ReLU(), Linear(3, 2)])
        #expect(try m.freeze(matching: ["0"]) == ["0.weight", "0.bias"])
        #expect(m.trainableParameters.count == 2)
        let before = m.stateDict().map { $0.1.toArray(Float.self) }
        let opt = AdamW(m.trainableParameters, lr: 0.1, weightDecay: 0.1)
        var rng = RandomState(seed: 1)
        let x = Tensor.normal([5, 4], rng: &rng)
        for _ in 0..<3 {
            opt.zeroGrad()
            let loss = m(x).square().mean()
            loss.backward()
            opt.step()
        }
        let after = m.stateDict().map { $0.1.toArray(Float.self) }
        #expect(after[0] == before[0] && after[1] == before[1], "frozen layer changed")
        #expect(after[2] != before[2], "the trainable layer did not change")
        #expect(try m.unfreeze(matching: ["0.bias"]) == ["0.bias"])
        #expect(m.trainableParameters.count == 3)
        do {
            try m.freeze(matching: ["backbone.*"])
            Issue.record("a pattern naming nothing was accepted")
        } catch let e as TransferError {
            #expect(e.description.contains("'backbone.*' matches no parameter") && e.description.contains("0, 2"), "\(e)")
        }
    }

    @Test func discriminativeLearningRatesMatchTorchParamGroups() throws {
        let g = Self.fixture["groups"]
        let m = try mlp(g["initial"])
        try m.freeze(matching: ["0.bias"])
        let groups = try m.parameterGroups(learningRates: [("0.weight", 0.1), ("2.*", 0.01)])
        #expect(groups.map(\.params.count) == [1, 2])
        let opt = SGD(groups: groups, lr: 0.5, momentum: 0.9)
        let x = g["x"].tensor, y = g["y"].tensor
        var losses: [Double] = []
        for _ in 0..<4 {
            opt.zeroGrad()
            let loss = mseLoss(m(x), y)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        }
        expectClose(losses, g["losses"].doubles, atol: 1e-6, rtol: 1e-5, "losses")
        for (name, t) in m.stateDict() { expectClose(t, g["final"][name].tensor, atol: 1e-6, rtol: 1e-5, name) }
        // A parameter no rule names goes to the optimizer's own rate; a pattern naming nothing is an error.
        let rest = try m.parameterGroups(learningRates: [("0.*", 0.1)])
        #expect(rest.count == 2 && rest[1].lr.isNaN && rest[1].params.count == 2)
        #expect(throws: TransferError.self) { try m.parameterGroups(learningRates: [("head.*", 0.1)]) }
    }

    @Test func loraTrainsAsTorchAndMergesToThePlainModel() throws {
        let f = Self.fixture["lora"]
        let m = try mlp(f["initial"])
        let x = f["x"].tensor, y = f["y"].tensor
        let base = withoutGrad { m(x) }
        #expect(try m.applyLoRA(rank: f["rank"].int, alpha: f["alpha"].double) == ["0", "2"])
        let layers = [m[0] as! Linear, m[2] as! Linear]
        for (l, a) in zip(layers, f["A0"].array) { l.loraA!.assign(a.tensor) }
        // B starts at zero: the adapted model starts as the base model.
        #expect(withoutGrad { m(x) }.toArray(Float.self) == base.toArray(Float.self))
        #expect(m.trainableParameters.count == 4 && m.stateDict().map(\.0) == ["0.weight", "0.bias", "0.lora_A", "0.lora_B", "2.weight", "2.bias", "2.lora_A", "2.lora_B"])
        let frozen = layers.map { $0.weight.toArray(Float.self) }
        let opt = Adam(m.trainableParameters, lr: 0.02)
        var losses: [Double] = []
        for _ in 0..<6 {
            opt.zeroGrad()
            let loss = mseLoss(m(x), y)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        }
        expectClose(losses, f["losses"].doubles, atol: 1e-6, rtol: 1e-5, "losses")
        for (i, l) in layers.enumerated() {
            #expect(l.weight.toArray(Float.self) == frozen[i], "base weight \(i) changed")
            expectClose(l.loraA!, f["A"][i].tensor, atol: 1e-6, rtol: 1e-5, "A\(i)")
            expectClose(l.loraB!, f["B"][i].tensor, atol: 1e-6, rtol: 1e-5, "B\(i)")
        }
        let adapted = withoutGrad { m(x) }
        expectClose(adapted, f["output"].tensor, atol: 1e-6, rtol: 1e-5, "adapted output")
        #expect(m.mergeLoRA() == 2)
        #expect(m.stateDict().map(\.0) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        expectClose(layers[0].weight, f["merged"]["0.weight"].tensor, atol: 1e-6, rtol: 1e-5, "merged 0.weight")
        expectClose(layers[1].weight, f["merged"]["2.weight"].tensor, atol: 1e-6, rtol: 1e-5, "merged 2.weight")
        expectClose(withoutGrad { m(x) }, adapted, atol: 1e-6, rtol: 1e-5, "merged output")
    }

    @Test func loraTargetsMustNameLinearLayers() throws {
        let m = Sequential([Linear(4, 3), ReLU(), Linear(3, 2)])
        #expect(try m.applyLoRA(rank: 1, alpha: 1, targets: ["2"]) == ["2"])
        #expect((m[0] as! Linear).loraA == nil && (m[2] as! Linear).loraA != nil)
        #expect(m.trainableParameters.count == 2, "applyLoRA leaves only the adapters trainable")
        #expect(throws: TransferError.self) { try Sequential([Linear(4, 3)]).applyLoRA(rank: 1, alpha: 1, targets: ["head"]) }
    }
}
