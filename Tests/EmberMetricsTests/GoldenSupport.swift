import Foundation
import Testing
@testable import EmberMetrics

// Shared helpers for the scikit-learn golden tests. The fixture is written by scripts/golden/make_metrics_golden.py
// (see its header for the format): each expected "result" holds scikit-learn's value, or the ValueError it raised,
// plus the warnings it emitted.
//
// Tolerance: 1e-9, relative for magnitudes above 1 (absolute below). Every metric here is a short sum of exact
// ratios of counts (or of float64 inputs) computed in float64 by both libraries; they differ only in summation order,
// which moves results by a few ulps. 1e-9 is far tighter than the 1e-6 the issue asks for, and far looser than
// rounding noise, so a failure means a real semantic difference.

let goldenTolerance = 1e-9

/// A parsed JSON value with crashing accessors (the fixture is ours; a malformed one is a test bug).
struct J: @unchecked Sendable {
    let raw: Any

    subscript(_ key: String) -> J { J(raw: (raw as? [String: Any])?[key] ?? NSNull()) }
    subscript(_ i: Int) -> J { J(raw: (raw as! [Any])[i]) }

    var exists: Bool { !(raw is NSNull) }
    var isNull: Bool { raw is NSNull }
    /// A number, or one of the strings "nan", "inf", "-inf".
    var double: Double {
        if let n = raw as? NSNumber { return n.doubleValue }
        switch raw as? String {
        case "nan": return .nan
        case "inf": return .infinity
        case "-inf": return -.infinity
        default: preconditionFailure("fixture: expected a number, got \(raw)")
        }
    }
    var int: Int { Int(double) }
    var string: String { raw as! String }
    var array: [J] { (raw as! [Any]).map { J(raw: $0) } }
    var ints: [Int] { array.map(\.int) }
    var doubles: [Double] { array.map(\.double) }
    var matrix: [[Double]] { array.map(\.doubles) }
    var intsOrNil: [Int]? { exists ? ints : nil }
    var keys: [String] { ((raw as? [String: Any]) ?? [:]).keys.sorted() }
}

enum Fixture {
    static let golden: J = {
        guard let url = Bundle.module.url(forResource: "metrics_golden", withExtension: "json", subdirectory: "Fixtures") else {
            preconditionFailure("fixture metrics_golden.json missing: run scripts/golden/make_metrics_golden.py")
        }
        return J(raw: try! JSONSerialization.jsonObject(with: try! Data(contentsOf: url)))
    }()
}

/// Whether two doubles agree to the golden tolerance (NaN equals NaN, infinities must match exactly).
func close(_ a: Double, _ b: Double, tol: Double = goldenTolerance) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite { return a == b }
    return Swift.abs(a - b) <= tol * Swift.max(1, Swift.abs(b))
}

func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { close($0, $1) } }
func close(_ a: [[Double]], _ b: [[Double]]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { close($0, $1) } }

/// NumPy 2 prints scalars inside sets as `np.int64(2)`; Ember prints `2`. Everything else must match verbatim.
func normalizeMessage(_ s: String) -> String {
    s.replacingOccurrences(of: #"np\.(int|float)64\(([^)]*)\)"#, with: "$2", options: .regularExpression)
}

/// The warnings scikit-learn raised that Ember models (NumPy's RuntimeWarnings are not modelled; see MetricWarning).
func expectedWarnings(_ r: J) -> [MetricWarning] {
    r["warnings"].array.compactMap { w in
        let cat = w["category"].string
        guard let c = MetricWarning.Category(rawValue: cat) else {
            precondition(cat == "RuntimeWarning", "fixture: unexpected warning category \(cat)")
            return nil
        }
        return MetricWarning(c, w["message"].string)
    }
}

/// Runs `body` and checks it against scikit-learn's result `r`: the same error message, or a value that `matches`
/// and the same warnings in the same order.
func checkGolden<T>(_ r: J, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: (MetricWarnings) throws(MetricError) -> T, matches: (T, J) -> Bool) {
    let log = MetricWarnings()
    let result: Result<T, MetricError>
    do throws(MetricError) { result = .success(try body(log)) } catch { result = .failure(error) }
    if r["error"].exists {
        switch result {
        case .success(let v):
            Issue.record("\(what()): scikit-learn raised \"\(r["error"]["message"].string)\" but Ember returned \(v)",
                         sourceLocation: sourceLocation)
        case .failure(let e):
            #expect(e.message == normalizeMessage(r["error"]["message"].string), "\(what())", sourceLocation: sourceLocation)
        }
        return
    }
    switch result {
    case .failure(let e):
        Issue.record("\(what()): Ember threw \(e) but scikit-learn returned \(r["value"].raw)", sourceLocation: sourceLocation)
    case .success(let v):
        #expect(matches(v, r["value"]), "\(what()): Ember \(v) vs scikit-learn \(r["value"].raw)", sourceLocation: sourceLocation)
        #expect(log.all == expectedWarnings(r), "\(what()) warnings", sourceLocation: sourceLocation)
    }
}

func scalar(_ v: Double, _ j: J) -> Bool { close(v, j.double) }
func vector(_ v: [Double], _ j: J) -> Bool { close(v, j.doubles) }

extension ZeroDivision {
    init(fixture s: String) {
        switch s {
        case "warn": self = .warn
        case "0": self = .zero
        case "1": self = .one
        case "nan": self = .nan
        default: preconditionFailure("fixture: zero_division \(s)")
        }
    }
}

extension Average {
    /// nil for scikit-learn's `average=None`.
    static func fixture(_ s: String) -> Average? {
        switch s {
        case "binary": return .binary
        case "micro": return .micro
        case "macro": return .macro
        case "weighted": return .weighted
        case "None": return nil
        default: preconditionFailure("fixture: average \(s)")
        }
    }
}
