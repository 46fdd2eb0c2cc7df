import Foundation
import Testing
@testable import EmberNN

// Module features that have no PyTorch fixture: naming by reflection, counts, freezing, train/eval propagation,
// typed state-dict errors, summaries. Expected values here are written out by hand from PyTorch's conventions.

final class Block: Module {
    let conv = Conv2d(2, 2, kernel: 3, padding: 1, bias: false)
    let norm = BatchNorm2d(2)
    override func forward(_ x: Tensor) -> Tensor { norm(conv(x)).relu() }
}

final class Tower: Module {
    let stem = Conv2d(1, 2, kernel: 3, padding: 1)
    let blocks: [Module] = [Block(), Block()]
    let dropOut = Dropout(0.5)
    let outputHead = Sequential { Flatten(); Linear(2 * 4 * 4, 3); Sequential { ReLU(); Linear(3, 2) } }
    override func forward(_ x: Tensor) -> Tensor {
        var h = stem(x)
        for b in blocks { h = b(h) }
        return outputHead(dropOut(h))
    }
}

@Suite struct ModuleFeatureTests {
    @Test func namedParametersOfNestedModules() {
        let t = Tower()
        #expect(t.namedParameters().map(\.0) == [
            "stem.weight", "stem.bias",
            "blocks.0.conv.weight", "blocks.0.norm.weight", "blocks.0.norm.bias",
            "blocks.1.conv.weight", "blocks.1.norm.weight", "blocks.1.norm.bias",
            "output_head.1.weight", "output_head.1.bias", "output_head.2.1.weight", "output_head.2.1.bias",
        ])
        #expect(t.namedBuffers().map(\.0) == [
            "blocks.0.norm.running_mean", "blocks.0.norm.running_var", "blocks.0.norm.num_batches_tracked",
            "blocks.1.norm.running_mean", "blocks.1.norm.running_var", "blocks.1.norm.num_batches_tracked",
        ])
        // state_dict order: each module's own parameters, then its buffers, then its children (PyTorch's order)
        #expect(Array(t.stateDict().map(\.0).prefix(8)) == [
            "stem.weight", "stem.bias", "blocks.0.conv.weight", "blocks.0.norm.weight", "blocks.0.norm.bias",
            "blocks.0.norm.running_mean", "blocks.0.norm.running_var", "blocks.0.norm.num_batches_tracked",
        ])
        #expect(t.namedChildren.map(\.0) == ["stem", "blocks.0", "blocks.1", "drop_out", "output_head"])
        let seq = Sequential { Linear(3, 4); ReLU(); Linear(4, 2, bias: false) }
        #expect(seq.namedParameters().map(\.0) == ["0.weight", "0.bias", "2.weight"])
        #expect(seq.namedParameters(prefix: "enc.").map(\.0) == ["enc.0.weight", "enc.0.bias", "enc.2.weight"])
    }

    @Test func parameterCount() {
        let t = Tower()
        let expected = (2 * 1 * 9 + 2) + 2 * (2 * 2 * 9 + 2 + 2) + (32 * 3 + 3) + (3 * 2 + 2)
        #expect(t.parameterCount == expected)
        #expect(t.parameters.count == 12)
        #expect(Sequential { ReLU(); Flatten() }.parameterCount == 0)
    }

    @Test func freezeAndUnfreeze() {
        let net = Sequential { Linear(4, 3); ReLU(); Linear(3, 2) }
        let first = net[0] as! Linear, last = net[2] as! Linear
        first.freeze()
        #expect(net.trainableParameters.count == 2)
        #expect(net.trainableParameters.allSatisfy { $0 === last.weight || $0 === last.bias })
        let before = first.weight.toArray(Float.self)
        let opt = SGD(net.parameters, lr: 0.5, momentum: 0.9)
        let x = Tensor((0..<8).map { Float($0) * 0.25 - 1 }, shape: [2, 4])
        for _ in 0..<2 {
            opt.zeroGrad()
            net(x).square().sum().backward()
            #expect(first.weight.grad == nil && first.bias!.grad == nil, "frozen parameters got a gradient")
            #expect(last.weight.grad != nil && last.bias!.grad != nil)
            opt.step()
        }
        #expect(first.weight.toArray(Float.self) == before, "optimizer moved a frozen parameter")
        net.unfreeze()
        #expect(net.trainableParameters.count == 4)
        net.zeroGrad()
        net(x).square().sum().backward()
        #expect(first.weight.grad != nil)
        net.zeroGrad()
        #expect(net.parameters.allSatisfy { $0.grad == nil })
    }

    @Test func trainEvalPropagates() {
        let t = Tower()
        #expect(t.training)
        t.eval()
        let all: [Module] = [t, t.stem, t.blocks[0], (t.blocks[0] as! Block).norm, t.dropOut, t.outputHead,
                             t.outputHead[2], (t.outputHead[2] as! Sequential)[1]]
        #expect(all.allSatisfy { !$0.training })
        t.train()
        #expect(all.allSatisfy { $0.training })
        t.train(false)
        #expect(all.allSatisfy { !$0.training })
    }

    /// Dropout: identity in eval; in training, inverted dropout (zeros with probability p, survivors scaled by
    /// 1/(1-p)). With n = 20000 and p = 0.3 the zero fraction has standard error sqrt(p(1-p)/n) = 0.0032, so a
    /// 0.02 band is > 6 standard errors.
    @Test func dropoutTrainAndEval() {
        let d = Dropout(0.3, generator: Generator(seed: 5))
        let x = Tensor((0..<20000).map { Float($0 % 97) * 0.01 + 0.5 }, shape: [200, 100])
        d.eval()
        #expect(d(x).toArray(Float.self) == x.toArray(Float.self))
        d.train()
        let y = d(x).toArray(Float.self), xs = x.toArray(Float.self)
        let zeros = y.filter { $0 == 0 }.count
        #expect(Swift.abs(Double(zeros) / 20000 - 0.3) < 0.02)
        for (a, b) in zip(y, xs) where a != 0 { #expect(Swift.abs(a - b / 0.7) <= 1e-6 * b) }
        #expect(Dropout(0)(x).toArray(Float.self) == xs)
    }

    /// BatchNorm in eval normalizes with the running statistics and leaves them alone; in training it updates them.
    @Test func batchNormUsesRunningStatsInEval() throws {
        let bn = BatchNorm1d(2)
        try bn.loadStateDict(["weight": Tensor([Float(2), 0.5]), "bias": Tensor([Float(1), -1]),
                              "running_mean": Tensor([Float(0.5), -2]), "running_var": Tensor([Float(4), 0.25]),
                              "num_batches_tracked": Tensor([Int64(7)], shape: [])])
        bn.eval()
        let x = Tensor([[Float(1), 2], [3, -4], [-1, 0]])
        let y = bn(x).toArray(Float.self)
        let xs: [[Double]] = [[1, 2], [3, -4], [-1, 0]]
        let (w, b, m, v) = ([2.0, 0.5], [1.0, -1.0], [0.5, -2.0], [4.0, 0.25])
        for i in 0..<3 {
            for j in 0..<2 {
                let e = (xs[i][j] - m[j]) / (v[j] + 1e-5).squareRoot() * w[j] + b[j]
                #expect(Swift.abs(Double(y[i * 2 + j]) - e) < 1e-5)
            }
        }
        #expect(bn.runningMean.toArray(Float.self) == [0.5, -2] && bn.runningVar.toArray(Float.self) == [4, 0.25])
        #expect(bn.numBatchesTracked.item() == 7)
        bn.train()
        _ = bn(x)
        #expect(bn.numBatchesTracked.item() == 8)
        // running_mean = 0.9 * old + 0.1 * batch mean (1, -2/3)
        let rm = bn.runningMean.toArray(Double.self)
        #expect(Swift.abs(rm[0] - (0.9 * 0.5 + 0.1 * 1)) < 1e-6 && Swift.abs(rm[1] - (0.9 * -2 + 0.1 * (-2.0 / 3))) < 1e-6)
    }

    @Test func loadStateDictErrors() throws {
        let net = Sequential { Linear(3, 2); BatchNorm1d(2) }
        var state = Dictionary(uniqueKeysWithValues: net.stateDict().map { ($0.0, $0.1.contiguous()) })
        try net.loadStateDict(state)

        var missing = state
        missing["1.running_var"] = nil
        #expect(throws: ModelStateError.keysMismatch(missing: ["1.running_var"], unexpected: [])) {
            try net.loadStateDict(missing)
        }
        try net.loadStateDict(missing, strict: false)   // non-strict: missing keys are skipped

        var extra = state
        extra["2.weight"] = Tensor.zeros([2])
        extra["0.weight"] = nil
        #expect(throws: ModelStateError.keysMismatch(missing: ["0.weight"], unexpected: ["2.weight"])) {
            try net.loadStateDict(extra)
        }

        // A wrong shape is a typed error naming the entry, and nothing is loaded (no half-loaded model).
        let before = net.stateDict().map { $0.1.toArray(Double.self) }
        // (the bad entry comes last in state-dict order, after good ones that a naive loader would already copy)
        state["0.bias"] = Tensor.full([2], 7)
        state["1.running_var"] = Tensor.ones([3])
        #expect(throws: ModelStateError.shapeMismatch(name: "1.running_var", expected: [2], got: [3])) {
            try net.loadStateDict(state)
        }
        #expect(net.stateDict().map { $0.1.toArray(Double.self) } == before)
        let err = ModelStateError.shapeMismatch(name: "0.weight", expected: [2, 3], got: [2, 4])
        #expect(err.description.contains("0.weight") && err.description.contains("[2, 3]"))
    }

    @Test func summaryListsLayersShapesAndParams() {
        let net = Sequential {
            Conv2d(1, 4, kernel: 3); ReLU(); MaxPool2d(2)
            Flatten(); Linear(4 * 3 * 3, 10); Dropout(0.2); Linear(10, 2)
        }
        (net[6] as! Linear).freeze()
        let s = net.summary(inputShape: [2, 1, 8, 8])
        let lines = s.split(separator: "\n").map(String.init)
        func row(_ name: String) -> String? { lines.first { $0.hasPrefix(name + " ") } }
        #expect(row("0")?.contains("Conv2d(1, 4, kernel: 3x3") == true)
        #expect(row("0")?.contains("[2, 4, 6, 6]") == true)
        #expect(row("0")?.hasSuffix(" 40") == true)
        #expect(row("2")?.contains("MaxPool2d(2x2)") == true && row("2")?.contains("[2, 4, 3, 3]") == true)
        #expect(row("3")?.contains("[2, 36]") == true && row("3")?.hasSuffix(" 0") == true)
        #expect(row("4")?.contains("Linear(36, 10)") == true && row("4")?.hasSuffix(" 370") == true)
        #expect(row("6")?.contains("[2, 2]") == true && row("6")?.hasSuffix(" 22") == true)
        #expect(lines.last == "total parameters: 432 (trainable: 410)")
        #expect(net.training, "summary must restore the training mode")
    }
}
