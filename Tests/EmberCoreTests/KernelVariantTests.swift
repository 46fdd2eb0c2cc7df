import CEmberKernels
import Foundation
import Testing
@testable import EmberCore

// Every build of the float32 kernels (portable 8-lane, AVX2+FMA 8-lane, AVX-512 16-lane) must treat special values
// alike. The golden tests check whichever build the dispatcher picks on this machine against PyTorch; here each build
// the CPU can run is called directly on the same inputs (special values in the vector body and the scalar tail of
// both lane widths, and as broadcast scalars) and must give the same NaN / +-inf / signed zeros as the dispatched one,
// and finite values within a few ulp (FMA contraction in the AVX builds moves the last bits of exp, tanh, sigmoid).
// A build the CPU lacks is skipped, so the test never depends on the CPU model for its verdict.

struct KernelBuild: @unchecked Sendable, CustomTestStringConvertible {
    let name: String
    let table: ek_kernels
    var testDescription: String { name }

    func unary(_ op: Int32, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) { table.unary(op, x, out, n) }
    func binary(_ op: Int32, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                _ out: UnsafeMutablePointer<Float>, _ n: Int) { table.binary(op, a, sa, b, sb, out, n) }
    func reluBackward(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        table.relu_backward(x, g, out, n)
    }
    func softmaxRows(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ rows: Int, _ cols: Int, _ lg: Int32) {
        table.softmax_rows(x, out, rows, cols, lg)
    }
    func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Double { table.sum(x, n) }

    /// The builds this CPU can run (the portable build always), each called through its own kernel table.
    static let available: [KernelBuild] = KernelVariant.supported.compactMap { v in
        ek_kernels_for(v.code).map { KernelBuild(name: v.rawValue, table: $0.pointee) }
    }
}

/// 70 values (64 in the vector body of both widths, 6 in the tail) with NaN, +-inf, -0.0, subnormal and huge
/// values in each part.
let kernelSpecials: [Float] = {
    let tiny = Float(bitPattern: 0x0001_16C2)  // ~1e-40, subnormal
    let s: [Float] = [.nan, 1.5, -.infinity, -0.0, 0.0, .infinity, -2.0, tiny, -tiny, 3e38, -3e38, 0.25, 88.5,
                      -88.5, 100, -100, .nan, 0.7, -0.3, 1e-30, -1e-30, 20.5, -20.5, 2.0, -1.0, .infinity,
                      -.infinity, -0.0, 5.0, -5.0, 0.5, .nan]
    return s + s.reversed() + [-0.0, .nan, .infinity, -.infinity, 0.0, .nan]
}()

/// Same special class (NaN, the same infinity, the same signed zero) and finite values within 4 ulp-ish.
func kernelSame(_ a: Float, _ b: Float) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite || a == 0 || b == 0 { return a == b && a.sign == b.sign }
    return Swift.abs(a - b) <= 5e-7 * Swift.abs(b) + 1e-37
}

@Suite struct KernelVariantTests {
    func expectSame(_ got: [Float], _ want: [Float], _ what: String, _ build: KernelBuild) {
        let bad = got.indices.filter { !kernelSame(got[$0], want[$0]) }
        #expect(bad.isEmpty, "\(build.name) \(what): \(bad.prefix(4).map { "[\($0)] \(got[$0]) vs dispatched \(want[$0])" })")
    }

    @Test(arguments: KernelBuild.available)
    func unaryOps(_ build: KernelBuild) {
        let x = kernelSpecials, n = x.count
        for op in Int32(0)...9 {
            var want = [Float](repeating: 0, count: n), got = want
            ek_unary_f32(op, x, &want, n)
            build.unary(op, x, &got, n)
            expectSame(got, want, "unary \(op)", build)
        }
        // PyTorch's semantics, spelled out once (the goldens check the dispatched build in full)
        var y = [Float](repeating: 0, count: n)
        for (op, check) in [(Int32(0), "exp"), (3, "sigmoid"), (4, "tanh"), (1, "relu")] {
            build.unary(op, x, &y, n)
            #expect(x.indices.filter { x[$0].isNaN }.allSatisfy { y[$0].isNaN }, "\(build.name) \(check)(NaN) must be NaN")
        }
        build.unary(1, x, &y, n)
        #expect(y[3] == 0 && y[3].sign == .minus, "\(build.name) relu(-0.0) must be -0.0")
        // GELU and its derivative against the float64 definition (erf from libm), NaN and the infinities as PyTorch's
        let grid = (0..<2001).map { Float($0 - 1000) * 0.01 } + [-30, -12, 12, 30, .infinity, -.infinity, .nan]
        var gelu = [Float](repeating: 0, count: grid.count), dgelu = gelu
        build.unary(8, grid, &gelu, grid.count)
        build.unary(9, grid, &dgelu, grid.count)
        for (i, v) in grid.enumerated() where v.isFinite {
            let d = Double(v), cdf = 0.5 * (1 + Foundation.erf(d / 2.0.squareRoot()))
            let pdf = Foundation.exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            #expect(Swift.abs(Double(gelu[i]) - d * cdf) <= 3e-7 * Swift.max(1, Swift.abs(d)), "\(build.name) gelu(\(v)) = \(gelu[i])")
            #expect(Swift.abs(Double(dgelu[i]) - (cdf + d * pdf)) <= 3e-7, "\(build.name) gelu'(\(v)) = \(dgelu[i])")
        }
        let k = grid.count
        #expect(gelu[k - 3] == .infinity && gelu[k - 2].isNaN && gelu[k - 1].isNaN, "\(build.name) gelu(+inf, -inf, NaN)")
        #expect(dgelu[k - 3].isNaN && dgelu[k - 2].isNaN && dgelu[k - 1].isNaN, "\(build.name) gelu'(+inf, -inf, NaN): inf * phi(inf) = inf * 0")
        build.unary(7, x, &y, n)
        #expect(y[3] == 0 && y[3].sign == .plus, "\(build.name) abs(-0.0) must be +0.0")
        build.unary(4, x, &y, n)
        #expect(y[3] == 0 && y[3].sign == .minus && y[64].sign == .minus && y[68] == 0 && y[68].sign == .plus, "\(build.name) tanh(+-0)")
    }

    @Test(arguments: KernelBuild.available)
    func binaryOps(_ build: KernelBuild) {
        let a = kernelSpecials, b = Array(kernelSpecials.reversed()), n = a.count
        for op in Int32(0)...5 {
            // both strided, and each side a broadcast scalar that is NaN, -0.0 or -inf
            var want = [Float](repeating: 0, count: n), got = want
            ek_binary_f32(op, a, 1, b, 1, &want, n)
            build.binary(op, a, 1, b, 1, &got, n)
            expectSame(got, want, "binary \(op)", build)
            for s: Float in [.nan, -0.0, -Float.infinity] {
                let sc = [s]
                ek_binary_f32(op, a, 1, sc, 0, &want, n)
                build.binary(op, a, 1, sc, 0, &got, n)
                expectSame(got, want, "binary \(op) with scalar \(s) second", build)
                ek_binary_f32(op, sc, 0, b, 1, &want, n)
                build.binary(op, sc, 0, b, 1, &got, n)
                expectSame(got, want, "binary \(op) with scalar \(s) first", build)
            }
        }
        var out = [Float](repeating: 0, count: n)
        build.binary(4, a, 1, b, 1, &out, n)
        #expect(a.indices.filter { a[$0].isNaN || b[$0].isNaN }.allSatisfy { out[$0].isNaN }, "\(build.name) maximum")
        build.binary(5, a, 1, b, 1, &out, n)
        #expect(a.indices.filter { a[$0].isNaN || b[$0].isNaN }.allSatisfy { out[$0].isNaN }, "\(build.name) minimum")
        build.binary(1, [Float](repeating: -0.0, count: n), 1, [Float(0)], 0, &out, n)
        #expect(out.allSatisfy { $0 == 0 && $0.sign == .minus }, "\(build.name) -0 - 0 must be -0 in body and tail")
    }

    @Test(arguments: KernelBuild.available)
    func reluBackwardAndSum(_ build: KernelBuild) {
        let x = kernelSpecials, n = x.count
        let g = (0..<n).map { Float($0 % 7) - 2.5 }
        var want = [Float](repeating: 0, count: n), got = want
        ek_relu_backward_f32(x, g, &want, n)
        build.reluBackward(x, g, &got, n)
        expectSame(got, want, "relu backward", build)
        #expect(x.indices.filter { x[$0].isNaN }.allSatisfy { got[$0] == g[$0] }, "\(build.name): relu' passes g at NaN")
        let finite = (0..<100).map { Float($0) * 0.25 - 12 }
        for (values, expect) in [(finite, "finite"), (finite + [.nan], "nan"), ([.infinity] + finite + [-.infinity], "nan"),
                                 (finite + [.infinity], "inf")] {
            let s = build.sum(values, values.count)
            switch expect {
            case "nan": #expect(s.isNaN, "\(build.name) sum")
            case "inf": #expect(s == Double.infinity, "\(build.name) sum")
            default: #expect(s == ek_sum_f32(values, values.count), "\(build.name) sum")
            }
        }
    }

    @Test(arguments: KernelBuild.available)
    func softmaxRows(_ build: KernelBuild) {
        for cols in [37, 70] {
            let f = (0..<cols).map { Float(($0 * 37) % 11) * 0.5 - 2 }
            var rows: [[Float]] = [f, f, [Float](repeating: -.infinity, count: cols), f, f, f]
            rows[0][3] = .nan
            rows[1][cols - 1] = .nan
            rows[3][10] = .infinity
            rows[4][0] = -.infinity
            rows[4][cols - 2] = -.infinity
            rows[5][cols / 2] = 3e38
            let x = rows.flatMap { $0 }
            for lg in Int32(0)...1 {
                var want = [Float](repeating: 0, count: x.count), got = want
                ek_softmax_rows_f32(x, &want, 6, cols, lg)
                build.softmaxRows(x, &got, 6, cols, lg)
                expectSame(got, want, "softmax rows (log \(lg), cols \(cols))", build)
                let specialRowsNaN = got[0..<(4 * cols)].allSatisfy { $0.isNaN }
                #expect(specialRowsNaN, "\(build.name): NaN, all -inf and +inf rows are NaN")
                #expect(!got[(4 * cols)...].contains { $0.isNaN }, "\(build.name): the other rows stay finite")
            }
        }
    }
}
