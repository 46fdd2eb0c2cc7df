import EmberCore
import EmberData
import Foundation

extension RasterImage {
    /// Draws digits (and `-`, `/`, `.`; other characters leave a gap) in a 3x5 pixel font scaled by `scale`.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, color: [UInt8]) {
        var cx = x
        for ch in text {
            if let rows = Self.glyphs[ch] {
                for (r, bits) in rows.enumerated() {
                    for col in 0..<3 where bits & (4 >> col) != 0 {
                        fillRect(x: cx + col * scale, y: y + r * scale, width: scale, height: scale, color: color)
                    }
                }
            }
            cx += 4 * scale
        }
    }

    /// Width in pixels of `text` drawn with `drawText`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { Swift.max(0, text.count * 4 - 1) * scale }

    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        "-": [0, 0, 7, 0, 0], "/": [1, 1, 2, 4, 4], ".": [0, 0, 0, 0, 2],
    ]

    /// A grid of sample images, each framed green when `predicted[i] == actual[i]` and red otherwise, with
    /// "predicted/actual" written under it. `images` is `[N, H, W]` or `[N, C, H, W]` (`[N, H, W, C]` with `.hwc`).
    public static func samplePredictions(_ images: Tensor, predicted: [Int], actual: [Int], columns: Int = 8,
                                         layout: ImageLayout = .chw, normalize: Bool = false, scale: Int? = nil) throws -> RasterImage {
        let n = images.shape.first ?? 0
        guard n > 0, predicted.count == n, actual.count == n, images.rank == 3 || images.rank == 4 else {
            throw TrackingError.invalidArgument("samplePredictions: need N images ([N,H,W] or rank 4) and N labels; got shape \(images.shape), \(predicted.count) predicted, \(actual.count) actual")
        }
        var tiles: [RasterImage] = []
        for i in 0..<n {
            let one = images.slice(axis: 0, start: i, end: i + 1)
            tiles.append(try RasterImage(tensor: one.reshaped(Array(images.shape.dropFirst())), layout: layout, normalize: normalize).rgb())
        }
        let k = scale ?? Swift.max(1, 32 / Swift.max(tiles[0].width, tiles[0].height))
        let cols = Swift.max(1, Swift.min(columns, n)), rows = (n + cols - 1) / cols
        let tw = tiles[0].width * k, th = tiles[0].height * k
        let labelH = 7, border = 2, pad = 2
        let cellW = Swift.max(tw + 2 * border, textWidth("\(predicted.max()!)/\(actual.max()!)") + 2) + pad
        let cellH = th + 2 * border + labelH + pad
        var grid = RasterImage(width: cols * cellW + pad, height: rows * cellH + pad, channels: 3, fill: [255, 255, 255])
        for i in 0..<n {
            let x = pad + (i % cols) * cellW, y = pad + (i / cols) * cellH
            let ok = predicted[i] == actual[i]
            let color: [UInt8] = ok ? [0, 160, 0] : [220, 0, 0]
            grid.fillRect(x: x, y: y, width: tw + 2 * border, height: th + 2 * border, color: color)
            grid.paste(tiles[i].scaled(by: k), x: x + border, y: y + border)
            grid.drawText("\(predicted[i])/\(actual[i])", x: x, y: y + th + 2 * border + 1, color: color)
        }
        return grid
    }

    /// A confusion-matrix heat map: row = actual class, column = predicted class, shaded white to dark blue by
    /// the row-normalized fraction, with class indices along the top and left edge.
    public static func confusionMatrix(_ matrix: [[Int]], cellSize: Int = 16) throws -> RasterImage {
        let k = matrix.count
        guard k > 0, matrix.allSatisfy({ $0.count == k }) else {
            throw TrackingError.invalidArgument("confusionMatrix: need a square, non-empty matrix, got \(matrix.map(\.count))")
        }
        let margin = textWidth(String(k - 1)) + 4
        let size = Swift.max(cellSize, 6)
        var img = RasterImage(width: margin + k * size + 1, height: margin + k * size + 1, channels: 3, fill: [255, 255, 255])
        for r in 0..<k {
            let total = Swift.max(matrix[r].reduce(0, +), 1)
            for c in 0..<k {
                let f = Double(matrix[r][c]) / Double(total)
                let color: [UInt8] = [UInt8(255 - 247 * f), UInt8(255 - 207 * f), UInt8(255 - 148 * f)]
                img.fillRect(x: margin + c * size + 1, y: margin + r * size + 1, width: size - 1, height: size - 1, color: color)
            }
            let label = String(r)
            img.drawText(label, x: margin - textWidth(label) - 2, y: margin + r * size + (size - 5) / 2, color: [0, 0, 0])
            img.drawText(label, x: margin + r * size + (size - textWidth(label)) / 2 + 1, y: margin - 7, color: [0, 0, 0])
        }
        return img
    }

    /// The confusion-matrix heat map of predictions against labels (`0..<classes`; others are ignored).
    public static func confusionMatrix(predicted: [Int], actual: [Int], classes: Int, cellSize: Int = 16) throws -> RasterImage {
        guard predicted.count == actual.count, classes > 0 else {
            throw TrackingError.invalidArgument("confusionMatrix: \(predicted.count) predictions for \(actual.count) labels, \(classes) classes")
        }
        var m = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (p, a) in zip(predicted, actual) where (0..<classes).contains(p) && (0..<classes).contains(a) { m[a][p] += 1 }
        return try confusionMatrix(m, cellSize: cellSize)
    }
}
