import Foundation
import Testing
@testable import EmberNN

/// Optimizer state comes from checkpoint files: state that does not fit the optimizer loading it (another optimizer,
/// other groups, parameter counts or shapes, damaged values) is a thrown error that says what was expected and what
/// was found, and changes nothing.
@Suite struct OptimizerStateTests {
    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    func params() -> [Tensor] {
        let a = Tensor.ones([2, 3]), b = Tensor.ones([3])
        a.requiresGrad = true; b.requiresGrad = true
        return [a, b]
    }

    func stepped(_ opt: Optimizer) -> OptimizerState {
        for g in opt.paramGroups { for p in g.params { p.grad = Tensor.ones(p.shape) } }
        opt.step()
        return opt.stateDict()
    }

    @Test func stateRecordsTheOptimizerAndItsLayout() {
        let s = stepped(Adam(groups: [ParamGroup([params()[0]]), ParamGroup([params()[1]], lr: 0.5)]))
        #expect(s.optimizer == "Adam")
        #expect(s.groupSizes == [1, 1])
        #expect(s.lrs == [1e-3, 0.5])
    }

    @Test func anotherOptimizerKind() throws {
        let saved = stepped(Adam(params()))
        let sgd = SGD(params(), lr: 0.1, momentum: 0.9)
        #expect(message { try sgd.loadStateDict(saved) } == "optimizer state was saved by Adam; this optimizer is SGD")
        // state from before the kind was recorded: the buffer names give it away
        var old = saved
        old.optimizer = nil
        old.groupSizes = nil
        #expect(message { try sgd.loadStateDict(old) }
                == "optimizer state '0.exp_avg' is not a buffer of SGD (its buffers: momentum_buffer)")
        #expect(sgd.stateDict().tensors.isEmpty && sgd.stateDict().steps.isEmpty)
    }

    @Test func anotherGroupLayout() throws {
        let ps = params()
        let saved = stepped(SGD(groups: [ParamGroup([ps[0]]), ParamGroup([ps[1]], lr: 0.5)], lr: 0.1, momentum: 0.9))
        #expect(message { try SGD(params(), lr: 0.1, momentum: 0.9).loadStateDict(saved) }
                == "optimizer state has 2 parameter group(s) (learning rates [0.1, 0.5]); this optimizer has 1")
        let swapped = SGD(groups: [ParamGroup(params()), ParamGroup([Tensor.ones([1])])], lr: 0.1, momentum: 0.9)
        #expect(message { try swapped.loadStateDict(saved) }
                == "optimizer state: parameter group 0 has 1 parameter(s) in the saved state, 2 here")
    }

    @Test func anotherParameterCountOrShape() throws {
        let saved = stepped(Adam(params()))
        // fewer parameters (state from before group sizes were recorded: the parameter indices give it away)
        var old = saved
        old.groupSizes = nil
        #expect(message { try Adam([Tensor.ones([2, 3])]).loadStateDict(old) }
                == "optimizer state '1.exp_avg' is for parameter 1; this optimizer has 1 parameter(s)")
        #expect(message { try Adam([Tensor.ones([2, 3])]).loadStateDict(saved) }
                == "optimizer state: parameter group 0 has 2 parameter(s) in the saved state, 1 here")
        // same count, other shapes
        #expect(message { try Adam([Tensor.ones([3, 2]), Tensor.ones([3])]).loadStateDict(saved) }
                == "optimizer state '0.exp_avg': expected shape [3, 2] (its parameter's), found [2, 3]")
        // a malformed key, a bad step count
        var bad = saved
        bad.tensors["exp_avg"] = Tensor.ones([3])
        #expect(message { try Adam(params()).loadStateDict(bad) }
                == "optimizer state key 'exp_avg' is not '<parameter index>.<buffer name>'")
        bad = saved
        bad.steps[0] = -2
        #expect(message { try Adam(params()).loadStateDict(bad) } == "optimizer state: step count -2 of parameter 0 is negative")
        bad = saved
        bad.steps[7] = 1
        #expect(message { try Adam(params()).loadStateDict(bad) }
                == "optimizer state 'steps[7]' is for parameter 7; this optimizer has 2 parameter(s)")
        bad = saved
        bad.steps[0] = Int.max
        #expect(message { try Adam(params()).loadStateDict(bad) }
                == "optimizer state: step count \(Int.max) of parameter 0 is too large")
    }

    /// A failed load changes nothing; a good one converts moments to the parameter's dtype.
    @Test func failedLoadChangesNothingAndGoodLoadConverts() throws {
        let ps = params()
        let opt = Adam(ps, lr: 0.01)
        let before = stepped(opt)
        var other = before
        other.tensors["1.exp_avg_sq"] = Tensor.ones([4])
        other.lrs = [0.5]
        #expect(throws: OptimizerStateError.self) { try opt.loadStateDict(other) }
        #expect(opt.lr == 0.01)
        #expect(opt.stateDict().tensors["1.exp_avg_sq"]?.shape == [3])
        var f64 = before
        f64.tensors = f64.tensors.mapValues { $0.cast(.float64) }
        try opt.loadStateDict(f64)
        #expect(opt.stateDict().tensors.values.allSatisfy { $0.dtype == .float32 })
        opt.step()   // the float32 kernel reads float32 moments
    }
}
