import CEmberZlib
import EmberCore
import EmberData
import Foundation
import Testing
import EmberTestSupport
@testable import EmberTrack

func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = [], i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

/// Encodings checked byte for byte against ../shared/interop/tb_test.py, whose output TensorBoard reads.
@Suite struct WireFormatTests {
    @Test func crc32cAndMasking() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum(Array("abc".utf8)) == 0x364B_3FB7)
        #expect(CRC32C.masked(CRC32C.checksum(Array("abc".utf8))) == 0x21F1_576E)
    }

    @Test func varints() {
        var w = ProtoWriter()
        w.rawVarint(300)
        #expect(w.bytes == [0xAC, 0x02])
        var n = ProtoWriter()
        n.varint(2, -1)
        #expect(n.bytes == [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    @Test func recordFramingMatchesGolden() {
        let framed = TFRecord.frame(Array("hello".utf8))
        #expect(framed == hex("0500000000000000eab2043e68656c6c6fbb1f1c19"))
        #expect(TFRecord.unframe(framed + TFRecord.frame([1, 2, 3])) == [Array("hello".utf8), [1, 2, 3]])
        var bad = framed
        bad[14] ^= 1
        #expect(TFRecord.unframe(bad) == nil)
        #expect(TFRecord.unframe(Array(framed.dropLast())) == nil)
    }

    @Test func summaryValuesMatchGolden() {
        #expect(TensorBoardWriter.scalarValue("loss", 0.5, style: .simpleValue).bytes == hex("0a046c6f7373150000003f"))
        #expect(TensorBoardWriter.scalarValue("acc", 0.75, style: .tensor).bytes
            == hex("0a036163634a0d0a090a077363616c6172732001420a080112002a040000403f"))
        let xs = [0.1, 0.2, 0.5, 0.9, -0.3]
        let h = SummaryHistogram(min: -0.3, max: 0.9, count: 5, sum: xs.reduce(0, +), sumSquares: xs.reduce(0) { $0 + $1 * $1 },
                                 bucketLimits: [-0.5, 0, 0.5, 1],
                                 bucketCounts: [0, 1, 3, 1])
        #expect(TensorBoardWriter.histogramValue("w", h).bytes == hex(
            "0a01772a7109333333333333d3bf11cdccccccccccec3f19000000000000144021676666666666f63f29343333333333f33f3220000000000000e0bf0000000000000000000000000000e03f000000000000f03f3a200000000000000000000000000000f03f0000000000000840000000000000f03f"))
    }

    @Test func histogramBuckets() {
        let h = SummaryHistogram([0.1, 0.2, 0.5, 0.9, -0.3, .nan, .infinity], bins: 4)
        #expect(h.count == 5 && h.min == -0.3 && h.max == 0.9)
        #expect(h.bucketCounts == [1, 2, 1, 1])
        #expect(h.bucketLimits.count == 4 && h.bucketLimits.last == 0.9)
        #expect(abs(h.sum - 1.4) < 1e-12 && abs(h.sumSquares - 1.2) < 1e-12)
        // Edges are right-closed: 1 lies on the first limit and belongs to bucket 0.
        let e = SummaryHistogram([0, 1, 2, 3, 4], bins: 4)
        #expect(e.bucketLimits == [1, 2, 3, 4] && e.bucketCounts == [2, 1, 1, 1])
        let same = SummaryHistogram([2, 2, 2], bins: 10)
        #expect(same.bucketLimits == [2] && same.bucketCounts == [3])
        #expect(SummaryHistogram([.nan], bins: 3).count == 0)
    }

    @Test func pngStructureAndPixels() throws {
        let img = try RasterImage(width: 2, height: 2, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
        let png = try img.pngData()
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // Walk the chunks: check each CRC and collect IDAT.
        var i = 8, types: [String] = [], idat: [UInt8] = [], ihdr: [UInt8] = []
        while i < png.count {
            let len = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            let body = Array(png[(i + 4)..<(i + 8 + len)])
            let crc = UInt32(png[i + 8 + len]) << 24 | UInt32(png[i + 9 + len]) << 16 | UInt32(png[i + 10 + len]) << 8 | UInt32(png[i + 11 + len])
            #expect(UInt32(body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }) == crc)
            let type = String(decoding: body.prefix(4), as: UTF8.self)
            types.append(type)
            if type == "IDAT" { idat += body.dropFirst(4) }
            if type == "IHDR" { ihdr = Array(body.dropFirst(4)) }
            i += 12 + len
        }
        #expect(types == ["IHDR", "IDAT", "IEND"])
        #expect(ihdr == [0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0])
        var raw = [UInt8](repeating: 0, count: 64)
        var rawLen = uLongf(raw.count)
        let rc = raw.withUnsafeMutableBufferPointer { d in idat.withUnsafeBufferPointer { uncompress(d.baseAddress, &rawLen, $0.baseAddress, uLong($0.count)) } }
        #expect(rc == Z_OK)
        // libpng picks a filter per row; undo it as the PNG specification defines (independent of libpng's reader).
        #expect(unfilter(Array(raw.prefix(Int(rawLen))), rowBytes: 6, bytesPerPixel: 3) == img.pixels)
    }

    /// Rows of a non-interlaced 8-bit PNG after inflation, each `filter byte + rowBytes`, unfiltered (PNG 1.2, 6.3).
    func unfilter(_ data: [UInt8], rowBytes: Int, bytesPerPixel bpp: Int) -> [UInt8] {
        var out: [UInt8] = []
        var prev = [UInt8](repeating: 0, count: rowBytes)
        for r in 0..<(data.count / (rowBytes + 1)) {
            let f = data[r * (rowBytes + 1)]
            var row = Array(data[(r * (rowBytes + 1) + 1)...].prefix(rowBytes))
            for i in 0..<rowBytes {
                let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(prev[i]), c = i >= bpp ? Int(prev[i - bpp]) : 0
                let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                let predictor: Int
                switch f {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                default: predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                }
                row[i] = UInt8((Int(row[i]) + predictor) & 0xFF)
            }
            out += row
            prev = row
        }
        return out
    }

    @Test func imagesFromTensors() throws {
        let chw = Tensor([Float](arrayLiteral: 0, 1, 0.5, 0, 0, 0, 1, 1, 1, 0, 0, 0), shape: [3, 2, 2])
        let a = try RasterImage(tensor: chw, layout: .chw)
        #expect(a.width == 2 && a.height == 2 && a.channels == 3)
        #expect(a[0, 0] == [0, 0, 255] && a[1, 0] == [255, 0, 0] && a[0, 1] == [128, 255, 0])
        let hwc = Tensor([Int32](arrayLiteral: 10, 20, 30, 300, -5, 7), shape: [1, 2, 3])
        let b = try RasterImage(tensor: hwc, layout: .hwc)
        #expect(b.pixels == [10, 20, 30, 255, 0, 7])
        let gray = try RasterImage(tensor: Tensor([Float](arrayLiteral: -1, 0, 1, 3), shape: [2, 2]), normalize: true)
        #expect(gray.channels == 1 && gray.pixels == [0, 64, 128, 255])
        #expect(throws: DataError.self) { try RasterImage(tensor: Tensor.zeros([2, 2, 2]), layout: .chw) }
        #expect(throws: DataError.self) { try RasterImage(width: 2, height: 2, channels: 3, pixels: [1, 2]) }
    }

    @Test func sampleGridAndConfusionMatrix() throws {
        let imgs = Tensor.ones([5, 1, 4, 4])
        let grid = try RasterImage.samplePredictions(imgs, predicted: [0, 1, 2, 3, 4], actual: [0, 1, 0, 3, 0], columns: 3)
        #expect(grid.channels == 3 && grid.width > 3 * 32 && grid.height > 2 * 32)
        // The first tile's frame is green (right), the third's red (wrong).
        #expect(grid[2, 2] == [0, 160, 0])
        let cellW = (grid.width - 2) / 3
        #expect(grid[2 + 2 * cellW, 2] == [220, 0, 0])
        let cm = try RasterImage.confusionMatrix(predicted: [0, 0, 1, 1, 1, 2], actual: [0, 0, 1, 1, 2, 2], classes: 3, cellSize: 10)
        let m = 3 + 4  // margin: one digit (3 px) + 4
        #expect(cm.width == m + 31 && cm.height == m + 31)
        // Row 0 is all on the diagonal (dark), its off-diagonal cell white; row 2 is split half and half.
        #expect(cm[m + 5, m + 5] == [8, 48, 107] && cm[m + 15, m + 5] == [255, 255, 255])
        #expect(cm[m + 25, m + 25] == cm[m + 15, m + 25])
    }
}
