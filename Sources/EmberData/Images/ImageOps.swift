import EmberCore
import Foundation

/// How `RasterImage.resized` computes a pixel from the ones it covers.
public enum ResizeFilter: String, Sendable, Equatable, CaseIterable, Codable {
    /// A triangle (tent) filter, widened by the scale when shrinking: Pillow's `BILINEAR`, which torchvision's
    /// `Resize` uses on PIL images.
    case bilinear
    /// The average of the source area each output pixel covers, partly covered pixels weighted by their share:
    /// Pillow's `BOX`.
    case area
    /// The source pixel under the output pixel's centre: Pillow's `NEAREST`.
    case nearest
}

extension RasterImage {
    /// This image resized to `width` x `height`, computed as Pillow 13's `Image.resize` computes it: separable
    /// passes (horizontal, then vertical) with the filter widened by the scale factor when shrinking, weights
    /// normalised per output pixel, 22-bit fixed-point accumulation and rounding to bytes after each pass.
    ///
    /// Alpha is resized like any channel (Pillow premultiplies RGBA by alpha first, so semi-transparent edges can
    /// differ from Pillow's).
    public func resized(width newWidth: Int, height newHeight: Int, filter: ResizeFilter = .bilinear) -> RasterImage {
        precondition(newWidth > 0 && newHeight > 0, "RasterImage.resized: size must be positive, got \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self }
        if filter == .nearest { return nearest(newWidth, newHeight) }
        let vert = ResampleCoefficients(inSize: height, outSize: newHeight, filter: filter)
        let horiz = ResampleCoefficients(inSize: width, outSize: newWidth, filter: filter)
        var image = self
        if newWidth != width {
            // Only the rows the vertical pass reads (Pillow's ybox).
            let first = vert.bounds[0], last = vert.bounds[2 * (newHeight - 1)] + vert.bounds[2 * (newHeight - 1) + 1]
            image = image.resampleHorizontal(horiz, firstRow: first, rows: last - first)
            var shifted = vert
            for i in 0..<newHeight { shifted.bounds[2 * i] -= first }
            return newHeight != height ? image.resampleVertical(shifted) : image
        }
        return image.resampleVertical(vert)
    }

    /// This image resized so that its shorter side is `size` pixels, keeping the aspect ratio (torchvision's
    /// `Resize(size)` with one number: the longer side is `Int(size * long / short)`).
    public func resized(shorterSide size: Int, filter: ResizeFilter = .bilinear) -> RasterImage {
        precondition(size > 0, "RasterImage.resized(shorterSide:): size must be positive, got \(size)")
        if width <= height {
            return resized(width: size, height: Swift.max(1, Int(Double(size) * Double(height) / Double(width))), filter: filter)
        }
        return resized(width: Swift.max(1, Int(Double(size) * Double(width) / Double(height))), height: size, filter: filter)
    }

    /// The central `width` x `height` part, as torchvision's `CenterCrop` takes it (top-left at
    /// `round((H - h) / 2), round((W - w) / 2)`); a crop larger than the image pads with `fill` first.
    public func centerCropped(width w: Int, height h: Int, fill: UInt8 = 0) -> RasterImage {
        precondition(w > 0 && h > 0, "RasterImage.centerCropped: size must be positive, got \(w)x\(h)")
        var image = self
        if w > width || h > height {
            let padW = Swift.max(0, w - width), padH = Swift.max(0, h - height)
            image = padded(left: padW / 2, top: padH / 2, right: (padW + 1) / 2, bottom: (padH + 1) / 2, fill: fill)
        }
        let top = Int((Double(image.height - h) / 2).rounded()), left = Int((Double(image.width - w) / 2).rounded())
        return image.cropped(x: left, y: top, width: w, height: h)
    }

    /// The `width` x `height` rectangle whose top-left corner is (`x`, `y`); it must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RasterImage {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height,
                     "RasterImage.cropped: \(w)x\(h) at (\(x), \(y)) does not fit in \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let row = w * channels
        for yy in 0..<h {
            let s = ((y + yy) * width + x) * channels
            out.replaceSubrange((yy * row)..<((yy + 1) * row), with: pixels[s..<(s + row)])
        }
        return RasterImage(unchecked: w, height: h, channels: channels, pixels: out)
    }

    /// This image with borders of `fill` added (every channel takes the value `fill`).
    public func padded(left: Int, top: Int, right: Int, bottom: Int, fill: UInt8 = 0) -> RasterImage {
        precondition(left >= 0 && top >= 0 && right >= 0 && bottom >= 0, "RasterImage.padded: padding must be non-negative")
        let w = width + left + right, h = height + top + bottom
        var out = [UInt8](repeating: fill, count: w * h * channels)
        let row = width * channels
        for y in 0..<height {
            let d = ((y + top) * w + left) * channels
            out.replaceSubrange(d..<(d + row), with: pixels[(y * row)..<((y + 1) * row)])
        }
        return RasterImage(unchecked: w, height: h, channels: channels, pixels: out)
    }

    /// This image with `padding` pixels of `fill` on every side.
    public func padded(_ padding: Int, fill: UInt8 = 0) -> RasterImage {
        padded(left: padding, top: padding, right: padding, bottom: padding, fill: fill)
    }

    /// One gray channel, as Pillow's `convert("L")` computes it: `(19595 R + 38470 G + 7471 B + 32768) >> 16`
    /// (ITU-R 601-2 luma in 16-bit fixed point); alpha is dropped, gray stays as it is.
    public func grayscale() -> RasterImage {
        switch channels {
        case 1: return self
        case 2: return RasterImage(unchecked: width, height: height, channels: 1, pixels: stride(from: 0, to: pixels.count, by: 2).map { pixels[$0] })
        default:
            let c = channels
            let out = [UInt8](unsafeUninitializedCapacity: width * height) { buf, n in
                pixels.withUnsafeBufferPointer { p in
                    for i in 0..<(width * height) {
                        let r = UInt32(p[i * c]), g = UInt32(p[i * c + 1]), b = UInt32(p[i * c + 2])
                        buf[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
                    }
                }
                n = width * height
            }
            return RasterImage(unchecked: width, height: height, channels: 1, pixels: out)
        }
    }

    /// Three channels: gray is repeated, alpha dropped (Pillow's `convert("RGB")` for L, LA and RGBA).
    public func rgb() -> RasterImage {
        if channels == 3 { return self }
        let c = channels
        let out = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buf, n in
            for i in 0..<(width * height) {
                for ch in 0..<3 { buf[i * 3 + ch] = c <= 2 ? pixels[i * c] : pixels[i * c + ch] }
            }
            n = width * height * 3
        }
        return RasterImage(unchecked: width, height: height, channels: 3, pixels: out)
    }

    /// This image with `count` channels: 1 through `grayscale()`, 3 through `rgb()`; 2 and 4 add an opaque alpha
    /// (or keep the image's own).
    public func converted(channels count: Int) -> RasterImage {
        precondition((1...4).contains(count), "RasterImage.converted: channels must be 1...4, got \(count)")
        if count == channels { return self }
        switch count {
        case 1: return grayscale()
        case 3: return rgb()
        default:
            let base = count == 2 ? grayscale() : rgb(), bc = base.channels
            var out = [UInt8](repeating: 255, count: width * height * count)
            for i in 0..<(width * height) {
                for ch in 0..<bc { out[i * count + ch] = base.pixels[i * bc + ch] }
                if hasAlpha { out[i * count + count - 1] = pixels[i * channels + channels - 1] }
            }
            return RasterImage(unchecked: width, height: height, channels: count, pixels: out)
        }
    }

    /// The image as a `[channels, height, width]` tensor (torchvision's `ToTensor` layout): float32 bytes times
    /// `scale` (default 1/255, so values lie in [0, 1]), or with `.uint8` the bytes themselves.
    public func tensor(_ format: ImageDataset.PixelFormat = .float32, scale: Float = 1.0 / 255) -> Tensor {
        let n = width * height, c = channels
        if format == .uint8 {
            var out = [UInt8](repeating: 0, count: n * c)
            for i in 0..<n { for ch in 0..<c { out[ch * n + i] = pixels[i * c + ch] } }
            return Tensor(out, shape: [c, height, width])
        }
        var out = [Float](repeating: 0, count: n * c)
        for i in 0..<n { for ch in 0..<c { out[ch * n + i] = Float(pixels[i * c + ch]) * scale } }
        return Tensor(out, shape: [c, height, width])
    }

    /// The bytes channel-major (`[C, H, W]` order), as `ImageDataset` stores images.
    public var planarPixels: [UInt8] {
        let n = width * height, c = channels
        var out = [UInt8](repeating: 0, count: n * c)
        for i in 0..<n { for ch in 0..<c { out[ch * n + i] = pixels[i * c + ch] } }
        return out
    }

    // MARK: resampling

    private func nearest(_ w: Int, _ h: Int) -> RasterImage {
        // Pillow's affine nearest: source = floor((i + 0.5) * in / out).
        let xs = (0..<w).map { Swift.min(width - 1, Int((Double($0) + 0.5) * Double(width) / Double(w))) }
        var out = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h {
            let sy = Swift.min(height - 1, Int((Double(y) + 0.5) * Double(height) / Double(h)))
            for x in 0..<w {
                for ch in 0..<channels { out[(y * w + x) * channels + ch] = pixels[(sy * width + xs[x]) * channels + ch] }
            }
        }
        return RasterImage(unchecked: w, height: h, channels: channels, pixels: out)
    }

    private func resampleHorizontal(_ k: ResampleCoefficients, firstRow: Int, rows: Int) -> RasterImage {
        let w = k.outSize, c = channels
        var out = [UInt8](repeating: 0, count: w * rows * c)
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                for y in 0..<rows {
                    let srcRow = (y + firstRow) * width * c
                    for x in 0..<w {
                        let xmin = k.bounds[2 * x], xmax = k.bounds[2 * x + 1], base = x * k.size
                        for ch in 0..<c {
                            var ss = 1 << (ResampleCoefficients.precisionBits - 1)
                            for i in 0..<xmax { ss += Int(p[srcRow + (xmin + i) * c + ch]) * k.weights[base + i] }
                            o[(y * w + x) * c + ch] = ResampleCoefficients.clip8(ss)
                        }
                    }
                }
            }
        }
        return RasterImage(unchecked: w, height: rows, channels: c, pixels: out)
    }

    private func resampleVertical(_ k: ResampleCoefficients) -> RasterImage {
        let h = k.outSize, c = channels, row = width * c
        var out = [UInt8](repeating: 0, count: h * row)
        out.withUnsafeMutableBufferPointer { o in
            pixels.withUnsafeBufferPointer { p in
                for y in 0..<h {
                    let ymin = k.bounds[2 * y], ymax = k.bounds[2 * y + 1], base = y * k.size
                    for j in 0..<row {
                        var ss = 1 << (ResampleCoefficients.precisionBits - 1)
                        for i in 0..<ymax { ss += Int(p[(ymin + i) * row + j]) * k.weights[base + i] }
                        o[y * row + j] = ResampleCoefficients.clip8(ss)
                    }
                }
            }
        }
        return RasterImage(unchecked: width, height: h, channels: c, pixels: out)
    }
}

/// Per-output-pixel source ranges and fixed-point weights along one axis (Pillow's `precompute_coeffs` and
/// `normalize_coeffs_8bpc`, written from the algorithm's description).
struct ResampleCoefficients {
    static let precisionBits = 32 - 8 - 2

    let outSize: Int
    /// Weights per output pixel (`size` slots each).
    let size: Int
    /// `[first source index, count]` per output pixel.
    var bounds: [Int]
    var weights: [Int]

    init(inSize: Int, outSize: Int, filter: ResizeFilter) {
        let support0 = filter == .area ? 0.5 : 1.0
        let scale = Double(inSize) / Double(outSize)
        let filterScale = Swift.max(scale, 1)
        let support = support0 * filterScale
        size = Int(support.rounded(.up)) * 2 + 1
        self.outSize = outSize
        bounds = [Int](repeating: 0, count: 2 * outSize)
        weights = [Int](repeating: 0, count: outSize * size)
        var pre = [Double](repeating: 0, count: size)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1 / filterScale
            let xmin = Swift.max(0, Int(center - support + 0.5))
            let xmax = Swift.min(inSize, Int(center + support + 0.5)) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = Self.filter(filter, (Double(x + xmin) - center + 0.5) * ss)
                pre[x] = w
                total += w
            }
            for x in 0..<size {
                let v = x < xmax ? (total != 0 ? pre[x] / total : pre[x]) : 0
                let f = v * Double(1 << Self.precisionBits)
                weights[xx * size + x] = Int(v < 0 ? f - 0.5 : f + 0.5)
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = xmax
        }
    }

    static func filter(_ f: ResizeFilter, _ x: Double) -> Double {
        if f == .area { return x > -0.5 && x <= 0.5 ? 1 : 0 }
        let a = Swift.abs(x)
        return a < 1 ? 1 - a : 0
    }

    @inline(__always) static func clip8(_ v: Int) -> UInt8 {
        let s = v >> precisionBits
        return s <= 0 ? 0 : s >= 255 ? 255 : UInt8(s)
    }
}
