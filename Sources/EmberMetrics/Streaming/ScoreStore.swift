/// How a ``ClassificationAccumulator`` keeps scores for ROC, precision-recall and average precision.
public enum ScoreStorage: Sendable, Hashable {
    /// Every probability row is kept (8 bytes per class per sample): curves and areas equal scikit-learn's exactly.
    case exact
    /// Constant memory: per class, counts of positive and negative samples in `bins` equal-width probability bins.
    /// Curves and areas then equal scikit-learn's on probabilities quantized to `min(floor(p * bins), bins - 1)`;
    /// the AUC error against exact scores is at most the mass of samples that share a bin across classes.
    case histogram(bins: Int)
}

/// Score storage behind the accumulator: exact rows or per-class histograms.
struct ScoreStore: Sendable {
    let classes: Int
    let storage: ScoreStorage
    // exact
    private(set) var targets: [Int] = []
    private(set) var rows: [Double] = []
    // histogram: [class][bin]
    private var positives: [[Double]] = []
    private var negatives: [[Double]] = []
    /// Whether some row did not sum to 1 (scikit-learn's `allclose` test for multiclass ROC-AUC).
    private(set) var rowsNotProbabilities = false
    private(set) var count = 0

    init(classes: Int, storage: ScoreStorage) {
        self.classes = classes
        self.storage = storage
        if case .histogram(let bins) = storage {
            precondition(bins > 0, "ScoreStorage.histogram: bins must be positive")
            positives = [[Double]](repeating: [Double](repeating: 0, count: bins), count: classes)
            negatives = positives
        }
    }

    mutating func add(row: ArraySlice<Double>, target: Int) {
        var sum = 0.0
        for v in row { sum += v }
        if !(Swift.abs(1 - sum) <= 1e-8 + 1e-5 * Swift.abs(sum)) { rowsNotProbabilities = true }
        count += 1
        switch storage {
        case .exact:
            targets.append(target)
            rows.append(contentsOf: row)
        case .histogram(let bins):
            for (c, p) in row.enumerated() {
                let b = Swift.min(Int((p * Double(bins)).rounded(.down)), bins - 1)
                if target == c { positives[c][b] += 1 } else { negatives[c][b] += 1 }
            }
        }
    }

    mutating func merge(_ o: ScoreStore) {
        precondition(o.classes == classes && o.storage == storage, "ClassificationAccumulator.merge: different classes or storage")
        targets += o.targets
        rows += o.rows
        for c in positives.indices {
            for b in positives[c].indices { positives[c][b] += o.positives[c][b]; negatives[c][b] += o.negatives[c][b] }
        }
        rowsNotProbabilities = rowsNotProbabilities || o.rowsNotProbabilities
        count += o.count
    }

    /// Number of samples whose target is each class.
    var support: [Double] {
        switch storage {
        case .exact:
            var s = [Double](repeating: 0, count: classes)
            for t in targets { s[t] += 1 }
            return s
        case .histogram:
            return positives.map { $0.reduce(0, +) }
        }
    }

    /// The one-vs-rest table of class `c`: is sample of class c, against its score for c.
    func groups(_ c: Int) -> ScoreGroups {
        switch storage {
        case .exact:
            let scores = (0..<targets.count).map { rows[$0 * classes + c] }
            return ScoreGroups(positive: targets.map { $0 == c }, scores: scores)
        case .histogram:
            return binGroups(positives[c], negatives[c])
        }
    }

    /// Every (sample, class) cell as one binary problem (micro averaging).
    func microGroups() -> ScoreGroups {
        switch storage {
        case .exact:
            var pos: [Bool] = []
            pos.reserveCapacity(rows.count)
            for t in targets { for c in 0..<classes { pos.append(t == c) } }
            return ScoreGroups(positive: pos, scores: rows)
        case .histogram(let bins):
            var p = [Double](repeating: 0, count: bins), n = p
            for c in 0..<classes { for b in 0..<bins { p[b] += positives[c][b]; n[b] += negatives[c][b] } }
            return binGroups(p, n)
        }
    }

    private func binGroups(_ p: [Double], _ n: [Double]) -> ScoreGroups {
        var g = ScoreGroups(thresholds: [], positives: [], negatives: [])
        for b in stride(from: p.count - 1, through: 0, by: -1) where p[b] + n[b] > 0 {
            g.thresholds.append(Double(b)); g.positives.append(p[b]); g.negatives.append(n[b])
        }
        return g
    }
}
