import EmberCore
import Foundation
import Testing
@testable import EmberData

/// The image module against Pillow (scripts/golden/make_image_golden.py writes the files and Pillow's results).
@Suite struct ImageGoldenTests {
    struct Decoded: Decodable { var file: String; var width: Int; var height: Int; var channels: Int; var pixels: String }
    struct ResizeCase: Decodable { var filter: String; var width: Int; var height: Int; var pixels: String }
    struct ResizeSource: Decodable {
        var source: String; var width: Int; var height: Int; var channels: Int; var pixels: String; var results: [ResizeCase]
    }
    struct Gray: Decodable { var width: Int; var height: Int; var pixels: String; var gray: String }
    struct Golden: Decodable {
        var pillow: String; var libjpeg_turbo: String
        var decode: [Decoded]; var resize: [ResizeSource]; var grayscale: [Gray]
    }

    static let golden: Golden = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixture("images/golden.json")))
        return try! JSONDecoder().decode(Golden.self, from: data)
    }()

    static func bytes(_ b64: String) -> [UInt8] { Array(Data(base64Encoded: b64)!) }

    /// The largest difference between Ember's JPEG decode (Debian's libjpeg-turbo 2.1.5) and Pillow's (its wheel's
    /// libjpeg-turbo 3.2.0), in grey levels. Both run the same islow IDCT and fancy upsampling, so the builds agree
    /// exactly on these files; 1 level allows a build whose SIMD upsampling rounds differently.
    static let jpegTolerance = 1

    @Test func pngDecodesEqualPillowByteForByte() throws {
        let cases = Self.golden.decode.filter { $0.file.hasSuffix(".png") }
        #expect(cases.count >= 14)
        for c in cases {
            let image = try RasterImage(contentsOf: fixture("images/" + c.file))
            #expect(image.width == c.width && image.height == c.height && image.channels == c.channels, "\(c.file)")
            #expect(image.pixels == Self.bytes(c.pixels), "\(c.file): pixels differ from Pillow's")
        }
    }

    @Test func jpegDecodesWithinTheLibjpegBuildDifference() throws {
        let cases = Self.golden.decode.filter { $0.file.hasSuffix(".jpg") }
        #expect(cases.count == 5)
        var worst = 0
        for c in cases {
            let image = try RasterImage(contentsOf: fixture("images/" + c.file))
            #expect(image.width == c.width && image.height == c.height && image.channels == c.channels, "\(c.file)")
            let want = Self.bytes(c.pixels)
            guard image.pixels.count == want.count else { Issue.record("\(c.file): size"); continue }
            let diff = zip(image.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
            worst = max(worst, diff)
            #expect(diff <= Self.jpegTolerance, "\(c.file): differs from Pillow (libjpeg-turbo \(Self.golden.libjpeg_turbo)) by \(diff) levels")
        }
        print("JPEG decode: largest difference from Pillow \(Self.golden.pillow) = \(worst) grey levels")
    }

    @Test func resizeWithinOneGreyLevelOfPillow() {
        var worst = 0, exact = 0, total = 0
        for s in Self.golden.resize {
            let src = try! RasterImage(width: s.width, height: s.height, channels: s.channels, pixels: Self.bytes(s.pixels))
            for r in s.results {
                let out = src.resized(width: r.width, height: r.height, filter: ResizeFilter(rawValue: r.filter)!)
                let want = Self.bytes(r.pixels)
                #expect(out.width == r.width && out.height == r.height && out.pixels.count == want.count)
                guard out.pixels.count == want.count else { continue }
                let diff = zip(out.pixels, want).map { abs(Int($0) - Int($1)) }.max() ?? 0
                worst = max(worst, diff)
                total += 1
                if diff == 0 { exact += 1 } else { print("resize \(s.source) -> \(r.width)x\(r.height) \(r.filter): \(diff)") }
                #expect(diff <= 1, "\(s.source) -> \(r.width)x\(r.height) \(r.filter): \(diff) levels from Pillow")
            }
        }
        print("resize: \(exact) of \(total) cases equal Pillow's bytes, largest difference \(worst)")
    }

    @Test func grayscaleEqualsPillowsConvertL() throws {
        for g in Self.golden.grayscale {
            let src = try RasterImage(width: g.width, height: g.height, channels: 3, pixels: Self.bytes(g.pixels))
            #expect(src.grayscale().pixels == Self.bytes(g.gray))
        }
    }
}

/// Encoding, geometry, tensors and damaged files.
@Suite struct ImageTests {
    func sample(_ w: Int, _ h: Int, _ c: Int) -> RasterImage {
        try! RasterImage(width: w, height: h, channels: c, pixels: (0..<(w * h * c)).map { UInt8(($0 * 37 + $0 / 7) % 256) })
    }

    @Test func pngRoundTripsEveryChannelCount() throws {
        for c in 1...4 {
            let image = sample(7, 5, c)
            let png = try image.pngData()
            #expect(ImageFormat(signature: png) == .png)
            let back = try RasterImage(decoding: png)
            #expect(back == image)
        }
    }

    @Test func headerWithoutDecoding() throws {
        let h = try RasterImage.header(contentsOf: fixture("images/rgb16.png"))
        #expect(h == ImageHeader(format: .png, width: 13, height: 11, channels: 3, bitDepth: 16))
        let j = try RasterImage.header(contentsOf: fixture("images/progressive.jpg"))
        #expect(j.format == .jpeg && j.width == 32 && j.height == 24 && j.channels == 3)
    }

    @Test func cropPadAndTensor() throws {
        let image = sample(5, 4, 3)
        let crop = image.centerCropped(width: 3, height: 2)
        // torchvision: top = round((4 - 2) / 2) = 1, left = round((5 - 3) / 2) = 1
        #expect(crop[0, 0] == image[1, 1] && crop[2, 1] == image[3, 2])
        let padded = image.padded(2, fill: 9)
        #expect(padded.width == 9 && padded.height == 8 && padded[0, 0] == [9, 9, 9] && padded[2, 2] == image[0, 0])
        // A crop larger than the image pads around it.
        let big = image.centerCropped(width: 7, height: 6)
        #expect(big.width == 7 && big.height == 6 && big[1, 1] == image[0, 0] && big[0, 0] == [0, 0, 0])
        let t = image.tensor()
        #expect(t.shape == [3, 4, 5] && t.dtype == .float32)
        let scaled: Float = Float(image[3, 2][1]) * (1.0 / 255)
        #expect(t.toArray(Float.self)[1 * 20 + 2 * 5 + 3] == scaled)
        let u = image.tensor(.uint8)
        #expect(u.dtype == .uint8 && u.toArray(UInt8.self)[2 * 20 + 7] == image[2, 1][2])
        #expect(u.cast(.float32).toArray(Float.self).map { $0 * (1.0 / 255) } == t.toArray(Float.self))
    }

    @Test func damagedFilesNameThePath() throws {
        let dir = TempDir()
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("images/rgb8.png"))))
        let cut = dir.write("cut.png", Array(good.prefix(good.count - 30)))
        let e = expectDataError(.corrupt) { _ = try RasterImage(contentsOf: cut) }
        #expect(e?.file == cut)
        var flipped = good
        flipped[good.count / 2] ^= 0xFF   // inside IDAT: the CRC no longer matches
        let crc = dir.write("crc.png", flipped)
        expectDataError(.corrupt) { _ = try RasterImage(contentsOf: crc) }
        let jpeg = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("images/baseline444.jpg"))))
        let short = dir.write("short.jpg", Array(jpeg.prefix(jpeg.count / 2)))
        let j = expectDataError(.corrupt) { _ = try RasterImage(contentsOf: short) }
        #expect(j?.file == short && j?.description.contains("Premature end") == true)
        let junk = dir.write("notes.png", Array("hello, not an image".utf8))
        let b = expectDataError(.badMagic) { _ = try RasterImage(contentsOf: junk) }
        #expect(b?.description.contains("68 65 6c 6c") == true)
        expectDataError(.truncated) { _ = try RasterImage(contentsOf: dir.write("empty.jpg", [])) }
        expectDataError(.fileNotFound) { _ = try RasterImage(contentsOf: dir.path + "/missing.png") }
        expectDataError(.corrupt) { _ = try RasterImage(decoding: Array(jpeg.prefix(40))) }
        // A header promising more pixels than the limit is refused before anything is allocated.
        let limit = expectDataError(.unsupported) { _ = try RasterImage(contentsOf: fixture("images/rgb8.png"), pixelLimit: 100) }
        #expect(limit?.description.contains("13x11") == true)
    }
}

/// Sample grids: where each tile lands and how values map to grey levels.
@Suite struct ImageGridTests {
    @Test func tilesLandRowByRowWithPadding() throws {
        // 5 gray 2x3 images whose pixels encode their index: value (i + 1) / 10 everywhere.
        let n = 5, h = 2, w = 3
        let v = (0..<n).flatMap { i in [Float](repeating: Float(i + 1) / 10, count: h * w) }
        let g = try RasterImage.grid(Tensor(v, shape: [n, 1, h, w]), columns: 3, padding: 1, background: 7)
        #expect(g.width == 3 * (w + 1) + 1 && g.height == 2 * (h + 1) + 1 && g.channels == 1)
        for i in 0..<n {
            let x0 = 1 + (i % 3) * (w + 1), y0 = 1 + (i / 3) * (h + 1)
            #expect(g[x0, y0] == [UInt8((Double(i + 1) / 10 * 255).rounded())], "tile \(i)")
            #expect(g[x0 + w - 1, y0 + h - 1] == g[x0, y0])
            #expect(g[x0 - 1, y0] == [7], "padding left of tile \(i)")
        }
        #expect(g[1 + 2 * (w + 1), 1 + (h + 1)] == [7], "the sixth cell stays background")
    }

    @Test func tanhRangeAndClamping() throws {
        let t = Tensor([-1, 0, 1, 3, -2, .nan] as [Float], shape: [1, 1, 2, 3])
        let g = try RasterImage.grid(t, padding: 0, range: -1...1)
        #expect(g.pixels == [0, 128, 255, 255, 0, 0])
        #expect(throws: DataError.self) { try RasterImage.grid(Tensor([1, 2] as [Float], shape: [2])) }
        #expect(throws: DataError.self) { try RasterImage.grid(Tensor.zeros([1, 2, 4, 4])) }
    }
}
