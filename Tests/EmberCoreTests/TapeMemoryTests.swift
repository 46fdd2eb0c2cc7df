import Foundation
import Testing
@testable import EmberCore

/// The tape must not keep memory alive: forward passes without backward (evaluation, logging, a server), forward +
/// backward, and graphs kept with `retainGraph: true` and then dropped. Each runs 10,000 steps in a child process
/// (so tests running in parallel do not disturb the measurement) and must grow resident memory by under 4 MB.
@Suite struct TapeMemoryTests {
    static let limit = 4 << 20

    /// Runs `step` 500 times to warm the allocator, then 10,000 times; prints the growth; exits 1 when over limit.
    static func measure(_ label: String, _ step: () -> Void) -> Never {
        for _ in 0..<500 { step() }
        let before = residentMemoryBytes()
        for _ in 0..<10_000 { step() }
        let growth = residentMemoryBytes() - before
        FileHandle.standardError.write(Data("\(label): resident memory grew by \(growth) bytes over 10000 steps\n".utf8))
        exit(growth < limit ? 0 : 1)
    }

    @Test func forwardWithoutBackwardDoesNotLeak() async {
        // The shape of the defect: every op whose backward rule needs its own output (exp, softmax, sigmoid, tanh,
        // div, pow, max, prod, sqrt) used to keep its graph alive through a reference cycle.
        let r = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            var rng = RandomState(seed: 1)
            let x = Tensor.normal([32, 64], rng: &rng), w = Tensor.normal([64, 64], std: 0.1, rng: &rng)
            w.requiresGrad = true
            TapeMemoryTests.measure("forward only") {
                let h = matmul(x, w).relu().exp()
                let p = (h.softmax(axis: 1) + h.sigmoid() + h.tanh() + (h + 1).sqrt()).logSoftmax(axis: 0)
                let q = (p / (h + 1)).pow(Tensor(2.0)) + h.max(axis: 1, keepDims: true) + h.prod(axis: 0) * 0
                _ = q.sum().item()
            }
        }
        if let r { print(String(decoding: r.standardErrorContent, as: UTF8.self)) }
    }

    @Test func forwardAndBackwardDoNotLeak() async {
        let r = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            var rng = RandomState(seed: 2)
            let x = Tensor.normal([32, 64], rng: &rng), w = Tensor.normal([64, 64], std: 0.1, rng: &rng)
            w.requiresGrad = true
            TapeMemoryTests.measure("forward and backward") {
                let h = matmul(x, w).relu().exp()
                (h.softmax(axis: 1) / (h + 1)).sigmoid().sum().backward()
                w.grad = nil
            }
        }
        if let r { print(String(decoding: r.standardErrorContent, as: UTF8.self)) }
    }

    @Test func retainedGraphIsFreedWhenDropped() async {
        let r = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            var rng = RandomState(seed: 3)
            let x = Tensor.normal([32, 64], rng: &rng), w = Tensor.normal([64, 64], std: 0.1, rng: &rng)
            w.requiresGrad = true
            TapeMemoryTests.measure("retainGraph then dropped") {
                let loss = matmul(x, w).tanh().exp().softmax(axis: 1).sum()
                loss.backward(retainGraph: true)
                loss.backward(retainGraph: true)
                w.grad = nil
            }
        }
        if let r { print(String(decoding: r.standardErrorContent, as: UTF8.self)) }
    }
}

@Suite struct GradientAliasingTests {
    @Test func leavesNeverShareGradientMemory() {
        let a = Tensor([1, 2, 3] as [Float]), b = Tensor([4, 5, 6] as [Float])
        a.requiresGrad = true; b.requiresGrad = true
        (a + b).sum().backward()           // add passes its upstream gradient through to both inputs
        #expect(a.grad!.storage !== b.grad!.storage)
        a.grad!.scaleAdd(2, a.grad!, 0)    // in place, as clipping and optimizers do
        #expect(a.grad!.scalars == [2, 2, 2])
        #expect(b.grad!.scalars == [1, 1, 1])
    }

    @Test func leafGradientDoesNotAliasTheCallersSeed() {
        let a = Tensor([1, 2, 3] as [Float])
        a.requiresGrad = true
        let seed = Tensor([1, 1, 1] as [Float])
        a.reshaped([3, 1]).reshaped([3]).backward(seed)
        #expect(a.grad!.storage !== seed.storage)
        a.grad!.fill(7)
        #expect(seed.scalars == [1, 1, 1])
    }
}
