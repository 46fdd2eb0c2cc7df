import EmberCore
import EmberTestSupport
import Foundation
import Testing

/// The LAPACK bridge against closed forms and the defining identities.
@Suite struct DenseLinalgTests {
    /// Tridiagonal Toeplitz matrix (2 on the diagonal, -1 beside it): eigenvalues 2 - 2cos(kπ/(n+1)), eigenvectors
    /// sin(ijπ/(n+1)) up to scale and sign.
    @Test func symmetricEigenMatchesTheClosedForm() throws {
        let n = 7
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            a[i * n + i] = 2
            if i > 0 { a[i * n + i - 1] = -1; a[(i - 1) * n + i] = -1 }
        }
        let (values, vectors) = try DenseLinalg.symmetricEigen(a, n: n)
        for k in 1...n {
            let expected = 2 - 2 * cos(Double(k) * .pi / Double(n + 1))
            #expect(abs(values[k - 1] - expected) < 1e-12, "eigenvalue \(k): \(values[k - 1]) vs \(expected)")
            var closed = (1...n).map { i in sin(Double(i * k) * .pi / Double(n + 1)) }
            let norm = closed.reduce(0) { $0 + $1 * $1 }.squareRoot()
            closed = closed.map { $0 / norm }
            let dot = zip(closed, vectors[k - 1]).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(abs(abs(dot) - 1) < 1e-10, "eigenvector \(k) is not the closed form (|dot| = \(abs(dot)))")
        }
    }

    @Test func svdReconstructsWithOrthonormalFactors() throws {
        var rng = SplitMix64(3)
        for (rows, cols) in [(5, 3), (3, 5), (4, 4), (1, 6)] {
            let a = (0..<(rows * cols)).map { _ in rng.uniform(-1, 1) }
            let (u, s, vt) = try DenseLinalg.svd(a, rows: rows, cols: cols)
            let k = min(rows, cols)
            #expect(s.count == k && zip(s, s.dropFirst()).allSatisfy { $0 >= $1 } && s.allSatisfy { $0 >= 0 })
            for i in 0..<rows {
                for j in 0..<cols {
                    let r = (0..<k).reduce(0.0) { $0 + u[i * k + $1] * s[$1] * vt[$1 * cols + j] }
                    #expect(abs(r - a[i * cols + j]) < 1e-12, "\(rows)x\(cols) [\(i),\(j)]")
                }
            }
            for p in 0..<k {
                for q in 0..<k {
                    let uu = (0..<rows).reduce(0.0) { $0 + u[$1 * k + p] * u[$1 * k + q] }
                    let vv = (0..<cols).reduce(0.0) { $0 + vt[p * cols + $1] * vt[q * cols + $1] }
                    #expect(abs(uu - (p == q ? 1 : 0)) < 1e-12 && abs(vv - (p == q ? 1 : 0)) < 1e-12)
                }
            }
            // Singular values squared are the eigenvalues of aᵀa (largest k).
            var ata = [Double](repeating: 0, count: cols * cols)
            for i in 0..<cols { for j in 0..<cols { ata[i * cols + j] = (0..<rows).reduce(0.0) { $0 + a[$1 * cols + i] * a[$1 * cols + j] } } }
            let ev = try DenseLinalg.symmetricEigen(ata, n: cols).values.reversed().prefix(k)
            for (e, sv) in zip(ev, s) { #expect(abs(e - sv * sv) < 1e-10) }
        }
    }

    @Test func nonFiniteInputIsAnError() {
        #expect(throws: LinalgError.self) { try DenseLinalg.symmetricEigen([1, .nan, .nan, 1], n: 2) }
        #expect(throws: LinalgError.self) { try DenseLinalg.svd([1, .infinity], rows: 1, cols: 2) }
    }
}
