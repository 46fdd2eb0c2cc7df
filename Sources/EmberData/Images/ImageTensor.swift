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

    /// This image enlarged by an integer factor (nearest neighbour).
    public func scaled(by k: Int) -> RasterImage {
        precondition(k >= 1, "RasterImage.scaled: factor must be at least 1, got \(k)")
        if k == 1 { return self }
        var out = RasterImage(width: width * k, height: height * k, channels: channels)
        for y in 0..<(height * k) {
            for x in 0..<(width * k) {
                let s = ((y / k) * width + x / k) * channels, d = (y * width * k + x) * channels
                for c in 0..<channels { out.pixels[d + c] = pixels[s + c] }
            }
        }
        return out
    }

    /// Copies `other` (same channel count) with its top-left corner at (`x`, `y`), clipped.
    public mutating func paste(_ other: RasterImage, x: Int, y: Int) {
        precondition(other.channels == channels, "RasterImage.paste: \(other.channels) channels into \(channels)")
        for yy in 0..<other.height where y + yy >= 0 && y + yy < height {
            for xx in 0..<other.width where x + xx >= 0 && x + xx < width {
                let s = (yy * other.width + xx) * channels, d = ((y + yy) * width + x + xx) * channels
                for c in 0..<channels { pixels[d + c] = other.pixels[s + c] }
            }
        }
    }

    /// A grid of images from a batch tensor `[N, C, H, W]` (C = 1, 3 or 4) or `[N, H, W]`, row by row with
    /// `columns` images per row (default: the smallest square that holds them) and `padding` pixels of `background`
    /// around each tile. Values in `range` map linearly to 0...255 (clamped): `0...1` for images, `-1...1` for a
    /// tanh generator's output. This is how generated samples, reconstructions and interpolations are saved.
    public static func grid(_ images: Tensor, columns: Int? = nil, padding: Int = 2, range: ClosedRange<Double> = 0...1,
                            background: UInt8 = 0) throws -> RasterImage {
        let s = images.shape
        guard s.count == 3 || s.count == 4, s[0] > 0 else {
            throw DataError(.badValue, file: "RasterImage.grid", expected: "a non-empty [N, C, H, W] or [N, H, W] tensor", found: "shape \(s)")
        }
        let n = s[0], c = s.count == 4 ? s[1] : 1, h = s[s.count - 2], w = s[s.count - 1]
        guard [1, 3, 4].contains(c) else {
            throw DataError(.badValue, file: "RasterImage.grid", expected: "1, 3 or 4 channels", found: "\(c) in shape \(s)")
        }
        guard range.upperBound > range.lowerBound, padding >= 0 else {
            throw DataError(.badValue, file: "RasterImage.grid", expected: "a value range with upper > lower and padding >= 0",
                            found: "range \(range), padding \(padding)")
        }
        let cols = Swift.max(1, Swift.min(columns ?? Int(Double(n).squareRoot().rounded(.up)), n))
        let rows = (n + cols - 1) / cols
        var out = RasterImage(width: cols * (w + padding) + padding, height: rows * (h + padding) + padding, channels: c,
                              fill: [UInt8](repeating: background, count: c))
        let v = images.toArray(Double.self), scale = 255 / (range.upperBound - range.lowerBound)
        for i in 0..<n {
            let x0 = padding + (i % cols) * (w + padding), y0 = padding + (i / cols) * (h + padding)
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c {
                        let q = ((v[((i * c + ch) * h + y) * w + x] - range.lowerBound) * scale).rounded()
                        out.pixels[((y0 + y) * out.width + x0 + x) * c + ch] = q.isNaN ? 0 : UInt8(Swift.min(Swift.max(q, 0), 255))
                    }
                }
            }
        }
        return out
    }
}
