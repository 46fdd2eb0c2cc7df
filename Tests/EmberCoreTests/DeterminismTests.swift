import CEmberKernels
import Foundation
import Testing
@testable import EmberCore

/// Same data, same machine and kernel build: the same bits for 1, 2, 3 or 4 threads, for every op that splits work.
/// (scripts/test runs this suite again under each kernel build the CPU has and under OPENBLAS_CORETYPE=Haswell.)
@Suite struct DeterminismTests {
    static let threadCounts = [1, 2, 3, 4]

    /// Bit patterns of a float tensor's values (float32 or float64), so that -0 and NaN payloads count too.
    static func bits(_ t: Tensor) -> [UInt64] {
        t.dtype == .float64 ? t.toArray(Double.self).map(\.bitPattern) : t.scalars.map { UInt64($0.bitPattern) }
    }

    /// Runs `f` under each thread count and returns how many elements differ from the 1-thread result, per count.
    static func mismatches(_ f: () -> [Tensor]) -> [Int: Int] {
        let reference = Threading.withThreads(1) { f().map(bits) }
        var out: [Int: Int] = [:]
        for n in threadCounts.dropFirst() {
            let got = Threading.withThreads(n) { f().map(bits) }
            var diff = 0
            for (r, g) in zip(reference, got) { diff += r.count == g.count ? zip(r, g).filter { $0 != $1 }.count : Swift.max(r.count, g.count) }
            out[n] = diff
        }
        return out
    }

    @Test func gemmPartitionDependsOnlyOnTheShapeAndIsAligned() {
        #expect(CPUBackend.gemmPartition(m: 64, n: 64, k: 64).blocks == 1)            // small: one call
        #expect(CPUBackend.gemmPartition(m: 128, n: 512, k: 784).blocks == 2)        // the MLP's GEMMs: two even halves
        #expect(CPUBackend.gemmPartition(m: 2048, n: 2048, k: 2048).blocks == 8)
        for (m, n, k) in [(300, 40, 200), (40, 300, 200), (257, 129, 64), (128, 512, 784), (512, 784, 128), (2048, 2048, 2048), (96, 4000, 300)] {
            let p = CPUBackend.gemmPartition(m: m, n: n, k: k)
            let dim = p.alongColumns ? n : m
            #expect(p.blocks >= 1 && p.blocks <= 8 && [1, 2, 4, 8].contains(p.blocks))
            if p.blocks > 1 {
                #expect(p.bounds.first == 0 && p.bounds.last == dim, "blocks must cover \(dim)")
                #expect(p.bounds.dropLast().allSatisfy { $0 % 16 == 0 }, "boundaries at multiples of 16")
                let sizes = zip(p.bounds.dropFirst(), p.bounds).map { $0 - $1 }
                #expect(sizes.max()! - sizes.min()! <= 16, "blocks as equal as 16-alignment allows: \(sizes)")
            }
        }
    }

    @Test(arguments: [(300, 40, 200), (40, 300, 200), (257, 129, 64), (128, 512, 784), (130, 70, 1000), (1000, 150, 30)])
    func gemmSameBitsForAnyThreadCount(m: Int, n: Int, k: Int) {
        var r = RandomState(seed: UInt64(m * 7 + n))
        let a = Tensor.normal([m, k], rng: &r), b = Tensor.normal([k, n], rng: &r)
        let aT = a.T.contiguous().T, bT = b.T.contiguous().T   // same values, transposed storage
        let ref = matmul(a.cast(.float64), b.cast(.float64)).toArray(Double.self)
        let diffs = Self.mismatches { [matmul(a, b), matmul(aT, b), matmul(a, bT), matmul(aT, bT)] }
        #expect(diffs.values.allSatisfy { $0 == 0 }, "elements that differ from the 1-thread result, by thread count: \(diffs)")
        // Normwise against float64: float32 rounding grows like sqrt(k) for random data (worst seen here: 4e-8 * sqrt(k)).
        let largest = ref.map(abs).max()!
        for (x, y) in [(a, b), (aT, bT)] {
            let got = Threading.withThreads(2) { matmul(x, y).scalars }
            var worst = 0.0
            for i in 0..<ref.count { worst = Swift.max(worst, abs(Double(got[i]) - ref[i])) }
            #expect(worst / largest < 2e-7 * Double(k).squareRoot(), "normwise error \(worst / largest)")
        }
    }

    @Test func reductionsSoftmaxAndElementwiseSameBits() {
        var r = RandomState(seed: 5)
        let x = Tensor.normal([300_000], rng: &r)
        let m = Tensor.normal([512, 300], rng: &r)
        let big = Tensor.normal([600, 500], rng: &r)
        let diffs = Self.mismatches {
            [x.sum(), x.mean(), x.max(), m.softmax(axis: 1), m.logSoftmax(axis: 0), m * 2 + 1, big.sum(axis: 0),
             big.sum(axis: 1), big.variance(axes: [0]), (big.exp() / (big.abs() + 1)).tanh(), big.logsumexp(axes: [1])]
        }
        #expect(diffs.values.allSatisfy { $0 == 0 }, "\(diffs)")
    }

    /// Row gathers (embeddings) and index-adds (their gradients, summed per vocabulary entry) split among threads.
    @Test func indexSelectAndIndexAddSameBits() {
        var r = RandomState(seed: 6)
        let table = Tensor.normal([65, 1024], rng: &r), rows = Tensor.normal([2048, 1024], rng: &r)
        let idx = Tensor.randint(0, 65, shape: [2048], rng: &r)
        let diffs = Self.mismatches {
            [table.indexSelect(axis: 0, index: idx),
             Tensor.zeros([65, 1024]).indexAdd(axis: 0, index: idx, source: rows),
             Tensor.zeros([65, 1024], dtype: .float64).indexAdd(axis: 0, index: idx, source: rows.cast(.float64))]
        }
        #expect(diffs.values.allSatisfy { $0 == 0 }, "\(diffs)")
    }

    @Test func convolutionForwardAndBackwardSameBits() {
        var r = RandomState(seed: 8)
        let x = Tensor.normal([8, 16, 20, 20], rng: &r), w = Tensor.normal([32, 16, 3, 3], std: 0.1, rng: &r)
        let b = Tensor.normal([32], rng: &r), up = Tensor.normal([8, 32, 10, 10], rng: &r)
        let diffs = Self.mismatches {
            let xl = x.detached(), wl = w.detached(), bl = b.detached()
            for t in [xl, wl, bl] { t.requiresGrad = true }
            let y = maxPool2d(conv2d(xl, wl, bl, padding: 1).relu(), kernel: 2)
            (y * up).sum().backward()
            return [y, xl.grad!, wl.grad!, bl.grad!]
        }
        #expect(diffs.values.allSatisfy { $0 == 0 }, "\(diffs)")
    }

    @Test func linearTrainingStepsSameBits() {
        var r = RandomState(seed: 9)
        let x = Tensor.normal([128, 784], rng: &r), labels = Tensor.randint(0, 10, shape: [128], rng: &r)
        let w1 = Tensor.normal([512, 784], std: 0.03, rng: &r), w2 = Tensor.normal([10, 512], std: 0.05, rng: &r)
        let diffs = Self.mismatches {
            let a = w1.copied(), b = w2.copied()
            a.requiresGrad = true; b.requiresGrad = true
            for _ in 0..<3 {
                let logp = linear(linear(x, a).relu(), b).logSoftmax(axis: -1)
                let loss = -logp.gather(axis: 1, index: labels.unsqueezed(axis: 1)).mean()
                loss.backward()
                withoutGrad {
                    a.scaleAdd(1, a.grad!, -0.1); b.scaleAdd(1, b.grad!, -0.1)
                }
                a.grad = nil; b.grad = nil
            }
            return [a, b]
        }
        #expect(diffs.values.allSatisfy { $0 == 0 }, "\(diffs)")
    }
}

/// Every kernel build this CPU can run, against the portable build, in one process (no global switch).
@Suite struct KernelBuildAgreementTests {
    static func table(_ v: KernelVariant) -> ek_kernels? { ek_kernels_for(v.code)?.pointee }

    static func input(_ n: Int, seed: UInt64, std: Double = 3) -> [Float] {
        var r = RandomState(seed: seed)
        return Tensor.normal([n], std: std, rng: &r).scalars
    }

    /// Largest difference in units of the last place (of the reference), over finite values; NaN must match NaN.
    static func ulps(_ a: [Float], _ b: [Float]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            if x.isNaN || y.isNaN { if x.isNaN != y.isNaN { return .infinity }; continue }
            if x == y { continue }
            worst = Swift.max(worst, abs(x - y) / Swift.max(y.ulp, Float.leastNormalMagnitude))
        }
        return worst
    }

    @Test func unknownOrUnsupportedBuildIsAClearError() {
        if case .failure(let e) = KernelVariant.requested(["EMBER_KERNELS": "sse9"]) {
            #expect(e.message.contains("unknown kernel build") && e.message.contains("portable, avx2, avx512"))
        } else { Issue.record("EMBER_KERNELS=sse9 was accepted") }
        if case .success(let v) = KernelVariant.requested(["EMBER_KERNELS": "portable"]) { #expect(v == .portable) }
        else { Issue.record("portable must always be accepted") }
        if case .success(let v) = KernelVariant.requested([:]) { #expect(v == nil) } else { Issue.record("unset") }
        for v in KernelVariant.allCases where !v.isSupported {
            if case .failure(let e) = KernelVariant.requested(["EMBER_KERNELS": v.rawValue]) {
                #expect(e.message.contains("cannot run"))
            } else { Issue.record("\(v) is not supported here but was accepted") }
        }
        #expect(KernelVariant.supported.contains(.portable))
        #expect(KernelVariant.supported.contains(KernelVariant.active))
    }

    /// Stated agreement across builds: elementwise kernels within 4 ulp (exp, sigmoid, tanh: the same polynomial,
    /// FMA-contracted or not), row sums and softmax within 1e-6 relative.
    @Test func buildsAgreeWithThePortableBuild() throws {
        let base = try #require(Self.table(.portable))
        let n = 10_007
        let x = Self.input(n, seed: 1), y = Self.input(n, seed: 2)
        for v in KernelVariant.supported where v != .portable {
            let t = try #require(Self.table(v))
            for op in 0..<8 {
                var a = [Float](repeating: 0, count: n), b = a
                base.unary(Int32(op), x, &a, n)
                t.unary(Int32(op), x, &b, n)
                #expect(Self.ulps(b, a) <= 4, "\(v) unary op \(op)")
            }
            for op in 0..<6 {
                var a = [Float](repeating: 0, count: n), b = a
                base.binary(Int32(op), x, 1, y, 1, &a, n)
                t.binary(Int32(op), x, 1, y, 1, &b, n)
                #expect(Self.ulps(b, a) <= 1, "\(v) binary op \(op)")
            }
            let s0 = base.sum(x, n), s1 = t.sum(x, n)
            #expect(abs(s0 - s1) <= 1e-6 * x.reduce(0) { $0 + Double(abs($1)) })
            for lg in [Int32(0), 1] {
                var a = [Float](repeating: 0, count: n), b = a
                base.softmax_rows(x, &a, 7, n / 7, lg)
                t.softmax_rows(x, &b, 7, n / 7, lg)
                var worst: Float = 0
                for i in 0..<(7 * (n / 7)) { worst = Swift.max(worst, abs(a[i] - b[i]) / Swift.max(abs(a[i]), 1e-30)) }
                #expect(worst <= 1e-6, "\(v) softmax log=\(lg): \(worst)")
            }
        }
    }
}
