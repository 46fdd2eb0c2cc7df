import CEmberKernels
import Foundation
import Testing
@testable import EmberCore

/// Ember's AVX-512 float32 GEMM (CEmberKernels/sgemm_avx512.c), called directly. It runs when the active kernel build
/// is avx512 (the default on AVX-512 CPUs; scripts/test also runs this suite under EMBER_KERNELS=avx2 and portable,
/// where it must decline and leave C alone so the backend falls back to OpenBLAS).
@Suite struct SGEMMKernelTests {
    static var active: Bool { KernelVariant.active == .avx512 }

    struct Case: CustomStringConvertible, Sendable {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float
        var description: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k) alpha \(alpha) beta \(beta)" }
    }

    /// Sizes at and around the kernel's blocking: 12-row and 32-column register tiles, 256-deep k blocks, 240-row
    /// A blocks and 2048-column B blocks; every transpose; beta 0 (C holds NaN and must not be read), 1 and another.
    static let cases: [Case] = {
        var out: [Case] = []
        let shapes = [(1, 1, 1), (11, 31, 7), (12, 32, 16), (13, 33, 17), (25, 65, 255), (24, 64, 256), (5, 40, 257),
                      (241, 20, 30), (3, 2049, 5), (17, 47, 513), (36, 96, 48)]
        for (i, (m, n, k)) in shapes.enumerated() {
            for ta in [false, true] {
                for tb in [false, true] {
                    let beta: Float = [0, 1, -0.7][(i + (ta ? 1 : 0) + (tb ? 2 : 0)) % 3]
                    out.append(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: i % 2 == 0 ? 1 : 0.5, beta: beta))
                }
            }
        }
        return out
    }()

    /// Runs the kernel on padded operands; returns C (with its padding) and whether the kernel ran.
    static func run(_ c: Case, _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ c0: [Float], _ ldc: Int,
                    rows: Range<Int>? = nil, cols: Range<Int>? = nil) -> ([Float], Bool) {
        var out = c0
        let r = rows ?? 0..<c.m, q = cols ?? 0..<c.n
        let ran = a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { cp in
                    // A piece of C: rows r of op(A), columns q of op(B).
                    let aOff = c.transA ? r.lowerBound : r.lowerBound * lda
                    let bOff = c.transB ? q.lowerBound * ldb : q.lowerBound
                    return ek_sgemm_f32(c.transA ? 1 : 0, c.transB ? 1 : 0, r.count, q.count, c.k, c.alpha,
                                        ap.baseAddress! + aOff, lda, bp.baseAddress! + bOff, ldb, c.beta,
                                        cp.baseAddress! + r.lowerBound * ldc + q.lowerBound, ldc)
                }
            }
        }
        return (out, ran != 0)
    }

    static func operands(_ c: Case, seed: UInt64) -> (a: [Float], lda: Int, b: [Float], ldb: Int, c: [Float], ldc: Int) {
        var rng = RandomState(seed: seed)
        let lda = (c.transA ? c.m : c.k) + 3, ldb = (c.transB ? c.k : c.n) + 5, ldc = c.n + 2
        let a = Tensor.normal([(c.transA ? c.k : c.m) * lda], rng: &rng).scalars
        let b = Tensor.normal([(c.transB ? c.n : c.k) * ldb], rng: &rng).scalars
        var c0 = Tensor.normal([c.m * ldc], rng: &rng).scalars
        if c.beta == 0 { for i in 0..<c.m { for j in 0..<c.n { c0[i * ldc + j] = .nan } } }
        return (a, lda, b, ldb, c0, ldc)
    }

    @Test(arguments: cases)
    func matchesFloat64WithinTheRoundingBound(_ c: Case) {
        let (a, lda, b, ldb, c0, ldc) = Self.operands(c, seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
        let (got, ran) = Self.run(c, a, lda, b, ldb, c0, ldc)
        guard Self.active else {
            #expect(!ran, "the kernel must decline when the active build is \(KernelVariant.active)")
            #expect(zip(got, c0).allSatisfy { $0.bitPattern == $1.bitPattern }, "declining must leave C untouched")
            return
        }
        #expect(ran)
        // Any order of summing k float32 products is within gamma_(k+2) of the exact value, relative to the sum of
        // the magnitudes of the terms (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).
        let u = Double(Float.ulpOfOne) / 2
        var worst = 0.0
        for i in 0..<c.m {
            for j in 0..<c.n {
                var s = 0.0, mag = 0.0
                for p in 0..<c.k {
                    let x = Double(c.transA ? a[p * lda + i] : a[i * lda + p]) * Double(c.transB ? b[j * ldb + p] : b[p * ldb + j])
                    s += x
                    mag += abs(x)
                }
                let old = c.beta == 0 ? 0 : Double(c.beta) * Double(c0[i * ldc + j])
                let exact = Double(c.alpha) * s + old
                let bound = Double(c.k + 2) * u * (abs(Double(c.alpha)) * mag + abs(old)) + 1e-30
                worst = max(worst, abs(Double(got[i * ldc + j]) - exact) / bound)
            }
            for j in c.n..<ldc { #expect(got[i * ldc + j].bitPattern == c0[i * ldc + j].bitPattern, "row \(i): padding column \(j) was written") }
        }
        #expect(worst <= 1, "\(c): error is \(worst) times the rounding bound")
    }

    /// The promise the backend's thread partition relies on: C computed in pieces (cut at places that are not
    /// multiples of the register tiles) has the same bits as C computed whole.
    @Test func piecesOfCHaveTheBitsOfTheWhole() {
        for c in [Case(transA: false, transB: true, m: 50, n: 77, k: 300, alpha: 1, beta: 0),
                  Case(transA: true, transB: false, m: 37, n: 70, k: 600, alpha: 0.5, beta: 1)] {
            let (a, lda, b, ldb, c0, ldc) = Self.operands(c, seed: 99)
            let (whole, ran) = Self.run(c, a, lda, b, ldb, c0, ldc)
            guard ran else { #expect(!Self.active); continue }
            var pieces = c0
            for rows in [0..<5, 5..<29, 29..<c.m] {
                for cols in [0..<7, 7..<40, 40..<c.n] {
                    pieces = Self.run(c, a, lda, b, ldb, pieces, ldc, rows: rows, cols: cols).0
                }
            }
            #expect(zip(whole, pieces).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(c): pieces differ from the whole")
        }
    }
}

/// B prepared once (`Backend.prepareGemmB`, used by the recurrent layers for W_hh over the time steps; its panels are
/// packed by the threads): the same bits as the plain GEMM, for any thread count preparing it and running it.
@Suite struct PreparedGEMMTests {
    @Test(arguments: [(32, 1024, 256, true), (32, 256, 1024, false), (7, 70, 300, true), (13, 33, 5, false), (300, 64, 20, true),
                      (9, 1000, 1024, false)])
    func sameBitsAsThePlainGemm(m: Int, n: Int, k: Int, transB: Bool) {
        var rng = RandomState(seed: UInt64(m + n + k))
        let a = Tensor.normal([m, k], rng: &rng), b = Tensor.normal(transB ? [n, k] : [k, n], rng: &rng)
        let c0 = Tensor.normal([m, n], rng: &rng)
        let be = CPUBackend.shared
        guard let prepared = be.prepareGemmB(transB: transB, k: k, n: n, b: b.operand, ldb: transB ? k : n) else {
            #expect(KernelVariant.active != .avx512, "the avx512 build prepares float32 operands")
            return
        }
        #expect(prepared.k == k && prepared.n == n)
        for beta in [0.0, 1.0] {
            let plain = c0.cloned()
            Threading.withThreads(1) {
                be.gemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: a.operand, lda: k, b: b.operand,
                        ldb: transB ? k : n, beta: beta, c: plain.operand, ldc: n)
            }
            for threads in [1, 2, 3] {
                let c = c0.cloned()
                Threading.withThreads(threads) {
                    let p = be.prepareGemmB(transB: transB, k: k, n: n, b: b.operand, ldb: transB ? k : n) ?? prepared
                    be.gemm(transA: false, m: m, n: n, k: k, alpha: 1, a: a.operand, lda: k, preparedB: p, beta: beta,
                            c: c.operand, ldc: n)
                }
                #expect(DeterminismTests.bits(c) == DeterminismTests.bits(plain), "\(m)x\(n)x\(k) beta \(beta), \(threads) threads")
            }
        }
    }
}
