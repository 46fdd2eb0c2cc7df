import EmberCore
import Foundation

/// A random (or fixed) transformation of one image tensor [C, H, W], drawing its randomness from the generator it is
/// given, so that a loader can replay every sample's augmentation from the seed.
///
/// ```swift
/// let augment = Compose([RandomCrop(28, padding: 2), HorizontalFlip(), Normalize(mean: [0.286], std: [0.353])])
/// let loader = DataLoader(train, batchSize: 128, shuffle: true, workers: 2, transform: augment.transform)
/// ```
public protocol Augmentation: Sendable {
    /// The transformed image.
    func apply(_ image: Tensor, rng: inout RandomState) -> Tensor
}

extension Augmentation {
    /// This augmentation as a `DataLoader` transform of `(input, target)` examples (targets pass through).
    public var transform: @Sendable ((input: Tensor, target: Tensor), inout RandomState) -> (input: Tensor, target: Tensor) {
        { example, rng in (self.apply(example.input, rng: &rng), example.target) }
    }
}

/// Several augmentations applied in order.
public struct Compose: Augmentation {
    public let steps: [any Augmentation]
    public init(_ steps: [any Augmentation]) { self.steps = steps }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        steps.reduce(image) { $1.apply($0, rng: &rng) }
    }
}

/// Float pixels of a [C, H, W] image, read and written as a flat array.
struct Pixels {
    var c: Int, h: Int, w: Int
    var data: [Float]

    init(_ t: Tensor) {
        precondition(t.rank == 3, "augmentation: expected an image [C, H, W], got shape \(t.shape)")
        c = t.shape[0]; h = t.shape[1]; w = t.shape[2]
        data = t.dtype == .float32 ? t.toArray(Float.self) : t.cast(.float32).toArray(Float.self)
    }

    init(c: Int, h: Int, w: Int, fill: Float) {
        self.c = c; self.h = h; self.w = w
        data = [Float](repeating: fill, count: c * h * w)
    }

    var tensor: Tensor { Tensor(data, shape: [c, h, w]) }

    @inline(__always) func at(_ ch: Int, _ y: Int, _ x: Int) -> Float { data[(ch * h + y) * w + x] }

    /// Bilinear sample at (y, x) in pixel coordinates; outside the image gives `fill`.
    func bilinear(_ ch: Int, _ y: Double, _ x: Double, fill: Float) -> Float {
        let y0 = Int(y.rounded(.down)), x0 = Int(x.rounded(.down))
        let fy = Float(y - Double(y0)), fx = Float(x - Double(x0))
        func px(_ yy: Int, _ xx: Int) -> Float { yy >= 0 && yy < h && xx >= 0 && xx < w ? at(ch, yy, xx) : fill }
        if y < -1 || x < -1 || y > Double(h) || x > Double(w) { return fill }
        let top = px(y0, x0) * (1 - fx) + px(y0, x0 + 1) * fx
        let bottom = px(y0 + 1, x0) * (1 - fx) + px(y0 + 1, x0 + 1) * fx
        return top * (1 - fy) + bottom * fy
    }
}

extension RandomState {
    /// A uniform Double in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextDouble() }

    /// A Gamma(shape, 1) sample (Marsaglia-Tsang; shape < 1 by the boost x * U^(1/shape)).
    public mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0, "nextGamma: shape must be positive, got \(shape)")
        if shape < 1 { return nextGamma(shape: shape + 1) * Foundation.pow(Swift.max(nextDouble(), 1e-300), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let z = nextNormal()
            let v = Foundation.pow(1 + c * z, 3)
            if v <= 0 { continue }
            let u = Swift.max(nextDouble(), 1e-300)
            if Foundation.log(u) < 0.5 * z * z + d - d * v + d * Foundation.log(v) { return d * v }
        }
    }

    /// A Beta(a, b) sample.
    public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
        let x = nextGamma(shape: a), y = nextGamma(shape: b)
        return x / (x + y)
    }
}

extension DataLoader where Source.Element == (input: Tensor, target: Tensor), Batch == (input: Tensor, target: Tensor) {
    /// A loader of `(input, target)` batches whose inputs pass through `augment` (applied in order, per example, in
    /// the worker threads, each example with its own random stream), as in
    /// `DataLoader(train, batchSize: 64, shuffle: true, augment: [RandomCrop(28, padding: 2), HorizontalFlip()])`.
    public convenience init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                            rng: RandomState = RandomState(seed: 0), workers: Int = 1, prefetch: Int? = nil,
                            augment: [any Augmentation]) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, dropLast: dropLast, rng: rng, workers: workers,
                  prefetch: prefetch, transform: Compose(augment).transform)
    }
}
