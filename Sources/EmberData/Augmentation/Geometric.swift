import EmberCore
import Foundation

/// Pads the image by `padding` pixels of `fill` on every side, then cuts a random `size` window
/// (torchvision's `RandomCrop(size, padding)`).
public struct RandomCrop: Augmentation {
    public let height: Int, width: Int, padding: Int
    public let fill: Float

    public init(_ size: Int, padding: Int = 0, fill: Float = 0) { self.init(height: size, width: size, padding: padding, fill: fill) }
    public init(height: Int, width: Int, padding: Int = 0, fill: Float = 0) {
        precondition(height > 0 && width > 0 && padding >= 0, "RandomCrop: size must be positive and padding non-negative")
        self.height = height; self.width = width; self.padding = padding; self.fill = fill
    }

    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        let src = Pixels(image)
        precondition(src.h + 2 * padding >= height && src.w + 2 * padding >= width,
                     "RandomCrop: \(height)x\(width) does not fit a \(src.h)x\(src.w) image padded by \(padding)")
        let top = rng.nextInt(below: src.h + 2 * padding - height + 1) - padding
        let left = rng.nextInt(below: src.w + 2 * padding - width + 1) - padding
        var out = Pixels(c: src.c, h: height, w: width, fill: fill)
        for ch in 0..<src.c {
            for y in 0..<height {
                let sy = y + top
                if sy < 0 || sy >= src.h { continue }
                for x in 0..<width {
                    let sx = x + left
                    if sx >= 0 && sx < src.w { out.data[(ch * height + y) * width + x] = src.at(ch, sy, sx) }
                }
            }
        }
        return out.tensor
    }
}

/// Mirrors the image left-right with probability `p`.
public struct HorizontalFlip: Augmentation {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        rng.nextDouble() < p ? withoutGrad { image.flipped(axes: [2]).contiguous() } : image
    }
}

/// Mirrors the image top-bottom with probability `p`.
public struct VerticalFlip: Augmentation {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        rng.nextDouble() < p ? withoutGrad { image.flipped(axes: [1]).contiguous() } : image
    }
}

/// A random affine transform about the image centre with bilinear sampling: rotation in [-degrees, degrees],
/// translation up to `translate` (fraction of width, height), scale in `scale`; uncovered pixels get `fill`.
public struct RandomAffine: Augmentation {
    public let degrees: Double, translate: (Double, Double), scale: (Double, Double)
    public let fill: Float

    public init(degrees: Double, translate: (Double, Double) = (0, 0), scale: (Double, Double) = (1, 1), fill: Float = 0) {
        precondition(degrees >= 0 && scale.0 > 0 && scale.1 >= scale.0, "RandomAffine: degrees must be >= 0 and 0 < scale.0 <= scale.1")
        self.degrees = degrees; self.translate = translate; self.scale = scale; self.fill = fill
    }

    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        let angle = rng.uniform(-degrees, degrees) * Double.pi / 180
        let s = rng.uniform(scale.0, scale.1 + 1e-12)
        let src = Pixels(image)
        let tx = rng.uniform(-translate.0, translate.0 + 1e-12) * Double(src.w)
        let ty = rng.uniform(-translate.1, translate.1 + 1e-12) * Double(src.h)
        return Self.warp(src, angle: angle, scale: s, tx: tx, ty: ty, fill: fill)
    }

    /// Output pixel p maps back to source point R(-angle) (p - centre - t) / scale + centre.
    static func warp(_ src: Pixels, angle: Double, scale s: Double, tx: Double, ty: Double, fill: Float) -> Tensor {
        var out = Pixels(c: src.c, h: src.h, w: src.w, fill: fill)
        let cy = Double(src.h - 1) / 2, cx = Double(src.w - 1) / 2
        let ca = Foundation.cos(angle), sa = Foundation.sin(angle)
        for y in 0..<src.h {
            for x in 0..<src.w {
                let dx = Double(x) - cx - tx, dy = Double(y) - cy - ty
                let sx = (ca * dx + sa * dy) / s + cx, sy = (-sa * dx + ca * dy) / s + cy
                for ch in 0..<src.c { out.data[(ch * src.h + y) * src.w + x] = src.bilinear(ch, sy, sx, fill: fill) }
            }
        }
        return out.tensor
    }
}

/// A random rotation in [-degrees, degrees] (bilinear): `RandomAffine` without translation or scaling.
public struct RandomRotation: Augmentation {
    public let degrees: Double, fill: Float
    public init(_ degrees: Double, fill: Float = 0) { self.degrees = degrees; self.fill = fill }
    public func apply(_ image: Tensor, rng: inout RandomState) -> Tensor {
        RandomAffine(degrees: degrees, fill: fill).apply(image, rng: &rng)
    }
}
