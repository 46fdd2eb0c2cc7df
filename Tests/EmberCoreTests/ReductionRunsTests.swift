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

    /// Float32 sums over a middle axis with 16 or more elements after it (a bias gradient's column sums) take the CPU
    /// backend's vector path split by column blocks: each output must be its n values added in order from 0.0 in
    /// Float, as the plain loop below does, with the same bits for 1 and 2 threads. Widths around the 256-column
    /// blocks. (The CPU backend's promise: the reference backend sums its own way, checked against plain loops above.)
    @Test(arguments: [[1, 300, 16], [3, 37, 300], [2, 5, 513], [1, 2048, 256], [4, 1, 20]])
    func float32MiddleAxisSumsAddInOrder(shape: [Int]) {
        var rng = RandomState(seed: UInt64(shape.reduce(1, *)))
        let x = Tensor.normal(shape, rng: &rng).to(.cpu)
        let v = x.toArray(Float.self)
        let (outer, n, inner) = (shape[0], shape[1], shape[2])
        var want = [Float](repeating: 0, count: outer * inner)
        for r in 0..<outer { for j in 0..<n { for i in 0..<inner { want[r * inner + i] += v[(r * n + j) * inner + i] } } }
        for threads in [1, 2] {
            let got = Threading.withThreads(threads) { x.sum(axes: [1]) }
            #expect(got.shape == [outer, inner])
            #expect(got.toArray(Float.self).map(\.bitPattern) == want.map(\.bitPattern), "threads \(threads)")
        }
    }

    /// The gradient of a slice is zero outside it: the backward zeroes only those parts of a fresh buffer, so the
    /// buffer is first made to be one the allocator just got back full of NaN.
    @Test(arguments: [([5, 6, 7], 1, 2, 5), ([9, 4], 0, 0, 7), ([9, 4], 0, 3, 9), ([2, 3, 8], 2, 1, 2), ([66, 3, 5], 0, 0, 64)])
    func sliceGradientIsZeroOutsideTheSlice(shape: [Int], axis: Int, start: Int, end: Int) {
        let x = Tensor.zeros(shape)
        x.requiresGrad = true
        var rng = RandomState(seed: 3)
        var sliced = shape
        sliced[axis] = end - start
        let w = Tensor.normal(sliced, rng: &rng)
        for _ in 0..<3 { _ = Tensor.full(shape, .nan).sum() }
        (x.slice(axis: axis, start: start, end: end) * w).sum().backward()
        let g = x.grad!.toArray(Float.self), wv = w.toArray(Float.self)
        let inner = shape[(axis + 1)...].reduce(1, *), size = shape[axis]
        var want = [Float](repeating: 0, count: g.count)
        for flat in 0..<g.count {
            let pos = flat / inner % size, o = flat / (inner * size), i = flat % inner
            if pos >= start && pos < end { want[flat] = wv[(o * (end - start) + pos - start) * inner + i] }
        }
        #expect(g == want)
    }
}
