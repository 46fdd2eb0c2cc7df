import Foundation
import Testing
@testable import EmberNN

/// A recurrent cell with two inputs (x and an optional state), a state output and a call counter buffer:
/// h' = tanh(x Wxᵀ + b + h Whᵀ).
final class CountingCell: Module, Layer {
    typealias Input = (x: Tensor, state: Tensor?)
    typealias Output = (output: Tensor, state: Tensor)
    let inputProj: Linear
    @Parameter var stateWeight: Tensor
    @Buffer var calls = Tensor.zeros([], dtype: .int64)

    init(_ inputs: Int, _ hidden: Int, generator: Generator) {
        inputProj = Linear(inputs, hidden, generator: generator)
        _stateWeight = Parameter(wrappedValue: Tensor.normal([hidden, hidden], std: 0.5, rng: &generator.stateRef))
    }

    func forward(_ input: Input) -> Output {
        withoutGrad { calls.assign(calls + 1) }
        var pre = inputProj(input.x)
        if let h = input.state { pre = pre + matmul(h, stateWeight.transposed()) }
        let next = pre.tanh()
        return (next, next)
    }

    /// The call users write.
    func callAsFunction(_ x: Tensor, _ state: Tensor? = nil) -> (output: Tensor, state: Tensor) { forward((x, state)) }
}

extension Generator {
    /// A RandomState to draw from, written back after use.
    var stateRef: RandomState {
        get { state }
        set { state = newValue }
    }
}

/// Generic code sees only `Layer`.
func apply<L: Layer>(_ layer: L, _ input: L.Input) -> L.Output { layer(input) }

/// Holds layers in every container kind, with renamed keys and a swappable head.
final class Containers: Module {
    @Child(key: "backbone") var trunk: Module = Linear(3, 4)
    @Child var head: Module? = Linear(4, 2)
    let branches: [String: Module] = ["z": Linear(4, 1), "a": Linear(4, 1)]
    let towers = [Linear(4, 4), Linear(4, 4)]
    @Parameter var scales = [Tensor.ones([2]), Tensor.ones([3])]
    let wQ = Tensor.ones([2, 2])
    @Buffer(persistent: false) var cache = Tensor.zeros([4])
    override var stateKeys: [String: String] { ["wQ": "W_q"] }
}

@Suite struct LayerProtocolTests {
    @Test func statefulTwoInputLayerComputesAndDifferentiates() throws {
        let cell = CountingCell(3, 4, generator: Generator(seed: 3))
        var rng = RandomState(seed: 9)
        let x = Tensor.normal([2, 3], rng: &rng), h0 = Tensor.normal([2, 4], rng: &rng), u = Tensor.normal([2, 4], rng: &rng)
        h0.requiresGrad = true
        x.requiresGrad = true
        let (first, state) = cell(x)                       // no state yet
        #expect(first.shape == [2, 4] && state.shape == [2, 4])
        let (out, _) = apply(cell, (x, h0))                // through the generic entry point
        #expect(cell.calls.item() == 2)
        #expect(cell.stateDict().map(\.0) == ["state_weight", "calls", "input_proj.weight", "input_proj.bias"])
        #expect(cell.namedParameters().map(\.0) == ["state_weight", "input_proj.weight", "input_proj.bias"])
        (out * u).sum().backward()

        // Reference: the closed-form gradients, computed without the tape.
        let (wx, b, wh) = (cell.inputProj.weight, cell.inputProj.bias!, cell.stateWeight)
        try withoutGrad {
            let y = (matmul(x, wx.transposed()) + b + matmul(h0, wh.transposed())).tanh()
            let dpre = u * (1 - y * y)
            func close(_ got: Tensor?, _ want: Tensor, _ what: String) throws {
                let g = try #require(got, "\(what) has a gradient").toArray(Double.self), w = want.toArray(Double.self)
                #expect(g.count == w.count)
                for (a, e) in zip(g, w) { #expect(abs(a - e) <= 1e-5 + 1e-5 * abs(e), "\(what): \(a) vs \(e)") }
            }
            try close(wx.grad, matmul(dpre.transposed(), x), "input weight")
            try close(b.grad, dpre.sum(axis: 0), "bias")
            try close(wh.grad, matmul(dpre.transposed(), h0), "state weight")
            try close(x.grad, matmul(dpre, wx), "x")
            try close(h0.grad, matmul(dpre, wh), "state")
        }
    }

    @Test func containersOptionalsKeysAndReplacement() {
        let m = Containers()
        #expect(m.stateDict().map(\.0) == ["scales.0", "scales.1", "W_q",
                                           "backbone.weight", "backbone.bias", "head.weight", "head.bias",
                                           "branches.a.weight", "branches.a.bias", "branches.z.weight", "branches.z.bias",
                                           "towers.0.weight", "towers.0.bias", "towers.1.weight", "towers.1.bias"])
        #expect(m.namedBuffers().map(\.0) == ["cache"])          // non-persistent: a buffer, not in the state dict
        #expect(m.scales.allSatisfy { $0.requiresGrad })
        #expect(m.namedModules().map(\.0) == ["", "backbone", "head", "branches.a", "branches.z", "towers.0", "towers.1"])

        // swap the head for another kind of layer, and a layer inside a Sequential
        m.replaceModule(at: "head", with: Sequential { Linear(4, 3); ReLU() })
        #expect(m.stateDict().map(\.0).filter { $0.hasPrefix("head.") } == ["head.0.weight", "head.0.bias"])
        m.head = nil
        #expect(!m.stateDict().map(\.0).contains { $0.hasPrefix("head.") })
        let seq = Sequential { Linear(2, 2); ReLU(); Linear(2, 5) }
        seq.replaceModule(at: "2", with: Linear(2, 7))
        #expect(seq.stateDict().last?.1.shape == [7])
        let dict = ModuleDict(["b": Linear(1, 1), "a": Identity()])
        let outer = Sequential { dict }
        outer.replaceModule(at: "0.a", with: Linear(1, 2))
        #expect(outer.stateDict().map(\.0) == ["0.b.weight", "0.b.bias", "0.a.weight", "0.a.bias"])
        #expect(outer.module(at: "0.a") === dict["a"])
        let list = ModuleList { Linear(1, 1) }
        list.append(Linear(1, 2))
        list[0] = Identity()
        #expect(list.stateDict().map(\.0) == ["1.weight", "1.bias"] && list.count == 2)
    }

    @Test func partialLoadReportsMissingUnexpectedAndMismatchedKeys() throws {
        let source = Sequential { Linear(3, 4); ReLU(); Linear(4, 10) }
        let target = Sequential { Linear(3, 4); ReLU(); Linear(4, 2); Linear(2, 2) }
        let state = Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.0, $0.1.contiguous()) })
        let before = target.stateDict().map { $0.1.toArray(Float.self) }
        #expect(throws: ModelStateError.shapeMismatch(name: "2.weight", expected: [2, 4], got: [10, 4])) {
            try target.loadStateDict(state, strict: false)
        }
        #expect(target.stateDict().map { $0.1.toArray(Float.self) } == before, "a failed load changes nothing")
        #expect(throws: ModelStateError.keysMismatch(missing: ["3.bias", "3.weight"], unexpected: [])) {
            try target.loadStateDict(state, strict: true, skipMismatchedShapes: true)
        }
        let report = try target.loadStateDict(state, strict: false, skipMismatchedShapes: true)
        #expect(report.loaded == ["0.weight", "0.bias"])
        #expect(report.missing == ["3.bias", "3.weight"] && report.unexpected.isEmpty)
        #expect(report.shapeMismatched == [.init(name: "2.weight", expected: [2, 4], got: [10, 4]),
                                           .init(name: "2.bias", expected: [2], got: [10])])
        #expect(!report.isComplete)
        #expect(target.stateDict()[0].1.toArray(Float.self) == source.stateDict()[0].1.toArray(Float.self))
        #expect(target.stateDict()[2].1.toArray(Float.self) == before[2], "mismatched entries are skipped")
        let full = try source.loadStateDict(state)
        #expect(full.isComplete)
    }
}
