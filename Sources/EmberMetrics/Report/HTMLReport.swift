import EmberTrain
import Foundation

/// One self-contained HTML page about an evaluation: learning curves, diagnosis, metrics table, classification report,
/// confusion-matrix heatmap, ROC and precision-recall curves, calibration plot, worst examples (as inline PNG
/// images), per-group fairness and regression scores. Charts are inline SVG; the page needs no network and no
/// scripts to display (a small inline script only records, in `#render-check`, that the charts and images rendered).
///
/// Fill in what you have; sections without data are left out.
///
/// ```swift
/// var report = EvaluationReport(title: "MNIST MLP")
/// report.history = history
/// report.classification = accumulator.finalize()
/// report.classNames = (0..<10).map(String.init)
/// try report.write(to: URL(fileURLWithPath: "report.html"))
/// ```
public struct EvaluationReport: @unchecked Sendable {
    /// Page title.
    public var title: String
    /// Training history (learning curves and, unless `diagnosis` is set, the diagnosis).
    public var history: History?
    /// The fit diagnosis (default: ``diagnoseFit(_:loss:validationLoss:baselineLoss:thresholds:)`` of `history`).
    public var diagnosis: FitDiagnosis?
    /// Classification metrics.
    public var classification: ClassificationSummary?
    /// Display name of each class (default: the class numbers).
    public var classNames: [String]?
    /// Worst-predicted samples; those with an image input are shown as pictures.
    public var worstExamples: [WorstExample] = []
    /// Calibration data.
    public var calibration: ReliabilityDiagram?
    /// Regression metrics.
    public var regression: RegressionSummary?
    /// Per-group rates for a sensitive attribute.
    public var fairness: FairnessReport?
    /// Cross-validation results.
    public var crossValidation: CrossValidationResult?
    /// Extra named values for the metrics table.
    public var extraMetrics: [(name: String, value: Double)] = []
    /// Figures shown after the metrics: PNG images (sample grids) and scatter plots (see `ReportFigure`).
    public var figures: [ReportFigure] = []

    /// An empty report.
    public init(title: String) { self.title = title }

    /// Writes the page to `url` atomically (temporary file, then rename).
    public func write(to url: URL) throws {
        try Data(html().utf8).write(to: url, options: .atomic)
    }

    private func name(_ c: Int) -> String {
        if let n = classNames, c >= 0, c < n.count { return n[c] }
        return String(c)
    }

    private static func f(_ x: Double, _ d: Int = 4) -> String {
        x.isNaN ? "n/a" : String(format: "%.\(d)f", x)
    }

    /// The page.
    public func html() -> String {
        var body = "<header><h1>\(SVG.escape(title))</h1><p class=\"muted\">Ember evaluation report · \(SVG.escape(ISO8601DateFormatter().string(from: Date())))</p></header>\n"
        body += diagnosisSection()
        body += learningCurvesSection()
        body += metricsSection()
        body += figuresSection()
        body += classificationSections()
        body += calibrationSection()
        body += worstExamplesSection()
        body += fairnessSection()
        body += regressionSection()
        body += crossValidationSection()
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(SVG.escape(title))</title>
        <style>\(Self.css)</style></head>
        <body>
        \(body)
        <footer id="render-check" data-charts="pending">rendering…</footer>
        <script>\(Self.script)</script>
        </body></html>

        """
    }

    // MARK: sections

    private var effectiveDiagnosis: FitDiagnosis? { diagnosis ?? history.map { diagnoseFit($0) } }

    private func diagnosisSection() -> String {
        guard let d = effectiveDiagnosis else { return "" }
        var s = "<section><h2>Diagnosis: <span class=\"verdict \(d.verdict.rawValue)\">\(SVG.escape(d.title))</span></h2><ul>"
        for e in d.evidence { s += "<li>\(SVG.escape(e))</li>" }
        s += "</ul>"
        if !d.suggestions.isEmpty {
            s += "<h3>What to try next</h3><ol>"
            for t in d.suggestions { s += "<li>\(SVG.escape(t))</li>" }
            s += "</ol>"
        }
        return s + "</section>\n"
    }

    private func learningCurvesSection() -> String {
        guard let h = history, h.epochs > 0 else { return "" }
        let epochs = (1...h.epochs).map(Double.init)
        let best = effectiveDiagnosis?.bestEpoch
        var charts = ""
        var families: [String] = ["loss"]
        for k in h.metrics.keys.sorted() where !k.hasPrefix("val_") && k != "loss" && k != "lr" { families.append(k) }
        for (i, fam) in families.enumerated() {
            var series: [ChartSeries] = []
            if let v = h[fam] { series.append(ChartSeries(name: "training \(fam)", x: epochs, y: v, color: SVG.color(2 * i))) }
            if let v = h["val_" + fam] {
                series.append(ChartSeries(name: "validation \(fam)", x: epochs, y: v, color: SVG.color(2 * i + 1), dashed: true))
            }
            if series.isEmpty { continue }
            let markers = fam == "loss" && best != nil ? [(x: Double(best!), label: "best epoch \(best!)")] : []
            charts += SVG.lineChart(kind: "learning-curve", title: "Learning curve: \(fam)", xLabel: "epoch", yLabel: fam,
                                    series: series, xRange: 1...Double(Swift.max(h.epochs, 2)), markers: markers)
        }
        return charts.isEmpty ? "" : "<section><h2>Learning curves</h2><div class=\"charts\">\(charts)</div></section>\n"
    }

    private func metricsSection() -> String {
        var rows: [(String, String)] = []
        if let c = classification, c.count > 0 {
            rows.append(("samples", String(c.count)))
            rows.append(("accuracy", Self.f(c.accuracy)))
            if let v = try? c.balancedAccuracy() { rows.append(("balanced accuracy", Self.f(v))) }
            for avg in [Average.macro, .weighted] {
                if let v = try? c.precisionRecallFScore(average: avg, zeroDivision: .zero) {
                    rows.append(("precision / recall / F1 (\(avg.sklearnName))", "\(Self.f(v.precision)) / \(Self.f(v.recall)) / \(Self.f(v.fScore))"))
                }
            }
            if let v = try? c.matthewsCorrelation() { rows.append(("Matthews correlation", Self.f(v))) }
            if let v = try? c.cohenKappa() { rows.append(("Cohen's kappa", Self.f(v))) }
            if c.scoredCount > 0 {
                if let v = try? c.logLoss() { rows.append(("log loss", Self.f(v))) }
                if c.classCount == 2 {
                    if let v = try? c.rocAUC() { rows.append(("ROC-AUC", Self.f(v))) }
                    if let v = try? c.averagePrecision() { rows.append(("average precision", Self.f(v))) }
                } else {
                    if let v = try? c.rocAUC(average: .macro) { rows.append(("ROC-AUC (one-vs-rest, macro)", Self.f(v))) }
                    if let v = try? c.rocAUC(average: .weighted) { rows.append(("ROC-AUC (one-vs-rest, weighted)", Self.f(v))) }
                    if let v = try? c.averagePrecision(average: .macro) { rows.append(("average precision (macro)", Self.f(v))) }
                    for k in [2, 3] where k < c.classCount {
                        if let v = try? c.topKAccuracy(k) { rows.append(("top-\(k) accuracy", Self.f(v))) }
                    }
                }
            }
        }
        if let cal = calibration, cal.count > 0 {
            rows.append(("expected calibration error", Self.f(cal.expectedCalibrationError)))
            rows.append(("maximum calibration error", Self.f(cal.maximumCalibrationError)))
        }
        for (n, v) in extraMetrics { rows.append((n, Self.f(v))) }
        if rows.isEmpty { return "" }
        var s = "<section><h2>Metrics</h2><table class=\"metrics\"><tbody>"
        for (k, v) in rows { s += "<tr><th>\(SVG.escape(k))</th><td>\(v)</td></tr>" }
        return s + "</tbody></table></section>\n"
    }

    private func classificationSections() -> String {
        guard let c = classification, c.count > 0 else { return "" }
        var s = ""
        let labels = Array(0..<c.classCount)
        let names = labels.map(name)
        if let text = try? c.classificationReport(labels: labels, targetNames: names, zeroDivision: .zero) {
            s += "<section><h2>Classification report</h2><pre>\(SVG.escape(text))</pre></section>\n"
        }
        let cm = c.confusion
        let norm = cm.normalized(.trueLabels)
        let ann = cm.rows.map { $0.map(String.init) }
        var body = SVG.heatmap(kind: "confusion-matrix", title: "Confusion matrix (colour: share of each true class)",
                               rowLabels: names, columnLabels: names, values: norm, annotations: ann,
                               xLabel: "predicted class", yLabel: "true class")
        let acc = perClassAccuracy(cm)
        var side = "<div><h3>Per-class accuracy</h3><table><thead><tr><th>class</th><th>correct</th><th>samples</th><th>accuracy</th></tr></thead><tbody>"
        for a in acc { side += "<tr><td>\(SVG.escape(name(a.label)))</td><td>\(a.correct)</td><td>\(a.total)</td><td>\(Self.f(a.accuracy, 3))</td></tr>" }
        side += "</tbody></table>"
        let pairs = mostConfusedPairs(cm, top: 8)
        if !pairs.isEmpty {
            side += "<h3>Most confused pairs</h3><table><thead><tr><th>true</th><th>predicted as</th><th>count</th><th>share of class</th></tr></thead><tbody>"
            for p in pairs {
                side += "<tr><td>\(SVG.escape(name(p.trueLabel)))</td><td>\(SVG.escape(name(p.predictedLabel)))</td><td>\(p.count)</td><td>\(Self.f(p.fractionOfClass, 3))</td></tr>"
            }
            side += "</tbody></table>"
        }
        body += side + "</div>"
        s += "<section><h2>Errors</h2><div class=\"charts\">\(body)</div></section>\n"
        if c.scoredCount > 0 {
            var roc: [ChartSeries] = [], pr: [ChartSeries] = []
            let classes = c.classCount == 2 ? [1] : Array(0..<Swift.min(c.classCount, 10))
            for (i, k) in classes.enumerated() {
                let tag = c.classCount == 2 ? name(1) : "\(name(k)) vs rest"
                if let r = try? c.rocCurve(positiveClass: k), r.falsePositiveRate.allSatisfy(\.isFinite), r.truePositiveRate.allSatisfy(\.isFinite) {
                    let auc = trapezoid(x: r.falsePositiveRate, y: r.truePositiveRate)
                    roc.append(ChartSeries(name: "\(tag) (AUC \(Self.f(auc, 3)))", x: r.falsePositiveRate, y: r.truePositiveRate, color: SVG.color(i)))
                }
                if let p = try? c.precisionRecallCurve(positiveClass: k) {
                    let ap = binaryAveragePrecision(c.store.groups(k), warnings: nil)
                    pr.append(ChartSeries(name: "\(tag) (AP \(Self.f(ap, 3)))", x: p.recall, y: p.precision, color: SVG.color(i), step: true))
                }
            }
            var charts = ""
            if !roc.isEmpty {
                charts += SVG.lineChart(kind: "roc", title: "ROC curve", xLabel: "false positive rate", yLabel: "true positive rate",
                                        series: roc, xRange: 0...1, yRange: 0...1, diagonal: true)
            }
            if !pr.isEmpty {
                charts += SVG.lineChart(kind: "pr", title: "Precision-recall curve", xLabel: "recall", yLabel: "precision",
                                        series: pr, xRange: 0...1, yRange: 0...1.02)
            }
            if c.classCount > 10 { charts += "<p class=\"muted\">Curves shown for the first 10 classes.</p>" }
            if !charts.isEmpty { s += "<section><h2>ROC and precision-recall</h2><div class=\"charts\">\(charts)</div></section>\n" }
        }
        return s
    }

    private func calibrationSection() -> String {
        guard let cal = calibration, cal.count > 0 else { return "" }
        let chart = SVG.reliability(cal, title: "Reliability diagram (ECE \(Self.f(cal.expectedCalibrationError, 3)))")
        var t = "<div><table><thead><tr><th>bin</th><th>samples</th><th>mean confidence</th><th>observed</th></tr></thead><tbody>"
        for b in cal.bins where b.count > 0 {
            t += "<tr><td>\(Self.f(b.lower, 2))–\(Self.f(b.upper, 2))</td><td>\(b.count)</td><td>\(Self.f(b.meanPredicted, 3))</td><td>\(Self.f(b.fractionPositive, 3))</td></tr>"
        }
        t += "</tbody></table></div>"
        return "<section><h2>Calibration</h2><div class=\"charts\">\(chart)\(t)</div></section>\n"
    }

    private func worstExamplesSection() -> String {
        guard !worstExamples.isEmpty else { return "" }
        var s = "<section><h2>Worst examples (highest loss)</h2><div class=\"examples\">"
        for e in worstExamples {
            var pic = ""
            if let x = e.input, x.rank == 2 || (x.rank == 3 && (x.shape[0] == 1 || x.shape[0] == 3)),
               let png = try? RasterImage(tensor: withoutGrad({ x.detached() }), normalize: true).pngData() {
                let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
                let scale = Swift.max(1, 96 / Swift.max(h, w))
                pic = "<img class=\"example\" alt=\"sample \(e.index)\" width=\"\(w * scale)\" height=\"\(h * scale)\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            }
            s += "<figure>\(pic)<figcaption>#\(e.index): true <b>\(SVG.escape(name(e.target)))</b>, predicted <b>\(SVG.escape(name(e.predicted)))</b> (\(Self.f(e.confidence, 2)))<br>loss \(Self.f(e.loss, 3))</figcaption></figure>"
        }
        return s + "</div></section>\n"
    }

    private func fairnessSection() -> String {
        guard let fr = fairness else { return "" }
        var s = "<section><h2>Fairness by group</h2><table><thead><tr><th>group</th><th>samples</th><th>accuracy</th><th>selection rate</th><th>true positive rate</th><th>false positive rate</th></tr></thead><tbody>"
        for g in fr.groups + [fr.overall] {
            s += "<tr><td>\(SVG.escape(g.group))</td><td>\(g.count)</td><td>\(Self.f(g.accuracy))</td><td>\(Self.f(g.selectionRate))</td><td>\(Self.f(g.truePositiveRate))</td><td>\(Self.f(g.falsePositiveRate))</td></tr>"
        }
        s += "</tbody></table><p>Demographic parity difference <b>\(Self.f(fr.demographicParityDifference))</b> · equal opportunity difference <b>\(Self.f(fr.equalOpportunityDifference))</b> · equalized odds difference <b>\(Self.f(fr.equalizedOddsDifference))</b> (0 is parity).</p></section>\n"
        return s
    }

    private func regressionSection() -> String {
        guard let r = regression else { return "" }
        let a = r.average
        let rows = [("samples", String(r.count)), ("MSE", Self.f(a.meanSquaredError)), ("RMSE", Self.f(a.rootMeanSquaredError)),
                    ("MAE", Self.f(a.meanAbsoluteError)), ("MAPE", Self.f(a.meanAbsolutePercentageError)),
                    ("R²", Self.f(a.r2)), ("explained variance", Self.f(a.explainedVariance))]
        var s = "<section><h2>Regression</h2><table class=\"metrics\"><tbody>"
        for (k, v) in rows { s += "<tr><th>\(k)</th><td>\(v)</td></tr>" }
        return s + "</tbody></table></section>\n"
    }

    private func crossValidationSection() -> String {
        guard let cv = crossValidation, !cv.folds.isEmpty else { return "" }
        var s = "<section><h2>Cross-validation (\(cv.folds.count) folds)</h2><table><thead><tr><th>metric</th><th>mean</th><th>std</th><th>folds</th></tr></thead><tbody>"
        for m in cv.metrics {
            s += "<tr><td>\(SVG.escape(m))</td><td>\(Self.f(cv.mean(m)))</td><td>\(Self.f(cv.std(m)))</td><td>\(cv.values(m).map { Self.f($0, 3) }.joined(separator: ", "))</td></tr>"
        }
        return s + "</tbody></table></section>\n"
    }

    // MARK: page assets

    static let css = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222;background:#fafafa}
    h1{margin:0 0 4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}h3{margin:12px 0 6px}
    section{background:#fff;border:1px solid #e4e4e4;border-radius:6px;padding:8px 16px 16px;margin:16px 0}
    .muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
    table{border-collapse:collapse;font-size:14px}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
    table.metrics th{font-weight:normal;color:#444}table.metrics td{font-variant-numeric:tabular-nums;font-weight:600}
    pre{background:#f4f4f4;padding:10px;border-radius:4px;overflow-x:auto}
    .verdict{padding:2px 10px;border-radius:12px;color:#fff;background:#555}.verdict.overfitting{background:#d62728}
    .verdict.underfitting{background:#ff7f0e}.verdict.goodFit{background:#2ca02c}.verdict.stillImproving{background:#1f77b4}
    .examples{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;text-align:center;font-size:12px;max-width:140px}
    img.example{image-rendering:pixelated;border:1px solid #ccc;background:#000}
    svg.chart text{font-family:inherit}svg .ct{font-size:13px;font-weight:600}svg .tick{font-size:10px;fill:#555}
    svg .axis{font-size:11px;fill:#333}svg .legend{font-size:10px;fill:#333}svg .grid{stroke:#eee}
    #render-check{color:#aaa;font-size:11px;margin:24px 0}
    """

    /// Records what rendered: the number of SVG charts, images decoded, and script errors, as attributes of
    /// `#render-check` (read by the headless-browser test).
    static let script = """
    (function(){var errors=0;window.addEventListener('error',function(){errors++;});
    function check(){var m=document.getElementById('render-check');var charts=document.querySelectorAll('svg.chart');
    var drawn=0;charts.forEach(function(c){var b=c.getBBox();if(b.width>0&&b.height>0)drawn++;});
    var imgs=document.querySelectorAll('img.example');var ok=0;imgs.forEach(function(i){if(i.complete&&i.naturalWidth>0)ok++;});
    m.setAttribute('data-charts',String(charts.length));m.setAttribute('data-charts-drawn',String(drawn));
    m.setAttribute('data-images',String(imgs.length));m.setAttribute('data-images-decoded',String(ok));
    m.setAttribute('data-errors',String(errors));m.textContent='Rendered '+drawn+' of '+charts.length+' charts and '+ok+' of '+imgs.length+' images.';}
    if(document.readyState==='complete'){check();}else{window.addEventListener('load',check);}})();
    """
}
