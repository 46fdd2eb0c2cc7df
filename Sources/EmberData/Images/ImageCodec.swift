import CEmberImage
// The C bridge calls libpng and libjpeg; importing their modules here links them (as CBLAS and CEmberZlib are linked).
internal import CJPEG
internal import CPNG
import Foundation

/// The image file formats Ember reads.
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    /// PNG: 1-16 bits per sample, gray, gray + alpha, RGB, RGBA or palette, interlaced or not.
    case png
    /// JPEG (JFIF/Exif): baseline or progressive, gray or colour (YCbCr/RGB).
    case jpeg

    /// The format whose signature `bytes` starts with, if any.
    public init?(signature bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(8))
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { self = .png; return }
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { self = .jpeg; return }
        return nil
    }

    /// The file name extensions Ember takes as images (lowercase, no dot).
    public static let fileExtensions: Set<String> = ["png", "jpg", "jpeg", "jpe", "jfif"]
}

/// What a file's header says about the image it holds, read without decoding the pixels.
public struct ImageHeader: Sendable, Equatable {
    /// The file's format.
    public var format: ImageFormat
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Channels of the decoded image (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
    public var channels: Int
    /// Bits per sample in the file (PNG 1...16; JPEG 8). Decoded images always have 8.
    public var bitDepth: Int
}

extension RasterImage {
    /// The most pixels a file may decode to unless the caller says otherwise: Pillow's limit for a decompression
    /// bomb (twice its warning threshold of 89,478,485), about 13,000 x 13,000.
    public static let defaultPixelLimit = 178_956_970

    /// Reads and decodes a PNG or JPEG file (told apart by their signatures, not by the name).
    ///
    /// PNG: palette images become RGB (RGBA when they carry transparency), gray below 8 bits is scaled to 0...255,
    /// 16-bit samples keep their high byte (as Pillow reads 16-bit RGB), and no gamma or colour-profile correction is
    /// applied — the bytes equal Pillow's. JPEG: gray or RGB through libjpeg-turbo with its default (islow) IDCT and
    /// fancy upsampling, as Pillow decodes; Exif orientation is not applied (nor is it by Pillow's `open`).
    /// - Throws: `DataError` naming `path`: `.fileNotFound`/`.io` when it cannot be read, `.badMagic` when it is
    ///   neither PNG nor JPEG, `.corrupt` (with the library's message) for damaged or truncated data, `.unsupported`
    ///   for CMYK JPEGs and images over `pixelLimit` pixels.
    public init(contentsOf path: String, pixelLimit: Int = RasterImage.defaultPixelLimit) throws {
        self = try RasterImage(decoding: try readImageFile(path), name: path, pixelLimit: pixelLimit)
    }

    /// Decodes PNG or JPEG bytes held in memory; `name` is what errors call them (a path, a request field).
    /// - Throws: `DataError` as `init(contentsOf:)` does.
    public init(decoding data: [UInt8], name: String = "<image>", pixelLimit: Int = RasterImage.defaultPixelLimit) throws {
        let (format, d) = try decodeImage(data, name: name, pixelLimit: pixelLimit, headerOnly: false)
        _ = format
        let count = Int(d.width) * Int(d.height) * Int(d.channels)
        let px = [UInt8](UnsafeBufferPointer(start: d.pixels, count: count))
        ember_image_free(d.pixels)
        self.init(unchecked: Int(d.width), height: Int(d.height), channels: Int(d.channels), pixels: px)
    }

    /// The header of a PNG or JPEG file: format, size and channels, without decoding the pixels.
    /// - Throws: `DataError` naming `path`, as `init(contentsOf:)` does for problems found in the header.
    public static func header(contentsOf path: String, pixelLimit: Int = RasterImage.defaultPixelLimit) throws -> ImageHeader {
        let (format, d) = try decodeImage(try readImageFile(path), name: path, pixelLimit: pixelLimit, headerOnly: true)
        return ImageHeader(format: format, width: Int(d.width), height: Int(d.height), channels: Int(d.channels),
                           bitDepth: Int(d.source_bit_depth))
    }

    /// The image encoded as PNG: 8 bits per sample, the colour type of `channels` (gray, gray + alpha, RGB, RGBA),
    /// not interlaced, deflated by libpng at zlib `level` 0...9 (default 6).
    /// - Throws: `DataError` (`.io`) only when libpng fails (out of memory).
    public func pngData(level: Int = 6) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 200)
        let rc = pixels.withUnsafeBufferPointer { p in
            ember_png_encode(p.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(level), &out, &size, &message,
                             message.count)
        }
        guard rc == Int32(EMBER_IMAGE_OK), let out else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw DataError(.io, file: "PNG encoder", expected: "a \(width)x\(height)x\(channels) image encoded", found: text)
        }
        defer { ember_image_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// The bytes of `path`, with file errors as `DataError`.
func readImageFile(_ path: String) throws -> [UInt8] {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw DataError(.fileNotFound, file: path, expected: "an image file")
    }
    guard !isDir.boolValue, let data = FileManager.default.contents(atPath: path) else {
        throw DataError(.io, file: path, expected: "a readable image file", found: isDir.boolValue ? "a directory" : "a read error")
    }
    return [UInt8](data)
}

private func decodeImage(_ data: [UInt8], name: String, pixelLimit: Int, headerOnly: Bool) throws -> (ImageFormat, ember_decoded_image) {
    guard let format = ImageFormat(signature: data) else {
        if data.isEmpty { throw DataError(.truncated, file: name, expected: "a PNG or JPEG image", found: "an empty file") }
        throw DataError(.badMagic, file: name, expected: "a PNG or JPEG image (by its signature)",
                        found: "bytes " + data.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " "))
    }
    var d = ember_decoded_image()
    let rc = data.withUnsafeBufferPointer { p in
        format == .png ? ember_png_decode(p.baseAddress, p.count, Int64(pixelLimit), headerOnly ? 1 : 0, &d)
                       : ember_jpeg_decode(p.baseAddress, p.count, Int64(pixelLimit), headerOnly ? 1 : 0, &d)
    }
    let message = withUnsafeBytes(of: d.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    let what = format == .png ? "a PNG image" : "a JPEG image"
    switch Int(rc) {
    case Int(EMBER_IMAGE_OK): return (format, d)
    case Int(EMBER_IMAGE_UNSUPPORTED):
        throw DataError(.unsupported, file: name, expected: what + " Ember decodes", found: message)
    case Int(EMBER_IMAGE_TOO_LARGE):
        throw DataError(.unsupported, file: name, expected: "at most \(pixelLimit) pixels", found: message)
    case Int(EMBER_IMAGE_NO_MEMORY):
        throw DataError(.io, file: name, expected: "memory to decode " + what, found: "out of memory")
    default:
        throw DataError(.corrupt, file: name, expected: "an undamaged " + what.dropFirst(2), found: message)
    }
}
