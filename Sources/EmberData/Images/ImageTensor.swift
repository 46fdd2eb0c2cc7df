import EmberCore

/// How an image tensor lays out its axes.
public enum ImageLayout: Sendable {
    /// `[channels, height, width]` (PyTorch's convention).
    case chw
    /// `[height, width, channels]`.
    case hwc
}

extension RasterImage {
    /// An image from a tensor: `[H, W]` (gray) or, per `layout`, `[C, H, W]` / `[H, W, C]` with C = 1, 3 or 4.
    /// Float values are taken as 0...1 (scaled by 255); integer values as 0...255; both are clamped.
    /// With `normalize`, the tensor's own min...max is stretched to 0...255 instead.
    public init(tensor: Tensor, layout: ImageLayout = .chw, normalize: Bool = false) throws {
        let s = tensor.shape
        let (c, h, w): (Int, Int, Int)
        switch (s.count, layout) {
        case (2, _): (c, h, w) = (1, s[0], s[1])
        case (3, .chw): (c, h, w) = (s[0], s[1], s[2])
        case (3, .hwc): (c, h, w) = (s[2], s[0], s[1])
        default: throw DataError(.badValue, file: "RasterImage(tensor:)", expected: "an [H, W] or 3-D image tensor", found: "shape \(s)")
        }
        guard [1, 3, 4].contains(c) else {
            throw DataError(.badValue, file: "RasterImage(tensor:)", expected: "1, 3 or 4 channels (layout \(layout))", found: "\(c) in shape \(s)")
        }
        let v = tensor.toArray(Double.self)
        var lo = 0.0, scale = tensor.dtype.isFloatingPoint ? 255.0 : 1.0
        if normalize, let mn = v.filter(\.isFinite).min(), let mx = v.filter(\.isFinite).max() {
            lo = mn
            scale = mx > mn ? 255 / (mx - mn) : 0
        }
        var px = [UInt8](repeating: 0, count: h * w * c)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    let src = layout == .hwc || s.count == 2 ? (y * w + x) * c + ch : ch * h * w + y * w + x
                    let q = ((v[src] - lo) * scale).rounded()
                    px[(y * w + x) * c + ch] = q.isNaN ? 0 : UInt8(Swift.min(Swift.max(q, 0), 255))
                }
            }
        }
        try self.init(width: w, height: h, channels: c, pixels: px)
    }
}
