import Foundation
import Testing
@testable import EmberCore

@Suite struct CoreBehaviourTests {
    @Test func emptyTensorsWorkAsNumPy() {
        let e = Tensor.zeros([0, 3])
        #expect(e.count == 0)
        #expect((e + 1).shape == [0, 3])
        #expect(e.sum().item() == 0)
        #expect(e.sum(axis: 0).scalars == [0, 0, 0])
        #expect(e.sum(axis: 1).shape == [0])
        #expect(e.prod(axis: 0).scalars == [1, 1, 1])
        #expect(matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 3])).scalars == [Float](repeating: 0, count: 6))
        #expect(matmul(e, Tensor.ones([3, 2])).shape == [0, 2])
        #expect(concat([e, Tensor.ones([1, 3])]).shape == [1, 3])
        #expect(e.softmax(axis: 1).shape == [0, 3])
        #expect(Tensor.arange(0, 0).count == 0)
        #expect(e.T.contiguous().shape == [3, 0])
    }

    @Test func viewsShareStorage() {
        let a = Tensor.arange(0, 12).reshaped([3, 4])
        let t = a.T
        #expect(t.storage === a.storage)
        #expect(!t.isContiguous)
        #expect(t.contiguous().scalars == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        let s = a.slice(axis: 1, start: 1, end: 4, step: 2)
        #expect(s.storage === a.storage)
        #expect(s.scalars == [1, 3, 5, 7, 9, 11])
        let f = a.flipped(axes: [0, 1])
        #expect(f.storage === a.storage)
        #expect(f.scalars == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
        let e = Tensor([1, 2, 3] as [Float]).reshaped([3, 1]).expanded(to: [3, 2])
        #expect(e.strides == [1, 0])
        #expect(e.scalars == [1, 1, 2, 2, 3, 3])
        #expect(a[1].scalars == [4, 5, 6, 7])
        #expect(a[.all, .range(-2, nil)].scalars == [2, 3, 6, 7, 10, 11])
        #expect(a[.newAxis, 2].shape == [1, 4])
    }

    @Test func dtypesAndPromotion() {
        let i = Tensor([1, 2, 3] as [Int32])
        let f = Tensor([0.5, 0.5, 0.5] as [Double])
        #expect((i + f).dtype == .float64)
        #expect((i + f).toArray(Double.self) == [1.5, 2.5, 3.5])
        #expect((i * 2).dtype == .int32)
        #expect((i / 2).dtype == .float32)
        #expect((i .> 1).toArray(Bool.self) == [false, true, true])
        #expect((i .> 1).sum().item() == 2)
        #expect(Tensor([3, 1, 2] as [Int64]).argmax().item() == 0)
        #expect(Tensor([true, false]).cast(.float32).scalars == [1, 0])
    }

    @Test func randomIsSeededAndSplitsCleanly() {
        var r1 = RandomState(seed: 7), r2 = RandomState(seed: 7)
        let a = Tensor.normal([1000], rng: &r1), b = Tensor.normal([1000], rng: &r2)
        #expect(a.scalars == b.scalars)
        #expect(r1 == r2)
        let c = Tensor.normal([1000], rng: &r1)
        #expect(c.scalars != a.scalars)
        // moments of 100k normals and uniforms
        var r = RandomState(seed: 1)
        let n = Tensor.normal([100_000], dtype: .float64, rng: &r)
        #expect(abs(n.mean().item()) < 0.02)
        #expect(abs(n.std().item() - 1) < 0.02)
        let u = Tensor.uniform([100_000], low: -1, high: 3, dtype: .float64, rng: &r)
        #expect(abs(u.mean().item() - 1) < 0.02)
        #expect(u.min().item() >= -1 && u.max().item() < 3)
        // split streams differ from each other and from the parent, and do not advance it
        let parent = RandomState(seed: 9)
        var s0 = parent.split(0), s1 = parent.split(1)
        #expect(s0.nextDouble() != s1.nextDouble())
        #expect(parent == RandomState(seed: 9))
        // thread count does not change the values
        for threads in [1, 2, 3, 4] {
            var t1 = RandomState(seed: 3), t2 = RandomState(seed: 3)
            let one = Threading.withThreads(1) { Tensor.uniform([70_000], rng: &t1).scalars }
            let many = Threading.withThreads(threads) { Tensor.uniform([70_000], rng: &t2).scalars }
            #expect(one == many)
        }
        let p = RandomState(seed: 4)
        var q = p
        #expect(Set(q.permutation(50)) == Set(0..<50))
    }

    @Test func categoricalFollowsProbabilities() {
        var r = RandomState(seed: 11)
        let s = Tensor.categorical(Tensor([0.1, 0.0, 0.6, 0.3] as [Float]), samples: 20_000, rng: &r).toArray(Int64.self)
        var counts = [0, 0, 0, 0]
        for v in s { counts[Int(v)] += 1 }
        #expect(counts[1] == 0)
        #expect(abs(Double(counts[2]) / 20_000 - 0.6) < 0.02)
        #expect(abs(Double(counts[0]) / 20_000 - 0.1) < 0.01)
        let bern = Tensor.bernoulli([20_000], p: 0.25, rng: &r)
        #expect(abs(bern.mean().item() - 0.25) < 0.02)
    }

    @Test func gradientAccumulationAndNoGrad() {
        let w = Tensor([1, 2, 3] as [Float])
        w.requiresGrad = true
        (w * w).sum().backward()
        (w * 3).sum().backward()
        #expect(w.grad!.scalars == [5, 7, 9])  // 2w + 3, accumulated over two calls
        let y = withoutGrad { w * 2 }
        #expect(!y.requiresGrad)
        let d = w.detached()
        #expect(!d.requiresGrad && d.storage === w.storage)
        // gradients(of:wrt:) does not touch .grad and handles intermediate tensors
        let h = w * w
        let out = (h * 2).sum()
        let g = gradients(of: out, wrt: [h, w])
        #expect(g[0].scalars == [2, 2, 2])
        #expect(g[1].scalars == [4, 8, 12])
        #expect(w.grad!.scalars == [5, 7, 9])
        let (v, gs) = valueAndGrad([w]) { p in (p[0] * p[0]).sum() }
        #expect(v.item() == 14)
        #expect(gs[0].scalars == [2, 4, 6])
    }

    /// (The CPU backend's caching allocator with the tape; the reference backend mallocs every tensor.)
    @Test(.enabled(if: DefaultBackend.current === CPUBackend.shared, "measures the CPU backend's memory"))
    func tapeMemoryStaysFlat() async {
        // A forward+backward loop on a small MLP: after warm-up, resident memory must not keep growing.
        // It runs in a child process so that tests running in parallel do not disturb the measurement.
        await #expect(processExitsWith: .success) {
            var r = RandomState(seed: 2)
            let w1 = Tensor.normal([64, 32], std: 0.1, rng: &r), w2 = Tensor.normal([10, 64], std: 0.1, rng: &r)
            w1.requiresGrad = true
            w2.requiresGrad = true
            let x = Tensor.normal([16, 32], rng: &r)
            func step() {
                let loss = linear(linear(x, w1).relu(), w2).logSoftmax(axis: -1).mean()
                loss.backward()
                w1.grad = nil
                w2.grad = nil
            }
            for _ in 0..<500 { step() }
            let before = residentMemoryBytes()
            for _ in 0..<10_000 { step() }
            let after = residentMemoryBytes()
            let stats = CachingAllocator.shared.statistics
            if after - before >= 4 << 20 || stats.hits <= stats.misses { exit(1) }
        }
    }

    @Test func allocatorBuckets() {
        #expect(CachingAllocator.bucket(1) == 64)
        #expect(CachingAllocator.bucket(65) >= 65)
        for n in [100, 1000, 4097, 1 << 20, (1 << 20) + 1, 3_000_000] {
            let b = CachingAllocator.bucket(n)
            #expect(b >= n && b <= n + n / 4 + 64)
        }
    }

    @Test func descriptionIsReadable() {
        let t = Tensor([[1, 2], [3, 4]] as [[Float]])
        #expect(t.description.hasPrefix("tensor([[1.0, 2.0],"))
        #expect(Tensor([1, 2] as [Int64]).description == "tensor([1, 2], dtype: int64)")
        #expect(Tensor.arange(0, 20).description.contains("..."))
    }
}

@Suite struct CastTests {
    /// Float values an integer type cannot hold become its minimum, as in PyTorch and NumPy on x86-64; never a trap.
    @Test func outOfRangeFloatToIntegerCastsDoNotTrap() {
        let x = Tensor([1e30, -1e30, .nan, .infinity, 2.9, -2.9, 9.3e18] as [Double])
        #expect(x.cast(.int64).toArray(Int64.self) == [.min, .min, .min, .min, 2, -2, .min])
        #expect(x.cast(.int32).toArray(Int32.self) == [.min, .min, .min, .min, 2, -2, .min])
        #expect(Tensor([2147483647.0, -2147483648.0] as [Double]).cast(.int32).toArray(Int32.self) == [.max, .min])
    }
}

@Suite struct LinearRankTests {
    /// linear on [..., in] inputs equals linear on the [rows, in] matrix, with and without bias (a 3-D input with a
    /// bias used to write the bias through the wrong strides, past the output).
    @Test func higherRankInputsEqualTheFlattenedMatrix() {
        var r = RandomState(seed: 3)
        let w = Tensor.normal([5, 4], rng: &r), b = Tensor.normal([5], rng: &r)
        for shape in [[4], [3, 4], [2, 3, 4], [2, 1, 3, 4], [6, 1, 4]] {
            let x = Tensor.normal(shape, rng: &r)
            let flat = x.reshaped([-1, 4])
            for bias in [b, nil] as [Tensor?] {
                let y = linear(x, w, bias), ref = linear(flat, w, bias)
                #expect(y.shape == Array(shape.dropLast()) + [5])
                #expect(y.scalars == ref.scalars, "shape \(shape), bias \(bias != nil)")
            }
        }
    }
}
