import EmberCore
import Foundation

/// Random brightness and contrast: brightness multiplies by f ~ U[1-b, 1+b]; contrast blends with the image mean
/// by f ~ U[1-c, 1+c]; results clamped to [0, 1] (images scaled to [0, 1], as `ImageDataset` gives).
/// Brightness is applied before contrast.
public struct ColorJitter: Augmentation {
    public let brightness: Double, contrast: Double
    public init(brightness: Double = 0, contrast: Double = 0) {
        precondition(brightness >= 0 && contrast >= 0, "ColorJitter: amounts must be non-negative")
        self.brightness = brightness; self.contrast = contrast
    }

    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        var px = Pixels(image)
        if brightness > 0 {
            let f = Float(rng.uniform(Swift.max(0, 1 - brightness), 1 + brightness))
            for i in px.data.indices { px.data[i] = Swift.min(Swift.max(px.data[i] * f, 0), 1) }
        }
        if contrast > 0 {
            let f = Float(rng.uniform(Swift.max(0, 1 - contrast), 1 + contrast))
            let mean = px.data.reduce(0, +) / Float(Swift.max(px.data.count, 1))
            for i in px.data.indices { px.data[i] = Swift.min(Swift.max((px.data[i] - mean) * f + mean, 0), 1) }
        }
        return px.tensor
    }
}

/// Adds N(0, std²) noise to every pixel.
public struct GaussianNoise: Augmentation {
    public let std: Double
    public init(std: Double) { self.std = std }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        withoutGrad { image + Tensor.normal(image.shape, std: std, dtype: image.dtype, rng: &rng) }
    }
}

/// Per-channel (x - mean) / std. Deterministic.
public struct Normalize: Augmentation {
    public let mean: [Float], std: [Float]
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && std.allSatisfy { $0 > 0 }, "Normalize: mean and std need one positive entry per channel")
        self.mean = mean; self.std = std
    }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        var px = Pixels(image)
        precondition(px.c == mean.count || mean.count == 1, "Normalize: \(mean.count) means for \(px.c) channels")
        let plane = px.h * px.w
        for ch in 0..<px.c {
            let m = mean[mean.count == 1 ? 0 : ch], s = 1 / std[std.count == 1 ? 0 : ch]
            for i in (ch * plane)..<((ch + 1) * plane) { px.data[i] = (px.data[i] - m) * s }
        }
        return px.tensor
    }
}

/// Random erasing (cutout): with probability `p`, a rectangle covering a `scale` fraction of the area with aspect
/// ratio in `ratio` (log-uniform) is set to `value` (torchvision's algorithm: up to 10 tries to fit it).
public struct RandomErasing: Augmentation {
    public let p: Double, scale: (Double, Double), ratio: (Double, Double), value: Float
    public init(p: Double = 0.5, scale: (Double, Double) = (0.02, 0.33), ratio: (Double, Double) = (0.3, 3.3), value: Float = 0) {
        self.p = p; self.scale = scale; self.ratio = ratio; self.value = value
    }

    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        guard rng.nextDouble() < p else { return image }
        var px = Pixels(image)
        let area = Double(px.h * px.w)
        for _ in 0..<10 {
            let target = area * rng.uniform(scale.0, scale.1)
            let aspect = Foundation.exp(rng.uniform(Foundation.log(ratio.0), Foundation.log(ratio.1)))
            let eh = Int((target * aspect).squareRoot().rounded()), ew = Int((target / aspect).squareRoot().rounded())
            guard eh > 0, ew > 0, eh < px.h, ew < px.w else { continue }
            let top = rng.nextInt(below: px.h - eh + 1), left = rng.nextInt(below: px.w - ew + 1)
            for ch in 0..<px.c { for y in top..<(top + eh) { for x in left..<(left + ew) { px.data[(ch * px.h + y) * px.w + x] = value } } }
            return px.tensor
        }
        return image
    }
}

/// Mixup on a batch: x' = λ x + (1-λ) x[perm], soft targets likewise, λ ~ Beta(alpha, alpha).
/// Targets are class indices [B]; the result's targets are probabilities [B, classes] (cross-entropy takes them).
public struct MixUp: Sendable {
    public let alpha: Double, classes: Int
    public init(alpha: Double = 0.2, classes: Int) { self.alpha = alpha; self.classes = classes }

    /// The mixed batch and the λ used.
    public func apply(_ x: Tensor, _ y: Tensor, rng: inout RandomState) -> (input: Tensor, target: Tensor, lambda: Double) {
        let lam = rng.nextBeta(alpha, alpha)
        let perm = Tensor.randperm(x.shape[0], rng: &rng)
        let onehot = y.cast(.int64).oneHot(numClasses: classes, dtype: x.dtype)
        return withoutGrad {
            (x * lam + x.indexSelect(axis: 0, index: perm) * (1 - lam),
             onehot * lam + onehot.indexSelect(axis: 0, index: perm) * (1 - lam), lam)
        }
    }
}

/// CutMix on a batch [B, C, H, W]: a box from the permuted batch is pasted in; targets mix by the box's area.
public struct CutMix: Sendable {
    public let alpha: Double, classes: Int
    public init(alpha: Double = 1, classes: Int) { self.alpha = alpha; self.classes = classes }

    /// The mixed batch and λ = 1 - box area / image area.
    public func apply(_ x: Tensor, _ y: Tensor, rng: inout RandomState) -> (input: Tensor, target: Tensor, lambda: Double) {
        precondition(x.rank == 4, "CutMix: expected images [B, C, H, W], got \(x.shape)")
        let b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let lam0 = rng.nextBeta(alpha, alpha)
        let cut = (1 - lam0).squareRoot()
        let ch = Int(Double(h) * cut), cw = Int(Double(w) * cut)
        let cy = rng.nextInt(below: h), cx = rng.nextInt(below: w)
        let y0 = Swift.max(cy - ch / 2, 0), y1 = Swift.min(cy + ch / 2, h)
        let x0 = Swift.max(cx - cw / 2, 0), x1 = Swift.min(cx + cw / 2, w)
        let perm = rng.permutation(b)
        var data = x.contiguous().toArray(Float.self)
        let src = data
        for i in 0..<b { for k in 0..<c { for yy in y0..<y1 { for xx in x0..<x1 {
            data[((i * c + k) * h + yy) * w + xx] = src[((perm[i] * c + k) * h + yy) * w + xx]
        } } } }
        let lam = 1 - Double((y1 - y0) * (x1 - x0)) / Double(h * w)
        let onehot = y.cast(.int64).oneHot(numClasses: classes, dtype: .float32)
        let permT = Tensor(perm.map { Int64($0) })
        let target = withoutGrad { onehot * lam + onehot.indexSelect(axis: 0, index: permT) * (1 - lam) }
        return (Tensor(data, shape: x.shape), target, lam)
    }
}
