/// One bin of a reliability diagram.
public struct ReliabilityBin: Sendable, Hashable {
    /// Lower edge (exclusive, except 0 for the first bin).
    public let lower: Double
    /// Upper edge (inclusive).
    public let upper: Double
    /// Samples whose predicted probability fell in the bin.
    public let count: Int
    /// Mean predicted probability of those samples (NaN when empty).
    public let meanPredicted: Double
    /// Fraction of them whose outcome was positive (or whose prediction was correct); NaN when empty.
    public let fractionPositive: Double
}

/// Reliability-diagram data and calibration errors, accumulated in constant memory.
///
/// For a binary model, add (P(positive), is positive); the non-empty bins then equal scikit-learn's
/// `calibration_curve(y, p, n_bins=bins, strategy="uniform")`: edges `linspace(0, 1, bins + 1)`, a probability on an
/// edge goes to the lower bin. For a multiclass model, add (top-class probability, prediction correct), the usual
/// "confidence vs accuracy" diagram.
///
/// Expected calibration error: ECE = Σ_b (n_b / N) · |fraction positive_b − mean predicted_b|; the maximum calibration
/// error (MCE) is the largest of those gaps.
public struct ReliabilityDiagram: Sendable, Hashable {
    /// Number of equal-width bins.
    public let binCount: Int
    private var counts: [Int]
    private var sumPredicted: [Double]
    private var sumPositive: [Double]
    private let edges: [Double]

    /// An empty diagram with `bins` equal-width bins over [0, 1].
    public init(bins: Int = 10) {
        precondition(bins > 0, "ReliabilityDiagram: bins must be positive")
        binCount = bins
        counts = [Int](repeating: 0, count: bins)
        sumPredicted = [Double](repeating: 0, count: bins)
        sumPositive = sumPredicted
        // NumPy's linspace(0, 1, bins + 1): i * (1 / bins), with the last edge exactly 1.
        let step = 1.0 / Double(bins)
        edges = (0...bins).map { $0 == bins ? 1 : Double($0) * step }
    }

    /// The bin of probability `p`: the number of inner edges strictly below it.
    func bin(_ p: Double) -> Int {
        var lo = 1, hi = binCount  // search inner edges edges[1..<binCount]
        while lo < hi {
            let mid = (lo + hi) / 2
            if edges[mid] < p { lo = mid + 1 } else { hi = mid }
        }
        return lo - 1
    }

    /// Adds one prediction: its probability (in [0, 1]) and whether the outcome was positive.
    public mutating func add(probability p: Double, positive: Bool) {
        precondition(p >= 0 && p <= 1, "ReliabilityDiagram: probability \(p) is outside [0, 1]")
        let b = bin(p)
        counts[b] += 1
        sumPredicted[b] += p
        if positive { sumPositive[b] += 1 }
    }

    /// Adds binary predictions: P(positive) and whether each target equals `positiveLabel`.
    public mutating func add(probabilities: [Double], targets: [Int], positiveLabel: Int = 1) {
        precondition(probabilities.count == targets.count, "ReliabilityDiagram: \(probabilities.count) probabilities, \(targets.count) targets")
        for (p, t) in zip(probabilities, targets) { add(probability: p, positive: t == positiveLabel) }
    }

    /// Adds multiclass predictions as (top-class probability, correct).
    public mutating func add(probabilityRows rows: [[Double]], targets: [Int]) {
        precondition(rows.count == targets.count, "ReliabilityDiagram: \(rows.count) rows, \(targets.count) targets")
        for (row, t) in zip(rows, targets) {
            var pred = 0
            for j in row.indices where row[j] > row[pred] { pred = j }
            add(probability: row[pred], positive: pred == t)
        }
    }

    /// Adds what another diagram with the same bins has seen.
    public mutating func merge(_ o: ReliabilityDiagram) {
        precondition(o.binCount == binCount, "ReliabilityDiagram.merge: \(o.binCount) vs \(binCount) bins")
        for b in 0..<binCount { counts[b] += o.counts[b]; sumPredicted[b] += o.sumPredicted[b]; sumPositive[b] += o.sumPositive[b] }
    }

    /// Samples added.
    public var count: Int { counts.reduce(0, +) }

    /// Every bin, empty ones included.
    public var bins: [ReliabilityBin] {
        (0..<binCount).map { b in
            let n = Double(counts[b])
            return ReliabilityBin(lower: edges[b], upper: edges[b + 1], count: counts[b],
                                  meanPredicted: counts[b] == 0 ? .nan : sumPredicted[b] / n,
                                  fractionPositive: counts[b] == 0 ? .nan : sumPositive[b] / n)
        }
    }

    /// scikit-learn's `calibration_curve` output: (fraction of positives, mean predicted probability) of the
    /// non-empty bins.
    public var curve: (fractionPositive: [Double], meanPredicted: [Double]) {
        let nonEmpty = bins.filter { $0.count > 0 }
        return (nonEmpty.map(\.fractionPositive), nonEmpty.map(\.meanPredicted))
    }

    /// Expected calibration error (see the type's documentation); NaN when empty.
    public var expectedCalibrationError: Double {
        let n = Double(count)
        if n == 0 { return .nan }
        return bins.filter { $0.count > 0 }.reduce(0) { $0 + Double($1.count) / n * Swift.abs($1.fractionPositive - $1.meanPredicted) }
    }

    /// Maximum calibration error: the largest |fraction positive − mean predicted| over non-empty bins.
    public var maximumCalibrationError: Double {
        bins.filter { $0.count > 0 }.map { Swift.abs($0.fractionPositive - $0.meanPredicted) }.max() ?? .nan
    }
}
