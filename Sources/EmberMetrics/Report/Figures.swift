import Foundation

/// A figure of an `EvaluationReport`: an encoded PNG (a grid of reconstructions or samples), or a scatter plot of
/// labelled 2-D points (a PCA projection coloured by class).
public enum ReportFigure: @unchecked Sendable {
    /// PNG bytes shown at `scale` times their size, with a title and a caption.
    case png(title: String, caption: String, data: [UInt8], width: Int, height: Int, scale: Int)
    /// Points `x`, `y` coloured by `labels` (legend from `labelNames`, when given).
    case scatter(title: String, caption: String, x: [Double], y: [Double], labels: [Int], labelNames: [String]?,
                 xLabel: String, yLabel: String)
}

extension EvaluationReport {
    func figuresSection() -> String {
        guard !figures.isEmpty else { return "" }
        var s = "<section><h2>Figures</h2><div class=\"charts\">"
        for f in figures {
            switch f {
            case let .png(title, caption, data, width, height, scale):
                s += "<figure data-figure=\"png\"><figcaption><b>\(SVG.escape(title))</b><br>\(SVG.escape(caption))</figcaption>"
                s += "<img alt=\"\(SVG.escape(title))\" width=\"\(width * scale)\" height=\"\(height * scale)\" style=\"image-rendering: pixelated\" "
                s += "src=\"data:image/png;base64,\(Data(data).base64EncodedString())\"></figure>"
            case let .scatter(title, caption, x, y, labels, names, xLabel, yLabel):
                s += "<figure data-figure=\"scatter\">"
                s += SVG.scatter(title: title, xLabel: xLabel, yLabel: yLabel, x: x, y: y, labels: labels, labelNames: names)
                s += "<figcaption>\(SVG.escape(caption))</figcaption></figure>"
            }
        }
        return s + "</div></section>\n"
    }
}

extension SVG {
    /// A scatter plot of (x, y) points coloured by integer label, with a legend of the labels present.
    static func scatter(title: String, xLabel: String, yLabel: String, x: [Double], y: [Double], labels: [Int],
                        labelNames: [String]?, width: Int = 560, height: Int = 460) -> String {
        let classes = Array(Set(labels)).sorted()
        let legendRows = (classes.count + 2) / 3
        let height = height + 16 * legendRows
        let (ml, mr, mt, mb) = (56.0, 16.0, 30.0, 44.0 + 16 * Double(legendRows))
        let pw = Double(width) - ml - mr, ph = Double(height) - mt - mb
        let fx = x.filter(\.isFinite), fy = y.filter(\.isFinite)
        var xr = (fx.min() ?? 0)...(fx.max() ?? 1), yr = (fy.min() ?? 0)...(fy.max() ?? 1)
        if xr.upperBound <= xr.lowerBound { xr = (xr.lowerBound - 0.5)...(xr.lowerBound + 0.5) }
        if yr.upperBound <= yr.lowerBound { yr = (yr.lowerBound - 0.5)...(yr.lowerBound + 0.5) }
        func px(_ v: Double) -> Double { ml + (v - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw }
        func py(_ v: Double) -> Double { mt + ph - (v - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph }
        var s = "<svg class=\"chart\" data-chart=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        for t in ticks(xr.lowerBound, xr.upperBound) {
            s += "<text x=\"\(num(px(t)))\" y=\"\(num(mt + ph + 14))\" text-anchor=\"middle\" class=\"tick\">\(tickLabel(t))</text>"
        }
        for t in ticks(yr.lowerBound, yr.upperBound) {
            s += "<text x=\"\(num(ml - 6))\" y=\"\(num(py(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(tickLabel(t))</text>"
        }
        s += "<rect x=\"\(num(ml))\" y=\"\(num(mt))\" width=\"\(num(pw))\" height=\"\(num(ph))\" fill=\"none\" stroke=\"#444\"/>"
        s += "<text x=\"\(num(ml + pw / 2))\" y=\"\(num(mt + ph + 32))\" text-anchor=\"middle\" class=\"axis\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(14 \(num(mt + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(escape(yLabel))</text>"
        let colourIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        for i in x.indices where x[i].isFinite && y[i].isFinite {
            s += "<circle cx=\"\(num(px(x[i])))\" cy=\"\(num(py(y[i])))\" r=\"1.6\" fill=\"\(color(colourIndex[labels[i]] ?? 0))\" fill-opacity=\"0.6\"/>"
        }
        for (i, c) in classes.enumerated() {
            let lx = ml + Double(i % 3) * pw / 3, ly = mt + ph + 48 + 16 * Double(i / 3)
            let name = labelNames.flatMap { c >= 0 && c < $0.count ? $0[c] : nil } ?? String(c)
            s += "<circle cx=\"\(num(lx + 6))\" cy=\"\(num(ly))\" r=\"4\" fill=\"\(color(i))\"/>"
            s += "<text x=\"\(num(lx + 14))\" y=\"\(num(ly + 4))\" class=\"legend\">\(escape(name))</text>"
        }
        return s + "</svg>"
    }
}
