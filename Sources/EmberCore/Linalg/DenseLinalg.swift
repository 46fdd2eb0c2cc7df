import CBLAS

/// Why a dense decomposition failed.
public struct LinalgError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being computed and what went wrong.
    public let description: String
}

/// Float64 linear algebra on small dense matrices held in host arrays (row-major), through the LAPACK that OpenBLAS
/// ships: what PCA, Fréchet distances and other statistics on feature matrices need. Not differentiable; for tensors
/// in a graph use the tensor ops.
public enum DenseLinalg {
    /// Eigenvalues (ascending) and unit eigenvectors of the symmetric `n`×`n` matrix `a` (row-major; only its lower
    /// triangle is read). `vectors[i]` belongs to `values[i]`; each vector's sign is as LAPACK returns it.
    /// - Throws: `LinalgError` for non-finite entries or when LAPACK's divide-and-conquer does not converge.
    public static func symmetricEigen(_ a: [Double], n: Int) throws -> (values: [Double], vectors: [[Double]]) {
        precondition(n >= 1 && a.count == n * n, "DenseLinalg.symmetricEigen: \(a.count) entries for a \(n)x\(n) matrix")
        guard a.allSatisfy(\.isFinite) else { throw LinalgError(description: "symmetricEigen: the \(n)x\(n) matrix has non-finite entries") }
        // Row-major lower triangle == column-major upper triangle.
        var m = a, w = [Double](repeating: 0, count: n)
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0, lwork: Int32 = -1, liwork: Int32 = -1
        var wq = 0.0, iq: Int32 = 0
        dsyevd_(&jobz, &uplo, &nn, &m, &lda, &w, &wq, &lwork, &iq, &liwork, &info)
        lwork = Int32(wq.rounded(.up)); liwork = iq
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &nn, &m, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw LinalgError(description: "symmetricEigen: LAPACK dsyevd failed for a \(n)x\(n) matrix (info \(info))") }
        // Column j of the column-major result is eigenvector j: contiguous at m[j*n ..< (j+1)*n].
        return (w, (0..<n).map { j in Array(m[(j * n)..<((j + 1) * n)]) })
    }

    /// The thin singular value decomposition `a = u · diag(s) · vt` of the `rows`×`cols` row-major matrix `a`, with
    /// k = min(rows, cols): `u` is rows×k, `vt` is k×cols (both row-major), `s` descending.
    /// - Throws: `LinalgError` for non-finite entries or when LAPACK's dgesdd does not converge.
    public static func svd(_ a: [Double], rows: Int, cols: Int) throws -> (u: [Double], s: [Double], vt: [Double]) {
        precondition(rows >= 1 && cols >= 1 && a.count == rows * cols, "DenseLinalg.svd: \(a.count) entries for a \(rows)x\(cols) matrix")
        guard a.allSatisfy(\.isFinite) else { throw LinalgError(description: "svd: the \(rows)x\(cols) matrix has non-finite entries") }
        // A row-major rows×cols matrix is its transpose in column-major: decompose aᵀ = v·s·uᵀ, whose column-major
        // factors are exactly the row-major u and vt wanted.
        let k = Swift.min(rows, cols)
        var m = a, s = [Double](repeating: 0, count: k)
        var ut = [Double](repeating: 0, count: cols * k), vtt = [Double](repeating: 0, count: k * rows)
        var jobz = CChar(UInt8(ascii: "S")), mm = Int32(cols), nn = Int32(rows), lda = Int32(cols), ldu = Int32(cols), ldvt = Int32(k)
        var info: Int32 = 0, lwork: Int32 = -1, wq = 0.0
        var iwork = [Int32](repeating: 0, count: 8 * k)
        dgesdd_(&jobz, &mm, &nn, &m, &lda, &s, &ut, &ldu, &vtt, &ldvt, &wq, &lwork, &iwork, &info)
        lwork = Int32(wq.rounded(.up))
        var work = [Double](repeating: 0, count: Int(lwork))
        dgesdd_(&jobz, &mm, &nn, &m, &lda, &s, &ut, &ldu, &vtt, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw LinalgError(description: "svd: LAPACK dgesdd failed for a \(rows)x\(cols) matrix (info \(info))") }
        return (vtt, s, ut)
    }
}
