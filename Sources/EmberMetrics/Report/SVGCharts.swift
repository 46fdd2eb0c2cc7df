import Foundation

// Small, dependency-free SVG charts for the HTML report: line charts (learning, ROC, PR curves), a heatmap (confusion
// matrix) and a reliability diagram. Every chart is an <svg class="chart" data-chart="kind"> element.

/// One line of a line chart.
struct ChartSeries {
    var name: String
    var x: [Double]
    var y: [Double]
    var color: String
    var dashed = false
    /// Draw as a right-continuous step function (precision-recall curves).
    var step = false
}

enum SVG {
    /// A categorical palette with good contrast on white.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    static func color(_ i: Int) -> String { palette[i % palette.count] }

    /// Text safe inside XML/HTML.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func num(_ x: Double) -> String { String(format: "%.2f", x) }

    /// About `count` round tick values covering lo...hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = ceil(lo / step) * step
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    static func tickLabel(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        let a = abs(v)
        return a >= 0.01 && a < 1e4 ? String(format: "%g", (v * 1000).rounded() / 1000) : String(format: "%.2g", v)
    }

    /// A line chart with axes, grid, legend, optional y = x diagonal and vertical markers.
    static func lineChart(kind: String, title: String, xLabel: String, yLabel: String, series: [ChartSeries],
                          xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil,
                          diagonal: Bool = false, markers: [(x: Double, label: String)] = [],
                          width: Int = 460, height: Int = 320) -> String {
        // The legend sits below the plot, two entries per row, so it never hides a curve.
        let legendRows = (series.count + 1) / 2
        let height = height + 16 * legendRows
        let (ml, mr, mt, mb) = (56.0, 16.0, 30.0, 44.0 + 16 * Double(legendRows))
        let pw = Double(width) - ml - mr, ph = Double(height) - mt - mb
        let xs = series.flatMap(\.x).filter(\.isFinite), ys = series.flatMap(\.y).filter(\.isFinite)
        var xr = xRange ?? ((xs.min() ?? 0)...(xs.max() ?? 1))
        var yr = yRange ?? ((ys.min() ?? 0)...(ys.max() ?? 1))
        if xr.upperBound <= xr.lowerBound { xr = (xr.lowerBound - 0.5)...(xr.lowerBound + 0.5) }
        if yr.upperBound <= yr.lowerBound { yr = (yr.lowerBound - 0.5)...(yr.lowerBound + 0.5) }
        if yRange == nil {
            let pad = (yr.upperBound - yr.lowerBound) * 0.05
            yr = (yr.lowerBound - pad)...(yr.upperBound + pad)
        }
        func px(_ x: Double) -> Double { ml + (x - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw }
        func py(_ y: Double) -> Double { mt + ph - (y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph }
        var s = "<svg class=\"chart\" data-chart=\"\(kind)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        for t in ticks(xr.lowerBound, xr.upperBound) {
            s += "<line x1=\"\(num(px(t)))\" y1=\"\(num(mt))\" x2=\"\(num(px(t)))\" y2=\"\(num(mt + ph))\" class=\"grid\"/>"
            s += "<text x=\"\(num(px(t)))\" y=\"\(num(mt + ph + 14))\" text-anchor=\"middle\" class=\"tick\">\(tickLabel(t))</text>"
        }
        for t in ticks(yr.lowerBound, yr.upperBound) {
            s += "<line x1=\"\(num(ml))\" y1=\"\(num(py(t)))\" x2=\"\(num(ml + pw))\" y2=\"\(num(py(t)))\" class=\"grid\"/>"
            s += "<text x=\"\(num(ml - 6))\" y=\"\(num(py(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(tickLabel(t))</text>"
        }
        s += "<rect x=\"\(num(ml))\" y=\"\(num(mt))\" width=\"\(num(pw))\" height=\"\(num(ph))\" fill=\"none\" stroke=\"#444\"/>"
        s += "<text x=\"\(num(ml + pw / 2))\" y=\"\(num(mt + ph + 32))\" text-anchor=\"middle\" class=\"axis\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(14 \(num(mt + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(escape(yLabel))</text>"
        if diagonal {
            let lo = Swift.max(xr.lowerBound, yr.lowerBound), hi = Swift.min(xr.upperBound, yr.upperBound)
            s += "<line x1=\"\(num(px(lo)))\" y1=\"\(num(py(lo)))\" x2=\"\(num(px(hi)))\" y2=\"\(num(py(hi)))\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>"
        }
        for m in markers where m.x >= xr.lowerBound && m.x <= xr.upperBound {
            s += "<line x1=\"\(num(px(m.x)))\" y1=\"\(num(mt))\" x2=\"\(num(px(m.x)))\" y2=\"\(num(mt + ph))\" stroke=\"#d62728\" stroke-dasharray=\"2 3\"/>"
            let right = px(m.x) > ml + pw / 2
            s += "<text x=\"\(num(px(m.x) + (right ? -4 : 4)))\" y=\"\(num(mt + 12))\" text-anchor=\"\(right ? "end" : "start")\" class=\"tick\" fill=\"#d62728\">\(escape(m.label))</text>"
        }
        for ser in series {
            var pts: [(Double, Double)] = []
            for i in ser.x.indices where ser.x[i].isFinite && ser.y[i].isFinite {
                if ser.step, let last = pts.last { pts.append((px(ser.x[i]), last.1)) }
                pts.append((px(ser.x[i]), py(ser.y[i])))
            }
            guard !pts.isEmpty else { continue }
            let d = pts.map { "\(num($0.0)),\(num($0.1))" }.joined(separator: " ")
            s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"6 3\"" : "")/>"
            if pts.count <= 40 {
                for p in pts { s += "<circle cx=\"\(num(p.0))\" cy=\"\(num(p.1))\" r=\"2.5\" fill=\"\(ser.color)\"/>" }
            }
        }
        for (i, ser) in series.enumerated() {
            let lx = ml + Double(i % 2) * pw / 2, ly = mt + ph + 48 + 16 * Double(i / 2)
            s += "<line x1=\"\(num(lx))\" y1=\"\(num(ly))\" x2=\"\(num(lx + 18))\" y2=\"\(num(ly))\" stroke=\"\(ser.color)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"6 3\"" : "")/>"
            s += "<text x=\"\(num(lx + 22))\" y=\"\(num(ly + 4))\" class=\"legend\">\(escape(ser.name))</text>"
        }
        return s + "</svg>"
    }

    /// A heatmap of `values` in [0, 1] with a text annotation per cell.
    static func heatmap(kind: String, title: String, rowLabels: [String], columnLabels: [String], values: [[Double]],
                        annotations: [[String]], xLabel: String, yLabel: String) -> String {
        let n = rowLabels.count, m = columnLabels.count
        let cell = Swift.max(18.0, Swift.min(56.0, 420.0 / Double(Swift.max(n, m, 1))))
        let labelW = Double(Swift.min(120, 10 + 7 * (rowLabels.map(\.count).max() ?? 1)))
        let (ml, mt) = (labelW + 24, 34.0)
        let width = Swift.max(Int(ml + cell * Double(m) + 16), 16 + 8 * title.count), height = Int(mt + cell * Double(n) + 48)
        var s = "<svg class=\"chart\" data-chart=\"\(kind)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        let fontSize = cell >= 30 ? 11 : 8
        for i in 0..<n {
            for j in 0..<m {
                let v = Swift.max(0, Swift.min(1, values[i][j].isFinite ? values[i][j] : 0))
                // White to a deep blue.
                let r = Int(247 - v * (247 - 8)), g = Int(251 - v * (251 - 48)), b = Int(255 - v * (255 - 107))
                let x = ml + Double(j) * cell, y = mt + Double(i) * cell
                s += "<rect x=\"\(num(x))\" y=\"\(num(y))\" width=\"\(num(cell))\" height=\"\(num(cell))\" fill=\"rgb(\(r),\(g),\(b))\" stroke=\"#fff\"><title>\(escape(rowLabels[i])) → \(escape(columnLabels[j])): \(escape(annotations[i][j]))</title></rect>"
                s += "<text x=\"\(num(x + cell / 2))\" y=\"\(num(y + cell / 2 + 4))\" text-anchor=\"middle\" font-size=\"\(fontSize)\" fill=\"\(v > 0.5 ? "#fff" : "#222")\">\(escape(annotations[i][j]))</text>"
            }
            s += "<text x=\"\(num(ml - 6))\" y=\"\(num(mt + Double(i) * cell + cell / 2 + 4))\" text-anchor=\"end\" class=\"tick\">\(escape(rowLabels[i]))</text>"
        }
        for j in 0..<m {
            s += "<text x=\"\(num(ml + Double(j) * cell + cell / 2))\" y=\"\(num(mt + Double(n) * cell + 14))\" text-anchor=\"middle\" class=\"tick\">\(escape(columnLabels[j]))</text>"
        }
        s += "<text x=\"\(num(ml + cell * Double(m) / 2))\" y=\"\(height - 8)\" text-anchor=\"middle\" class=\"axis\">\(escape(xLabel))</text>"
        s += "<text transform=\"translate(12 \(num(mt + cell * Double(n) / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(escape(yLabel))</text>"
        return s + "</svg>"
    }

    /// A reliability diagram: observed frequency per bin as bars against the diagonal, plus the bin counts.
    static func reliability(_ d: ReliabilityDiagram, title: String, width: Int = 460, height: Int = 320) -> String {
        let height = height + 16
        let (ml, mr, mt, mb) = (56.0, 16.0, 30.0, 60.0)
        let pw = Double(width) - ml - mr, ph = Double(height) - mt - mb
        func px(_ x: Double) -> Double { ml + x * pw }
        func py(_ y: Double) -> Double { mt + ph - y * ph }
        var s = "<svg class=\"chart\" data-chart=\"calibration\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        s += "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        for t in ticks(0, 1) {
            s += "<line x1=\"\(num(px(t)))\" y1=\"\(num(mt))\" x2=\"\(num(px(t)))\" y2=\"\(num(mt + ph))\" class=\"grid\"/>"
            s += "<text x=\"\(num(px(t)))\" y=\"\(num(mt + ph + 14))\" text-anchor=\"middle\" class=\"tick\">\(tickLabel(t))</text>"
            s += "<line x1=\"\(num(ml))\" y1=\"\(num(py(t)))\" x2=\"\(num(ml + pw))\" y2=\"\(num(py(t)))\" class=\"grid\"/>"
            s += "<text x=\"\(num(ml - 6))\" y=\"\(num(py(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(tickLabel(t))</text>"
        }
        let total = Double(Swift.max(d.count, 1))
        for b in d.bins where b.count > 0 {
            let x0 = px(b.lower) + 1, w = px(b.upper) - px(b.lower) - 2
            let h = b.fractionPositive * ph
            s += "<rect x=\"\(num(x0))\" y=\"\(num(py(b.fractionPositive)))\" width=\"\(num(w))\" height=\"\(num(h))\" fill=\"#1f77b4\" fill-opacity=\"0.75\"><title>\(num(b.lower))–\(num(b.upper)): \(b.count) samples, mean confidence \(num(b.meanPredicted)), observed \(num(b.fractionPositive))</title></rect>"
            let ch = Double(b.count) / total * ph * 0.25
            s += "<rect x=\"\(num(x0))\" y=\"\(num(mt + ph - ch))\" width=\"\(num(w))\" height=\"\(num(ch))\" fill=\"#ff7f0e\" fill-opacity=\"0.5\"/>"
            s += "<circle cx=\"\(num(px(b.meanPredicted)))\" cy=\"\(num(py(b.fractionPositive)))\" r=\"3\" fill=\"#d62728\"/>"
        }
        s += "<line x1=\"\(num(px(0)))\" y1=\"\(num(py(0)))\" x2=\"\(num(px(1)))\" y2=\"\(num(py(1)))\" stroke=\"#555\" stroke-dasharray=\"4 4\"/>"
        s += "<rect x=\"\(num(ml))\" y=\"\(num(mt))\" width=\"\(num(pw))\" height=\"\(num(ph))\" fill=\"none\" stroke=\"#444\"/>"
        s += "<text x=\"\(num(ml + pw / 2))\" y=\"\(num(mt + ph + 32))\" text-anchor=\"middle\" class=\"axis\">predicted probability (confidence)</text>"
        s += "<text transform=\"translate(14 \(num(mt + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">observed frequency</text>"
        s += "<text x=\"\(num(ml))\" y=\"\(num(mt + ph + 50))\" class=\"legend\">bars: observed · dots: mean confidence · orange: sample share · dashed: ideal</text>"
        return s + "</svg>"
    }
}
