// Clustering metrics as scikit-learn's: `adjusted_rand_score`, `normalized_mutual_info_score` (arithmetic averaging,
// its default), `silhouette_samples` and `silhouette_score` (euclidean). Labels are any integers; only the partition
// they describe matters.

import Foundation

/// The contingency table of two labelings: cell counts for the (true, predicted) pairs that occur, and the row and
/// column totals, with classes in sorted label order.
struct Contingency {
    var cells: [(row: Int, col: Int, count: Int)] = []
    var rowSums: [Int] = []
    var colSums: [Int] = []

    init(_ a: [Int], _ b: [Int]) {
        let ra = Dictionary(uniqueKeysWithValues: Set(a).sorted().enumerated().map { ($1, $0) })
        let rb = Dictionary(uniqueKeysWithValues: Set(b).sorted().enumerated().map { ($1, $0) })
        var counts: [Int: Int] = [:]
        rowSums = [Int](repeating: 0, count: ra.count)
        colSums = [Int](repeating: 0, count: rb.count)
        for (x, y) in zip(a, b) {
            let i = ra[x]!, j = rb[y]!
            counts[i * rb.count + j, default: 0] += 1
            rowSums[i] += 1
            colSums[j] += 1
        }
        // Row-major order of the non-zero cells, as scipy's `find` on the CSR table lists them.
        cells = counts.keys.sorted().map { ($0 / rb.count, $0 % rb.count, counts[$0]!) }
    }
}

private func checkClusterings(_ a: [Int], _ b: [Int]) throws(MetricError) {
    try checkLengths(a.count, b.count)
}

/// The adjusted Rand index of two clusterings (scikit-learn's `adjusted_rand_score`): the Rand index corrected for
/// chance, 1 for identical partitions (whatever the label names), about 0 for independent ones, possibly negative.
/// Identical partitions, including empty input, all-one-cluster or all-singleton pairs, give exactly 1.
/// - Throws: `MetricError` when the lengths differ.
public func adjustedRandScore(_ labelsTrue: [Int], _ labelsPred: [Int]) throws(MetricError) -> Double {
    try checkClusterings(labelsTrue, labelsPred)
    let n = labelsTrue.count
    let t = Contingency(labelsTrue, labelsPred)
    // The pair confusion matrix from the contingency table (sklearn's pair_confusion_matrix).
    let sumSquares = t.cells.reduce(0) { $0 + $1.count * $1.count }
    var rowDotColSums = 0, colDotRowSums = 0
    for c in t.cells {
        rowDotColSums += c.count * t.colSums[c.col]
        colDotRowSums += c.count * t.rowSums[c.row]
    }
    let tp = Double(sumSquares - n), fp = Double(rowDotColSums - sumSquares), fn = Double(colDotRowSums - sumSquares)
    let tn = Double(n) * Double(n) - fp - fn - Double(sumSquares)
    if fn == 0 && fp == 0 { return 1 }
    return 2 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
}

/// Shannon entropy (nats) of a labeling, as scikit-learn's `entropy` (1 for empty input, as it returns).
func labelEntropy(_ sums: [Int], empty: Bool) -> Double {
    if empty { return 1 }
    let pi = sums.filter { $0 > 0 }.map(Double.init)
    if pi.count == 1 { return 0 }
    let total = pi.reduce(0, +), logTotal = log(total)
    return -pi.reduce(0) { $0 + ($1 / total) * (log($1) - logTotal) }
}

/// The mutual information (nats) of two labelings, as scikit-learn's `mutual_info_score`.
public func mutualInfoScore(_ labelsTrue: [Int], _ labelsPred: [Int]) throws(MetricError) -> Double {
    try checkClusterings(labelsTrue, labelsPred)
    return mutualInfo(Contingency(labelsTrue, labelsPred))
}

func mutualInfo(_ t: Contingency) -> Double {
    if t.rowSums.count == 1 || t.colSums.count == 1 { return 0 }
    let total = Double(t.cells.reduce(0) { $0 + $1.count })
    let logTotal = log(total)
    let logRows = log(Double(t.rowSums.reduce(0, +))), logCols = log(Double(t.colSums.reduce(0, +)))
    var mi = 0.0
    for c in t.cells {
        let v = Double(c.count), nm = v / total
        let outer = Double(t.rowSums[c.row]) * Double(t.colSums[c.col])
        var term = nm * (log(v) - logTotal) + nm * (-log(outer) + logRows + logCols)
        if Swift.abs(term) < Double.ulpOfOne { term = 0 }
        mi += term
    }
    return Swift.max(mi, 0)
}

/// The normalised mutual information of two clusterings with arithmetic averaging of the entropies (scikit-learn's
/// `normalized_mutual_info_score` with its default `average_method="arithmetic"`): 1 for identical partitions, 0 when
/// independent. Both labelings with one cluster (or empty) give 1; mutual information 0 otherwise gives 0.
/// - Throws: `MetricError` when the lengths differ.
public func normalizedMutualInfoScore(_ labelsTrue: [Int], _ labelsPred: [Int]) throws(MetricError) -> Double {
    try checkClusterings(labelsTrue, labelsPred)
    let classes = Set(labelsTrue).count, clusters = Set(labelsPred).count
    if (classes == 1 && clusters == 1) || (classes == 0 && clusters == 0) { return 1 }
    let t = Contingency(labelsTrue, labelsPred)
    let mi = mutualInfo(t)
    if mi == 0 { return 0 }
    let hTrue = labelEntropy(t.rowSums, empty: labelsTrue.isEmpty), hPred = labelEntropy(t.colSums, empty: labelsPred.isEmpty)
    return mi / ((hTrue + hPred) / 2)
}

/// The silhouette coefficient of each sample (scikit-learn's `silhouette_samples`, euclidean distance):
/// (b − a) / max(a, b) with a the mean distance to the other members of its cluster and b the lowest mean distance
/// to another cluster; 0 for members of single-sample clusters.
/// - Throws: `MetricError` for lengths that differ, ragged or non-finite rows, or a number of distinct labels outside
///   2...samples − 1 (scikit-learn's message).
public func silhouetteSamples(_ x: [[Double]], labels: [Int]) throws(MetricError) -> [Double] {
    try checkLengths(x.count, labels.count)
    let n = x.count
    guard let width = x.first?.count, width > 0 else {
        throw MetricError(.emptyInput, "Found array with 0 sample(s) (shape=(0, 0)) while a minimum of 1 is required.")
    }
    for (i, row) in x.enumerated() {
        guard row.count == width else {
            throw MetricError(.invalidFeatures, "row \(i) has \(row.count) features, row 0 has \(width)")
        }
        guard row.allSatisfy(\.isFinite) else { throw MetricError(.invalidFeatures, "Input X contains NaN or infinity (row \(i)).") }
    }
    let names = Set(labels).sorted()
    guard names.count >= 2 && names.count <= n - 1 else {
        throw MetricError(.invalidLabels, "Number of labels is \(names.count). Valid values are 2 to n_samples - 1 (inclusive)")
    }
    let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    let code = labels.map { index[$0]! }
    var freq = [Int](repeating: 0, count: names.count)
    for c in code { freq[c] += 1 }
    var out = [Double](repeating: 0, count: n)
    for i in 0..<n {
        var sums = [Double](repeating: 0, count: names.count)
        for j in 0..<n where j != i {
            var s = 0.0
            for k in 0..<width { let d = x[i][k] - x[j][k]; s += d * d }
            sums[code[j]] += s.squareRoot()
        }
        let own = code[i]
        if freq[own] == 1 { out[i] = 0; continue }
        let a = sums[own] / Double(freq[own] - 1)
        var b = Double.infinity
        for c in 0..<names.count where c != own { b = Swift.min(b, sums[c] / Double(freq[c])) }
        let m = Swift.max(a, b)
        out[i] = m > 0 ? (b - a) / m : 0
    }
    return out
}

/// The mean silhouette coefficient over all samples (scikit-learn's `silhouette_score`, euclidean, no sampling).
/// - Throws: as `silhouetteSamples`.
public func silhouetteScore(_ x: [[Double]], labels: [Int]) throws(MetricError) -> Double {
    let s = try silhouetteSamples(x, labels: labels)
    return s.reduce(0, +) / Double(s.count)
}
