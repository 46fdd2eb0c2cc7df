import Foundation
import Testing
@testable import EmberCore

/// Reductions over axes that are not one contiguous run ([N, C, H, W] over 0, 2, 3; over 0 and 2 of a rank-3 tensor)
/// go one run at a time: checked against plain loops over every index, with and without kept dimensions.
@Suite struct ReductionRunsTests {
    @Test(arguments: [([2, 3, 4, 5], [0, 2, 3]), ([3, 4, 5], [0, 2]), ([2, 3, 2, 3, 2], [0, 2, 4]), ([4, 1, 3, 2], [0, 3]),
                      ([2, 0, 3], [0, 2])])
    func matchesPlainLoops(shape: [Int], axes: [Int]) {
        var rng = RandomState(seed: UInt64(shape.reduce(1, *) + axes.count))
        let x = Tensor.uniform(shape, low: 0.5, high: 1.5, dtype: .float64, rng: &rng)
        let vals = x.toArray(Double.self)
        let kept = shape.indices.filter { !axes.contains($0) }
        let outShape = kept.map { shape[$0] }
        let outCount = outShape.reduce(1, *)
        var sum = [Double](repeating: 0, count: outCount), prod = [Double](repeating: 1, count: outCount)
        var mx = [Double](repeating: -.infinity, count: outCount), mn = [Double](repeating: .infinity, count: outCount)
        for flat in 0..<vals.count {
            var rem = flat, idx = [Int](repeating: 0, count: shape.count)
            for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = rem % shape[d]; rem /= shape[d] }
            var o = 0
            for d in kept { o = o * shape[d] + idx[d] }
            sum[o] += vals[flat]; prod[o] *= vals[flat]; mx[o] = Swift.max(mx[o], vals[flat]); mn[o] = Swift.min(mn[o], vals[flat])
        }
        func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-12 * Swift.max(1, abs($1)) } }
        #expect(x.sum(axes: axes).shape == outShape)
        #expect(close(x.sum(axes: axes).toArray(Double.self), sum))
        #expect(close(x.prod(axes: axes).toArray(Double.self), prod))
        var keepShape = shape
        for a in axes { keepShape[a] = 1 }
        #expect(x.sum(axes: axes, keepDims: true).shape == keepShape)
        #expect(close(x.sum(axes: axes, keepDims: true).toArray(Double.self), sum))
        if !vals.isEmpty {
            #expect(x.max(axes: axes).toArray(Double.self) == mx)
            #expect(x.min(axes: axes).toArray(Double.self) == mn)
        }
    }
}
