import EmberCore

/// An 8-bit image in memory: `height` rows of `width` pixels, each `channels` bytes (1 gray, 2 gray + alpha, 3 RGB,
/// 4 RGBA), row-major with interleaved channels — the layout PNG and JPEG files hold and Pillow's `np.asarray(img)`
/// gives.
///
/// Ember's one image type: files are read with `RasterImage(contentsOf:)` (PNG and JPEG), written with `pngData()`,
/// resized, cropped, padded and converted here (`Images/ImageOps.swift`), and turned into tensors with
/// `tensor(_:)`. TensorBoard images, report thumbnails and sample grids are built on it.
///
/// ```swift
/// let photo = try RasterImage(contentsOf: "cat.jpg")                  // 3 channels
/// let x = photo.resized(width: 64, height: 64).tensor()              // float32 [3, 64, 64] in [0, 1]
/// ```
public struct RasterImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Bytes per pixel: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// `height * width * channels` bytes, row-major, channels interleaved.
    public var pixels: [UInt8]

    /// An image over existing pixel bytes.
    /// - Throws: `DataError` (`.sizeMismatch`) when the sizes do not match the byte count or `channels` is not 1...4.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, (1...4).contains(channels) else {
            throw DataError(.badValue, file: "RasterImage", expected: "width, height > 0 and 1...4 channels",
                            found: "\(width)x\(height)x\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw DataError(.sizeMismatch, file: "RasterImage", expected: "\(width * height * channels) bytes for \(width)x\(height)x\(channels)",
                            found: "\(pixels.count)")
        }
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// An image whose sizes the caller has already checked.
    init(unchecked width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// A blank image filled with one color (`fill` has `channels` bytes; default black).
    public init(width: Int, height: Int, channels: Int, fill: [UInt8]? = nil) {
        precondition(width > 0 && height > 0 && (1...4).contains(channels), "RasterImage: bad size \(width)x\(height)x\(channels)")
        let color = fill ?? [UInt8](repeating: 0, count: channels)
        precondition(color.count == channels, "RasterImage: fill color needs \(channels) bytes")
        self.width = width; self.height = height; self.channels = channels
        pixels = [UInt8](unsafeUninitializedCapacity: width * height * channels) { buf, n in
            for i in 0..<(width * height) { for c in 0..<channels { buf[i * channels + c] = color[c] } }
            n = width * height * channels
        }
    }

    /// The pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> [UInt8] {
        get { let o = (y * width + x) * channels; return Array(pixels[o..<o + channels]) }
        set {
            precondition(newValue.count == channels, "RasterImage: pixel needs \(channels) bytes")
            let o = (y * width + x) * channels
            for c in 0..<channels { pixels[o + c] = newValue[c] }
        }
    }

    /// Fills the rectangle `[x, x+w) x [y, y+h)`, clipped to the image.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: [UInt8]) {
        precondition(color.count == channels, "RasterImage: fill color needs \(channels) bytes")
        let x0 = Swift.max(0, x), x1 = Swift.min(width, x + w), y0 = Swift.max(0, y), y1 = Swift.min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 {
                let o = (yy * width + xx) * channels
                for c in 0..<channels { pixels[o + c] = color[c] }
            }
        }
    }

    /// Whether the last channel is alpha (2 or 4 channels).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }
}
