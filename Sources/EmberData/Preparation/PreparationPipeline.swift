import EmberCore
import Foundation

/// One numeric preparation step of a `PreparationPipeline`.
public enum PreparationStep: Codable, Sendable, Equatable {
    /// Fill missing values.
    case imputer(SimpleImputer)
    /// Standardize.
    case standardScaler(StandardScaler)
    /// Rescale to a range.
    case minMaxScaler(MinMaxScaler)
    /// Center on the median, scale by a quantile range.
    case robustScaler(RobustScaler)

    private enum Keys: String, CodingKey { case type, step }

    /// Reads a step written by `encode(to:)`: `{"type": "<StepName>", "step": {...}}`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decode(String.self, forKey: .type) {
        case "SimpleImputer": self = .imputer(try c.decode(SimpleImputer.self, forKey: .step))
        case "StandardScaler": self = .standardScaler(try c.decode(StandardScaler.self, forKey: .step))
        case "MinMaxScaler": self = .minMaxScaler(try c.decode(MinMaxScaler.self, forKey: .step))
        case "RobustScaler": self = .robustScaler(try c.decode(RobustScaler.self, forKey: .step))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown preparation step '\(other)'")
        }
    }

    /// Writes the step as `{"type": "<StepName>", "step": {...}}`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .imputer(let s): try c.encode("SimpleImputer", forKey: .type); try c.encode(s, forKey: .step)
        case .standardScaler(let s): try c.encode("StandardScaler", forKey: .type); try c.encode(s, forKey: .step)
        case .minMaxScaler(let s): try c.encode("MinMaxScaler", forKey: .type); try c.encode(s, forKey: .step)
        case .robustScaler(let s): try c.encode("RobustScaler", forKey: .type); try c.encode(s, forKey: .step)
        }
    }

    mutating func fit(_ x: Tensor) throws {
        switch self {
        case .imputer(var s): try s.fit(x); self = .imputer(s)
        case .standardScaler(var s): try s.fit(x); self = .standardScaler(s)
        case .minMaxScaler(var s): try s.fit(x); self = .minMaxScaler(s)
        case .robustScaler(var s): try s.fit(x); self = .robustScaler(s)
        }
    }

    func transform(_ x: Tensor) throws -> Tensor {
        switch self {
        case .imputer(let s): return try s.transform(x)
        case .standardScaler(let s): return try s.transform(x)
        case .minMaxScaler(let s): return try s.transform(x)
        case .robustScaler(let s): return try s.transform(x)
        }
    }
}

/// Numeric preparation steps applied in order, fitted on training data, saved and restored as JSON.
///
/// ```swift
/// var prep = PreparationPipeline([.imputer(SimpleImputer(strategy: .median)), .standardScaler(StandardScaler())])
/// let trainX = try prep.fitTransform(train)          // each step is fitted on the output of the previous one
/// try prep.jsonData().write(to: url)                  // {"steps":[{"type":"SimpleImputer","step":{...}}, ...]}
/// let restored = try PreparationPipeline(jsonData: Data(contentsOf: url))
/// let testX = try restored.transform(test)
/// ```
public struct PreparationPipeline: TablePreparer, Equatable {
    /// The steps, in application order.
    public var steps: [PreparationStep]

    /// A pipeline of `steps`.
    public init(_ steps: [PreparationStep]) { self.steps = steps }

    /// Fits each step on the output of the steps before it.
    public mutating func fit(_ x: Tensor) throws {
        var current = x
        for i in steps.indices {
            try steps[i].fit(current)
            if i < steps.count - 1 { current = try steps[i].transform(current) }
        }
    }

    /// Applies every step in order.
    public func transform(_ x: Tensor) throws -> Tensor {
        try steps.reduce(x) { try $1.transform($0) }
    }

    /// The pipeline as JSON (non-finite numbers as "NaN"/"Infinity" strings).
    public func jsonData() throws -> Data { try PreparationJSON.encoder().encode(self) }

    /// A pipeline read from `jsonData()` output.
    public init(jsonData: Data) throws { self = try PreparationJSON.decoder().decode(PreparationPipeline.self, from: jsonData) }
}
