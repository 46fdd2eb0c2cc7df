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
    /// Drop columns with too many missing values.
    case missingColumnDropper(MissingColumnDropper)
    /// Clip outliers to bounds learned from training data.
    case outlierClipper(OutlierClipper)
    /// Products of features up to a degree.
    case polynomialFeatures(PolynomialFeatures)
    /// Replace values by bin numbers.
    case kBinsDiscretizer(KBinsDiscretizer)
    /// `log(1 + x)`.
    case logTransform(LogTransform)

    private enum Keys: String, CodingKey { case type, step }

    /// Reads a step written by `encode(to:)`: `{"type": "<StepName>", "step": {...}}`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decode(String.self, forKey: .type) {
        case "SimpleImputer": self = .imputer(try c.decode(SimpleImputer.self, forKey: .step))
        case "StandardScaler": self = .standardScaler(try c.decode(StandardScaler.self, forKey: .step))
        case "MinMaxScaler": self = .minMaxScaler(try c.decode(MinMaxScaler.self, forKey: .step))
        case "RobustScaler": self = .robustScaler(try c.decode(RobustScaler.self, forKey: .step))
        case "MissingColumnDropper": self = .missingColumnDropper(try c.decode(MissingColumnDropper.self, forKey: .step))
        case "OutlierClipper": self = .outlierClipper(try c.decode(OutlierClipper.self, forKey: .step))
        case "PolynomialFeatures": self = .polynomialFeatures(try c.decode(PolynomialFeatures.self, forKey: .step))
        case "KBinsDiscretizer": self = .kBinsDiscretizer(try c.decode(KBinsDiscretizer.self, forKey: .step))
        case "LogTransform": self = .logTransform(try c.decode(LogTransform.self, forKey: .step))
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
        case .missingColumnDropper(let s): try c.encode("MissingColumnDropper", forKey: .type); try c.encode(s, forKey: .step)
        case .outlierClipper(let s): try c.encode("OutlierClipper", forKey: .type); try c.encode(s, forKey: .step)
        case .polynomialFeatures(let s): try c.encode("PolynomialFeatures", forKey: .type); try c.encode(s, forKey: .step)
        case .kBinsDiscretizer(let s): try c.encode("KBinsDiscretizer", forKey: .type); try c.encode(s, forKey: .step)
        case .logTransform(let s): try c.encode("LogTransform", forKey: .type); try c.encode(s, forKey: .step)
        }
    }

    mutating func fit(_ x: Tensor) throws {
        switch self {
        case .imputer(var s): try s.fit(x); self = .imputer(s)
        case .standardScaler(var s): try s.fit(x); self = .standardScaler(s)
        case .minMaxScaler(var s): try s.fit(x); self = .minMaxScaler(s)
        case .robustScaler(var s): try s.fit(x); self = .robustScaler(s)
        case .missingColumnDropper(var s): try s.fit(x); self = .missingColumnDropper(s)
        case .outlierClipper(var s): try s.fit(x); self = .outlierClipper(s)
        case .polynomialFeatures(var s): try s.fit(x); self = .polynomialFeatures(s)
        case .kBinsDiscretizer(var s): try s.fit(x); self = .kBinsDiscretizer(s)
        case .logTransform(var s): try s.fit(x); self = .logTransform(s)
        }
    }

    func transform(_ x: Tensor) throws -> Tensor {
        switch self {
        case .imputer(let s): return try s.transform(x)
        case .standardScaler(let s): return try s.transform(x)
        case .minMaxScaler(let s): return try s.transform(x)
        case .robustScaler(let s): return try s.transform(x)
        case .missingColumnDropper(let s): return try s.transform(x)
        case .outlierClipper(let s): return try s.transform(x)
        case .polynomialFeatures(let s): return try s.transform(x)
        case .kBinsDiscretizer(let s): return try s.transform(x)
        case .logTransform(let s): return try s.transform(x)
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
