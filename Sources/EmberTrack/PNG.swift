import CZlib
import Foundation

/// An 8-bit image in memory: `height` rows of `width` pixels, each `channels` bytes (1 gray, 3 RGB, 4 RGBA),
/// row-major with interleaved channels. What TensorBoard's image summaries and the PNG encoder take.
public struct RasterImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Bytes per pixel: 1 (gray), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// `height * width * channels` bytes, row-major, channels interleaved.
    public var pixels: [UInt8]

    /// An image over existing pixel bytes.
    /// - Throws: `TrackingError.invalidArgument` when the sizes do not match the byte count or `channels` is not 1, 3 or 4.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, [1, 3, 4].contains(channels) else {
            throw TrackingError.invalidArgument("RasterImage: need width, height > 0 and 1, 3 or 4 channels, got \(width)x\(height)x\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw TrackingError.invalidArgument("RasterImage: \(pixels.count) bytes do not fill \(width)x\(height)x\(channels)")
        }
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// A blank image filled with one color (`fill` has `channels` bytes; default black).
    public init(width: Int, height: Int, channels: Int, fill: [UInt8]? = nil) {
        precondition(width > 0 && height > 0 && [1, 3, 4].contains(channels), "RasterImage: bad size \(width)x\(height)x\(channels)")
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

    /// The image encoded as PNG (8-bit, no interlace, filter 0, zlib-compressed).
    public func pngData() throws -> [UInt8] { try PNG.encode(self) }
}

/// A small PNG encoder (gray, RGB, RGBA at 8 bits per channel), built on zlib's `compress2` and `crc32`.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` as a PNG file.
    /// - Throws: `TrackingError.invalidArgument` if zlib fails.
    public static func encode(_ image: RasterImage) throws -> [UInt8] {
        let colorType: UInt8 = image.channels == 1 ? 0 : image.channels == 3 ? 2 : 6
        var ihdr: [UInt8] = []
        append32(&ihdr, UInt32(image.width))
        append32(&ihdr, UInt32(image.height))
        ihdr += [8, colorType, 0, 0, 0]  // bit depth, color type, compression, filter, interlace
        // Scanlines, each prefixed by filter type 0 (None).
        let rowBytes = image.width * image.channels
        var raw = [UInt8](repeating: 0, count: image.height * (rowBytes + 1))
        image.pixels.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                for y in 0..<image.height {
                    let d = dst.baseAddress! + y * (rowBytes + 1) + 1
                    d.update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
        }
        var out = signature
        chunk(&out, "IHDR", ihdr)
        chunk(&out, "IDAT", try deflate(raw))
        chunk(&out, "IEND", [])
        return out
    }

    /// zlib-format (RFC 1950) compression of `data`.
    static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var destLen = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(destLen))
        let rc = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &destLen, src.baseAddress, uLong(data.count), 6)
            }
        }
        guard rc == Z_OK else { throw TrackingError.invalidArgument("PNG: zlib compress2 failed with code \(rc)") }
        out.removeSubrange(Int(destLen)...)
        return out
    }

    static func chunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        append32(&out, UInt32(data.count))
        let body = Array(type.utf8) + data
        out += body
        let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        append32(&out, UInt32(truncatingIfNeeded: crc))
    }

    static func append32(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
}
