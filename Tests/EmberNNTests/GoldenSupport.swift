import Foundation
import Testing
@testable import EmberNN

// Shared helpers for the PyTorch golden tests: fixture loading (files written by scripts/golden/make_nn_golden.py,
// see its header for the format), tensors from JSON, and an elementwise comparison that reports the worst element.

/// A parsed JSON value with convenient, crashing accessors (fixtures are ours; a malformed one is a test bug).
struct J: @unchecked Sendable {
    let raw: Any

    subscript(_ key: String) -> J { J(raw: (raw as? [String: Any])?[key] ?? NSNull()) }
    subscript(_ i: Int) -> J { J(raw: (raw as! [Any])[i]) }

    var exists: Bool { !(raw is NSNull) }
    var double: Double {
        if let n = raw as? NSNumber { return n.doubleValue }
        preconditionFailure("fixture: expected a number, got \(raw)")
    }
    var int: Int { Int(double) }
    var bool: Bool { raw as! Bool }
    var string: String { raw as! String }
    var array: [J] { (raw as! [Any]).map { J(raw: $0) } }
    var ints: [Int] { array.map(\.int) }
    var doubles: [Double] { array.map(\.double) }
    var dict: [String: J] { (raw as! [String: Any]).mapValues { J(raw: $0) } }

    var doubleOrNil: Double? { exists ? double : nil }
    var intOrNil: Int? { exists ? int : nil }
    var boolOrNil: Bool? { exists ? bool : nil }

    /// {"shape", "data", "dtype"?} -> a float32 or int64 tensor.
    var tensor: Tensor {
        let shape = self["shape"].ints
        if self["dtype"].exists && self["dtype"].string == "int64" {
            return Tensor(self["data"].array.map { Int64($0.int) }, shape: shape)
        }
        return Tensor(self["data"].array.map { Float($0.double) }, shape: shape)
    }

    /// A state dict {"order", "tensors"} as loadStateDict wants it.
    var stateDict: [String: Tensor] { self["tensors"].dict.mapValues(\.tensor) }
    /// The names in PyTorch's state_dict order.
    var stateOrder: [String] { self["order"].array.map(\.string) }
}

enum Fixtures {
    static func load(_ name: String) -> J {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            preconditionFailure("fixture \(name).json missing: run scripts/golden/make_nn_golden.py")
        }
        let data = try! Data(contentsOf: url)
        return J(raw: try! JSONSerialization.jsonObject(with: data))
    }

    // Parsed once per test process.
    static let training = load("nn_training")
    static let layers = load("nn_layers")
    static let losses = load("nn_losses")
    static let optim = load("nn_optim")

    /// Cases of a fixture list by name (for parameterized tests, which take the names as arguments).
    static func named(_ list: J) -> [String: J] {
        Dictionary(uniqueKeysWithValues: list.array.map { ($0["name"].string, $0) })
    }
}

/// EMBER_GOLDEN_VERBOSE=1 prints how much of its tolerance every comparison used (to re-measure headroom).
let verboseGolden = ProcessInfo.processInfo.environment["EMBER_GOLDEN_VERBOSE"] != nil

/// Elementwise |actual - expected| <= atol + rtol * |expected|, shapes equal. Records one issue naming the worst
/// element and how much of the tolerance it used. Returns the worst fraction of the tolerance used (for reporting).
@discardableResult
func expectClose(_ actual: Tensor?, _ expected: Tensor, atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    guard let actual else {
        Issue.record("\(what): no tensor (nil gradient?)", sourceLocation: sourceLocation)
        return .infinity
    }
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return .infinity
    }
    return expectClose(actual.toArray(Double.self), expected.toArray(Double.self), atol: atol, rtol: rtol, what,
                       sourceLocation: sourceLocation)
}

@discardableResult
func expectClose(_ a: [Double], _ b: [Double], atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    guard a.count == b.count else {
        Issue.record("\(what): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
        return .infinity
    }
    var worst = 0.0, worstIndex = -1
    for i in a.indices {
        let used = Swift.abs(a[i] - b[i]) / (atol + rtol * Swift.abs(b[i]))
        if !(used <= worst) { worst = used; worstIndex = i }   // NaN counts as worst
    }
    if verboseGolden { print("golden \(what): \(worst) of the tolerance") }
    if !(worst <= 1) {
        let diff = Swift.abs(a[worstIndex] - b[worstIndex])
        let message: String = "\(what): element \(worstIndex) is \(a[worstIndex]), expected \(b[worstIndex]) "
            + "(|diff| \(diff), \(worst)x the tolerance \(atol) + \(rtol)|expected|)"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
    return worst
}

/// Exact equality of integer tensors (num_batches_tracked, labels).
func expectEqualInts(_ actual: Tensor, _ expected: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
    #expect(actual.toArray(Int64.self) == expected.toArray(Int64.self), "\(what)", sourceLocation: sourceLocation)
}

/// Compares a module's state dict with a fixture's, name by name (float entries with the tolerance, ints exactly).
func expectStateClose(_ model: Module, _ expected: J, atol: Double, rtol: Double, _ what: String,
                      sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    let mine = model.stateDict()
    #expect(mine.map(\.0) == expected.stateOrder, "\(what): state-dict names/order differ from PyTorch's",
            sourceLocation: sourceLocation)
    let exp = expected.stateDict
    var worst = 0.0
    for (name, t) in mine {
        guard let e = exp[name] else { continue }
        if t.dtype.isFloatingPoint {
            worst = Swift.max(worst, expectClose(t, e, atol: atol, rtol: rtol, "\(what) \(name)", sourceLocation: sourceLocation))
        } else {
            expectEqualInts(t, e, "\(what) \(name)", sourceLocation: sourceLocation)
        }
    }
    return worst
}

extension Pair {
    /// A pair from a JSON [h, w] list or a single number.
    init(_ j: J) {
        if let a = j.raw as? [Any], a.count == 2 { self.init(J(raw: a[0]).int, J(raw: a[1]).int) }
        else { self.init(j.int, j.int) }
    }
}
