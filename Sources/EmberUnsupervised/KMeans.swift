import Dispatch
import EmberCore

/// k-means clustering by Lloyd's algorithm, as scikit-learn's `KMeans(algorithm="lloyd")`: greedy k-means++ seeding
/// (2 + ⌊ln k⌋ candidates per centre) or given initial centres, `nInit` seeded restarts keeping the lowest inertia, and
/// the same stopping rule (labels unchanged, or the summed squared centre shift at most `tol` times the mean feature
/// variance), empty clusters moved to the points farthest from their centres, and a final assignment to the final
/// centres. From the same initial centres it gives scikit-learn's labels and inertia. Float64 throughout; the same
/// seed gives the same bits for any thread count (each point's assignment is independent; sums run in one fixed order).
///
/// ```swift
/// var rng = RandomState(seed: 0)
/// var km = KMeans(clusters: 10, nInit: 4)
/// try km.fit(rows, rng: &rng)
/// print(km.inertia, km.labels.prefix(10))
/// ```
public struct KMeans: Sendable {
    /// The number of clusters.
    public var clusters: Int
    /// Seeded restarts of k-means++ (the best inertia wins); 1 when fitting from given centres.
    public var nInit: Int
    /// The most Lloyd iterations per run.
    public var maxIterations: Int
    /// Relative tolerance on the squared centre shift (scaled by the mean per-feature variance, as scikit-learn).
    public var tol: Double

    /// The cluster centres, one row each.
    public private(set) var centres: [[Double]] = []
    /// The cluster of each training row.
    public private(set) var labels: [Int] = []
    /// Sum of squared distances of the training rows to their centres.
    public private(set) var inertia: Double = .nan
    /// Lloyd iterations of the kept run.
    public private(set) var iterations = 0

    /// A k-means estimator with scikit-learn's defaults (`nInit` 1 as its "auto" for k-means++, 300 iterations, tol 1e-4).
    public init(clusters: Int, nInit: Int = 1, maxIterations: Int = 300, tol: Double = 1e-4) {
        self.clusters = clusters
        self.nInit = nInit
        self.maxIterations = maxIterations
        self.tol = tol
    }

    /// Fits with k-means++ seeding from `rng` (`nInit` runs; the lowest inertia is kept, the first on ties).
    /// - Throws: `UnsupervisedError` for empty, ragged or non-finite data, more clusters than rows, or bad settings.
    public mutating func fit(_ x: [[Double]], rng: inout RandomState) throws(UnsupervisedError) {
        let m = try checked(x, "KMeans.fit")
        guard nInit >= 1 else { throw UnsupervisedError("KMeans.fit", "nInit must be at least 1, got \(nInit)") }
        var best: Run?
        for _ in 0..<nInit {
            let run = lloyd(m, initial: Self.plusPlus(m, clusters, rng: &rng))
            if best == nil || run.inertia < best!.inertia { best = run }
        }
        keep(best!)
    }

    /// Fits from the given initial centres (one run, no randomness).
    /// - Throws: `UnsupervisedError` as `fit(_:rng:)`, or when `initialCentres` is not `clusters` rows of the data's width.
    public mutating func fit(_ x: [[Double]], initialCentres: [[Double]]) throws(UnsupervisedError) {
        let op = "KMeans.fit"
        let m = try checked(x, op)
        guard initialCentres.count == clusters else {
            throw UnsupervisedError(op, "\(initialCentres.count) initial centres given for \(clusters) clusters")
        }
        let c = try RowMatrix(checking: initialCentres, op + " (initial centres)")
        guard c.cols == m.cols else {
            throw UnsupervisedError(op, "initial centres have \(c.cols) features, the data \(m.cols)")
        }
        keep(lloyd(m, initial: c))
    }

    /// The nearest fitted centre of each row.
    /// - Throws: `UnsupervisedError` when not fitted or for rows of the wrong width or with non-finite values.
    public func predict(_ x: [[Double]]) throws(UnsupervisedError) -> [Int] {
        let op = "KMeans.predict"
        guard !centres.isEmpty else { throw UnsupervisedError(op, "call fit first") }
        if x.isEmpty { return [] }
        let m = try RowMatrix(checking: x, op)
        let c = RowMatrix(rows: centres.count, cols: centres[0].count, values: centres.flatMap { $0 })
        guard m.cols == c.cols else { throw UnsupervisedError(op, "rows have \(m.cols) features; the centres \(c.cols)") }
        return Self.assign(m, c).labels
    }

    // MARK: - Internals

    struct Run {
        var centres: RowMatrix
        var labels: [Int]
        var inertia: Double
        var iterations: Int
    }

    private func checked(_ x: [[Double]], _ op: String) throws(UnsupervisedError) -> RowMatrix {
        guard clusters >= 1 else { throw UnsupervisedError(op, "clusters must be at least 1, got \(clusters)") }
        guard maxIterations >= 1 else { throw UnsupervisedError(op, "maxIterations must be at least 1, got \(maxIterations)") }
        guard tol >= 0 && tol.isFinite else { throw UnsupervisedError(op, "tol must be finite and non-negative, got \(tol)") }
        let m = try RowMatrix(checking: x, op)
        guard clusters <= m.rows else {
            throw UnsupervisedError(op, "\(clusters) clusters requested but the data has only \(m.rows) rows (clusters must be <= samples)")
        }
        return m
    }

    private mutating func keep(_ run: Run) {
        centres = run.centres.rowArrays
        labels = run.labels
        inertia = run.inertia
        iterations = run.iterations
    }

    static func squaredDistance(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
        var s = 0.0
        var i = a.startIndex, j = b.startIndex
        while i < a.endIndex {
            let d = a[i] - b[j]
            s += d * d
            i += 1; j += 1
        }
        return s
    }

    /// Nearest centre (first on ties) and its squared distance, for every row. Rows are split over threads; each
    /// row's result depends only on that row, so any split gives the same bits.
    static func assign(_ x: RowMatrix, _ c: RowMatrix) -> (labels: [Int], distances: [Double]) {
        var labels = [Int](repeating: 0, count: x.rows), dist = [Double](repeating: 0, count: x.rows)
        let chunks = Swift.max(1, Swift.min(Threading.threads, x.rows * c.rows * x.cols / 200_000))
        labels.withUnsafeMutableBufferPointer { lp in
            dist.withUnsafeMutableBufferPointer { dp in
                let l = UncheckedBox(lp), d = UncheckedBox(dp)
                DispatchQueue.concurrentPerform(iterations: chunks) { part in
                    for r in (x.rows * part / chunks)..<(x.rows * (part + 1) / chunks) {
                        let row = x.row(r)
                        var best = 0, bestD = Double.infinity
                        for k in 0..<c.rows {
                            let dd = squaredDistance(row, c.row(k))
                            if dd < bestD { bestD = dd; best = k }
                        }
                        l.value[r] = best
                        d.value[r] = bestD
                    }
                }
            }
        }
        return (labels, dist)
    }

    /// Means of the rows of each cluster; an empty cluster takes the row farthest from its own (old) centre, as
    /// scikit-learn relocates them (farthest first, lowest index on ties), and that row leaves its cluster's mean.
    static func update(_ x: RowMatrix, labels: [Int], distances: [Double], k: Int) -> RowMatrix {
        var sums = RowMatrix(rows: k, cols: x.cols, values: [Double](repeating: 0, count: k * x.cols))
        var counts = [Int](repeating: 0, count: k)
        for r in 0..<x.rows {
            let l = labels[r]
            counts[l] += 1
            for c in 0..<x.cols { sums[l, c] += x[r, c] }
        }
        let empty = (0..<k).filter { counts[$0] == 0 }
        if !empty.isEmpty {
            let far = (0..<x.rows).sorted { distances[$0] != distances[$1] ? distances[$0] > distances[$1] : $0 < $1 }
            for (i, e) in empty.enumerated() {
                let r = far[i], old = labels[r]
                for c in 0..<x.cols {
                    sums[old, c] -= x[r, c]
                    sums[e, c] = x[r, c]
                }
                counts[old] -= 1
                counts[e] = 1
            }
        }
        for l in 0..<k where counts[l] > 0 {
            for c in 0..<x.cols { sums[l, c] /= Double(counts[l]) }
        }
        return sums
    }

    func lloyd(_ x: RowMatrix, initial: RowMatrix) -> Run {
        // scikit-learn's tolerance: tol times the mean of the per-feature variances.
        var mean = [Double](repeating: 0, count: x.cols), variance = mean
        for r in 0..<x.rows { for c in 0..<x.cols { mean[c] += x[r, c] } }
        for c in 0..<x.cols { mean[c] /= Double(x.rows) }
        for r in 0..<x.rows { for c in 0..<x.cols { let d = x[r, c] - mean[c]; variance[c] += d * d } }
        let threshold = tol * variance.reduce(0) { $0 + $1 / Double(x.rows) } / Double(x.cols)
        var centres = initial
        var labels = [Int](repeating: -1, count: x.rows), strict = false
        var done = 0
        for it in 0..<maxIterations {
            done = it + 1
            let (newLabels, dist) = Self.assign(x, centres)
            let next = Self.update(x, labels: newLabels, distances: dist, k: clusters)
            var shift = 0.0
            for i in 0..<next.values.count { let d = next.values[i] - centres.values[i]; shift += d * d }
            centres = next
            if newLabels == labels { strict = true; labels = newLabels; break }
            labels = newLabels
            if shift <= threshold { break }
        }
        let final = Self.assign(x, centres)
        if !strict { labels = final.labels }
        var inertia = 0.0
        for r in 0..<x.rows { inertia += Self.squaredDistance(x.row(r), centres.row(labels[r])) }
        return Run(centres: centres, labels: labels, inertia: inertia, iterations: done)
    }

    /// Greedy k-means++: the first centre uniformly, each next one the best (lowest potential) of 2 + ⌊ln k⌋
    /// candidates drawn with probability proportional to the squared distance to the nearest chosen centre.
    static func plusPlus(_ x: RowMatrix, _ k: Int, rng: inout RandomState) -> RowMatrix {
        let trials = 2 + Int(_log(Double(k)))
        var chosen = [rng.nextInt(below: x.rows)]
        var closest = (0..<x.rows).map { squaredDistance(x.row($0), x.row(chosen[0])) }
        var potential = closest.reduce(0, +)
        while chosen.count < k {
            var cumulative = [Double](repeating: 0, count: x.rows)
            var acc = 0.0
            for i in 0..<x.rows { acc += closest[i]; cumulative[i] = acc }
            var bestCandidate = -1, bestPotential = Double.infinity, bestDistances: [Double] = []
            for _ in 0..<trials {
                // searchsorted(cumsum, u * potential), clipped to the last row; all-zero potential: uniform.
                let candidate: Int
                if potential > 0 {
                    let target = rng.nextDouble() * potential
                    var lo = 0, hi = x.rows - 1
                    while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < target { lo = mid + 1 } else { hi = mid } }
                    candidate = lo
                } else {
                    candidate = rng.nextInt(below: x.rows)
                }
                let d = (0..<x.rows).map { Swift.min(closest[$0], squaredDistance(x.row($0), x.row(candidate))) }
                let p = d.reduce(0, +)
                if p < bestPotential { bestPotential = p; bestCandidate = candidate; bestDistances = d }
            }
            chosen.append(bestCandidate)
            closest = bestDistances
            potential = bestPotential
        }
        return RowMatrix(rows: k, cols: x.cols, values: chosen.flatMap { Array(x.row($0)) })
    }
}

/// Carries a buffer pointer into `concurrentPerform`'s closure; the parts write disjoint ranges.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
