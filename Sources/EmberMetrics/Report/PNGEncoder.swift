import CZlib
import EmberCore
import Foundation

/// A minimal PNG writer (8-bit grayscale or RGB, no interlacing) for embedding images in reports. The pixel rows are
/// deflated with zlib; chunk checksums use zlib's CRC-32.
public enum PNGEncoder {
    /// PNG bytes of a `width` x `height` image; `pixels` holds `channels` (1 = gray, 3 = RGB) bytes per pixel,
    /// row-major.
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNGEncoder: channels must be 1 or 3, got \(channels)")
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels,
                     "PNGEncoder: \(pixels.count) bytes do not fill \(width)x\(height)x\(channels)")
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, channels == 1 ? 0 : 2, 0, 0, 0]  // bit depth, colour type, compression, filter, interlace
        chunk("IHDR", header, into: &out)
        // Each row starts with filter type 0 (none).
        var raw: [UInt8] = []
        raw.reserveCapacity((width * channels + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(y * width * channels)..<((y + 1) * width * channels)]
        }
        chunk("IDAT", deflate(raw), into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    /// PNG bytes of an image tensor: [height, width], [1, height, width] or [3, height, width] (channels first,
    /// as Ember's image layers use), min-max scaled to 0...255.
    public static func encode(image: Tensor) -> [UInt8] {
        let t = withoutGrad { image.detached() }
        var shape = t.shape
        if shape.count == 2 { shape = [1] + shape }
        precondition(shape.count == 3 && (shape[0] == 1 || shape[0] == 3),
                     "PNGEncoder: expected an image [h, w], [1, h, w] or [3, h, w], got \(image.shape)")
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let v = t.toArray(Double.self)
        let lo = v.min() ?? 0, hi = v.max() ?? 1
        let scale = hi > lo ? 255 / (hi - lo) : 0
        var pixels = [UInt8](repeating: 0, count: h * w * c)
        for ch in 0..<c {
            for i in 0..<(h * w) {
                let x = (v[ch * h * w + i] - lo) * scale
                pixels[i * c + ch] = UInt8(Swift.max(0, Swift.min(255, x.rounded())))
            }
        }
        return encode(pixels: pixels, width: w, height: h, channels: c)
    }

    private static func bigEndian(_ x: UInt32) -> [UInt8] {
        [UInt8(x >> 24), UInt8((x >> 16) & 0xFF), UInt8((x >> 8) & 0xFF), UInt8(x & 0xFF)]
    }

    private static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        out += bigEndian(UInt32(data.count))
        let body = typeBytes + data
        out += body
        let crc = body.withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, uInt($0.count)) }
        out += bigEndian(UInt32(crc))
    }

    private static func deflate(_ data: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in compress2(dst.baseAddress, &size, src.baseAddress, uLong(data.count), 9) }
        }
        precondition(status == Z_OK, "PNGEncoder: zlib compress2 failed with status \(status)")
        return Array(out.prefix(Int(size)))
    }
}
