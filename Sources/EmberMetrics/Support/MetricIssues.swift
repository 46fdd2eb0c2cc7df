import Foundation

/// How scikit-learn's warnings and errors appear in Ember.
///
/// scikit-learn reports an ill-defined metric (precision with no predicted samples, ROC-AUC with a single class) with
/// a *warning* and a substitute value, and invalid input with a `ValueError`. Ember keeps that split:
///
/// - a warning becomes a ``MetricWarning`` value appended to the ``MetricWarnings`` log you pass (or dropped when you
///   pass none); the function still returns scikit-learn's substitute value (0, 1 or NaN);
/// - an error becomes a thrown ``MetricError`` whose `message` is scikit-learn's message.
///
/// NumPy's own floating-point `RuntimeWarning`s (for example the division by zero inside
/// `balanced_accuracy_score(adjusted=True)` on a single class) are not modelled: the value is the same IEEE result.
public struct MetricWarning: Sendable, Hashable, CustomStringConvertible {
    /// scikit-learn's warning class.
    public enum Category: String, Sendable, Hashable {
        /// `sklearn.exceptions.UndefinedMetricWarning`: the metric is ill-defined and a substitute value is returned.
        case undefinedMetric = "UndefinedMetricWarning"
        /// Python's `UserWarning`: the input looks wrong but a value is still computed.
        case user = "UserWarning"
    }

    /// The warning class scikit-learn uses.
    public let category: Category
    /// The text scikit-learn prints.
    public let message: String

    /// A warning of `category` with `message`.
    public init(_ category: Category, _ message: String) {
        self.category = category
        self.message = message
    }

    public var description: String { "\(category.rawValue): \(message)" }
}

/// A log that metric functions append their warnings to. Pass one to see why a metric fell back to a substitute
/// value; leave the argument out to ignore warnings.
///
/// ```swift
/// let log = MetricWarnings()
/// let p = try precision(yTrue, yPred, average: .macro, warnings: log)
/// for w in log.all { print(w) }
/// ```
public final class MetricWarnings: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [MetricWarning] = []

    /// An empty log.
    public init() {}

    /// Every warning in the order it was raised.
    public var all: [MetricWarning] { lock.withLock { items } }

    /// Whether nothing was logged.
    public var isEmpty: Bool { all.isEmpty }

    /// Adds one warning.
    public func append(_ w: MetricWarning) { lock.withLock { items.append(w) } }

    /// Adds several warnings.
    public func append(contentsOf ws: [MetricWarning]) { lock.withLock { items.append(contentsOf: ws) } }

    /// Forgets every warning.
    public func removeAll() { lock.withLock { items.removeAll() } }
}

/// Invalid input to a metric, with scikit-learn's `ValueError` message.
public struct MetricError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Kind: String, Sendable, Hashable {
        /// No samples.
        case emptyInput
        /// Inputs of different lengths.
        case inconsistentLength
        /// An averaging mode that does not fit the targets (for example `binary` on multiclass labels).
        case invalidAverage
        /// A positive label or `labels` list that does not fit the targets.
        case invalidLabels
        /// Scores of the wrong shape, or rows that must be probabilities but are not.
        case invalidScores
        /// Target values that the metric cannot handle (a multiclass target for a binary curve).
        case unsupportedTarget
        /// A feature matrix that is ragged or holds non-finite values (silhouette).
        case invalidFeatures
    }

    /// The category of the problem.
    public let kind: Kind
    /// scikit-learn's message for the same input.
    public let message: String

    /// An error of `kind` with `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "MetricError.\(kind.rawValue): \(message)" }
}

/// What a ratio with a zero denominator becomes (scikit-learn's `zero_division`).
public enum ZeroDivision: Sendable, Hashable {
    /// 0, and a ``MetricWarning`` is logged (scikit-learn's default `"warn"`).
    case warn
    /// 0, silently.
    case zero
    /// 1, silently.
    case one
    /// NaN, silently; NaN entries are then left out of macro and weighted averages.
    case nan

    var value: Double {
        switch self {
        case .warn, .zero: return 0
        case .one: return 1
        case .nan: return .nan
        }
    }
}
