import CEmberZlib
import EmberCore
import EmberNN
import EmberTrain
import Foundation
import Testing
import EmberTestSupport
@testable import EmberMetrics


/// Runs headless Chromium on a local file and returns the DOM after the load event.
func chromiumDOM(_ file: URL, screenshot: URL? = nil) throws -> String {
    let profile = FileManager.default.temporaryDirectory.appendingPathComponent("ember-chromium-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: profile) }
    var args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--user-data-dir=\(profile.path)", "--virtual-time-budget=3000"]
    if let screenshot { args += ["--screenshot=\(screenshot.path)", "--window-size=1150,3800"] } else { args.append("--dump-dom") }
    args.append(file.absoluteString)
    let chromium = try required(chromiumPath, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM)")
    let run = try runTool(chromium, args, timeout: 180)
    #expect(run.status == 0, "chromium exited with \(run.status): \(run.stderr.suffix(2000))")
    return run.stdout
}

/// The value of attribute `name` on the element with id `id` in serialized HTML.
func attribute(_ name: String, ofElement id: String, in html: String) -> String? {
    guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
    let tagStart = html[..<start.lowerBound].lastIndex(of: "<")!
    let tagEnd = html[start.upperBound...].firstIndex(of: ">")!
    let tag = html[tagStart..<tagEnd]
    guard let a = tag.range(of: "\(name)=\"") else { return nil }
    return String(tag[a.upperBound...].prefix { $0 != "\"" })
}

/// Eight-by-eight "images" of three classes: a bright row, column or diagonal plus noise.
func imageData(n: Int, seed: UInt64, noise: Double = 1.2) -> (Tensor, Tensor) {
    var rng = RandomState(seed: seed)
    var pixels = [Float](repeating: 0, count: n * 64), labels = [Int64]()
    for i in 0..<n {
        let c = rng.nextInt(below: 3)
        labels.append(Int64(c))
        for j in 0..<8 {
            let idx = c == 0 ? 3 * 8 + j : (c == 1 ? j * 8 + 4 : j * 8 + j)
            pixels[i * 64 + idx] = 1
        }
        for k in 0..<64 { pixels[i * 64 + k] += Float(rng.nextDouble() * noise) }
    }
    return (Tensor(pixels, shape: [n, 1, 8, 8]), Tensor(labels))
}

@Suite(.serialized) struct ReportTests {
    @Test func pngThumbnailsAreMinMaxScaledImages() throws {
        // The report's example thumbnails: the tensor's min...max stretched to 0...255, encoded by the image module.
        let x = Tensor([Float](arrayLiteral: -1, 0, 1, 3, 1, 1), shape: [1, 2, 3])
        let png = try RasterImage(tensor: x, normalize: true).pngData()
        let back = try RasterImage(decoding: png)
        #expect(back.width == 3 && back.height == 2 && back.channels == 1)
        #expect(back.pixels == [0, 64, 128, 255, 128, 128])
    }

    @Test func validationScoresInsideFitAndEvaluation() throws {
        let (x, y) = imageData(n: 96, seed: 1)
        let (vx, vy) = imageData(n: 48, seed: 2)
        let g = Generator(seed: 5)
        let model = Sequential([Flatten(), Linear(64, 3, generator: g)])
        let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.05), loss: .crossEntropy, metrics: [.accuracy])
        let val = TensorBatches(inputs: vx, targets: vy, batchSize: 20, shuffle: false)
        let scores = ValidationScores(val, classes: 3)
        let h = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 32, seed: 3), validation: val, epochs: 4,
                                callbacks: [scores])
        // The streamed accuracy must equal the trainer's own batch-weighted validation accuracy every epoch.
        #expect(scores.values["val_accuracy_streamed"]!.count == 4)
        for (a, b) in zip(scores.values["val_accuracy_streamed"]!, h["val_accuracy"]!) { #expect(Swift.abs(a - b) < 1e-12) }
        let merged = scores.merged(into: h)
        #expect(merged["val_f1_macro"]!.count == 4 && merged["loss"] == h["loss"])
        let eval = try Evaluation(model, on: val, classes: 3, history: merged, baselineLoss: Foundation.log(3.0), worst: 6)
        #expect(eval.classification.count == 48)
        #expect(Swift.abs(eval.classification.accuracy - h["val_accuracy"]!.last!) < 1e-12)
        #expect(eval.worstExamples.count == 6 && eval.worstExamples[0].input!.shape == [1, 8, 8])
        #expect(eval.calibration.count == 48)
        #expect(eval.description.contains("macro avg"))
    }

    @Test func regressionOfAModelStreams() throws {
        // y = 2x + 1 with a model predicting 2x: every error is exactly -1, so MSE = MAE = 1 and RMSE = 1.
        let x = Tensor((0..<10).map { Float($0) }, shape: [10, 1])
        let y = Tensor((0..<10).map { Float(2 * $0 + 1) }, shape: [10, 1])
        let m = Linear(1, 1, generator: Generator(seed: 1))
        m.weight.assign(Tensor([[2]] as [[Float]]))
        m.bias!.assign(Tensor([0] as [Float]))
        let s = try evaluateRegression(m, on: TensorBatches(inputs: x, targets: y, batchSize: 3, shuffle: false))
        #expect(s.count == 10)
        #expect(s.average.meanSquaredError == 1 && s.average.meanAbsoluteError == 1 && s.average.rootMeanSquaredError == 1)
        // Residuals are constant, so their variance is 0: explained variance is 1 while R² = 1 - 10 / 330.
        #expect(s.average.explainedVariance == 1)
        #expect(Swift.abs(s.average.r2 - (1 - 10.0 / 330.0)) < 1e-12)
    }

    @Test(needs(chromiumPath != nil, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM) to run the headless-browser report test"))
    func reportRendersInHeadlessChromium() throws {
        // Noisy enough that the model makes mistakes, so every section has something to show.
        let (x, y) = imageData(n: 90, seed: 11, noise: 3)
        let (vx, vy) = imageData(n: 45, seed: 12, noise: 3)
        let g = Generator(seed: 7)
        let model = Sequential([Flatten(), Linear(64, 3, generator: g)])
        let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.03), loss: .crossEntropy, metrics: [.accuracy])
        let val = TensorBatches(inputs: vx, targets: vy, batchSize: 15, shuffle: false)
        let h = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 30, seed: 1), validation: val, epochs: 8)
        let eval = try Evaluation(model, on: val, classes: 3, history: h, baselineLoss: Foundation.log(3.0), worst: 6)
        var report = eval.report(title: "Ember report test: row / column / diagonal", classNames: ["row", "column", "diagonal"])
        report.fairness = try fairness(yTrue: [1, 0, 1, 1, 0, 0], yPred: [1, 0, 0, 1, 1, 0], groups: ["a", "a", "a", "b", "b", "b"])
        report.regression = try regressionScores([[1], [2], [3]], [[1.1], [1.9], [3.2]])
        let html = report.html()
        let expectedCharts = html.components(separatedBy: "<svg class=\"chart\"").count - 1
        for kind in ["learning-curve", "confusion-matrix", "roc", "pr", "calibration"] {
            #expect(html.contains("data-chart=\"\(kind)\""), "chart \(kind) missing")
        }
        #expect(expectedCharts >= 6)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.html")
        try report.write(to: file)
        let dom = try chromiumDOM(file)
        #expect(attribute("data-charts", ofElement: "render-check", in: dom) == String(expectedCharts))
        #expect(attribute("data-charts-drawn", ofElement: "render-check", in: dom) == String(expectedCharts))
        #expect(attribute("data-images", ofElement: "render-check", in: dom) == "6")
        #expect(attribute("data-images-decoded", ofElement: "render-check", in: dom) == "6")
        #expect(attribute("data-errors", ofElement: "render-check", in: dom) == "0")
        if let shot = ProcessInfo.processInfo.environment["EMBER_REPORT_SCREENSHOT"] {
            // Keep the page and a screenshot of it for a person to look at.
            try? FileManager.default.removeItem(atPath: shot + ".html")
            try FileManager.default.copyItem(at: file, to: URL(fileURLWithPath: shot + ".html"))
            _ = try chromiumDOM(file, screenshot: URL(fileURLWithPath: shot))
        }
    }

    @Test(needs(chromiumPath != nil, "Chromium not found: install Debian's `chromium` package (or set $CHROMIUM) to run the headless-browser PNG test"))
    func chromiumDecodesPNGPixelsExactly() throws {
        // An independent decoder (the browser's) must read back the exact pixels: draw into a canvas and read them.
        let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]
        let b64 = Data(try RasterImage(width: 3, height: 2, channels: 3, pixels: pixels).pngData()).base64EncodedString()
        let page = """
        <!DOCTYPE html><html><body><div id="out" data-pixels="pending"></div><script>
        var img = new Image(); img.onload = function(){ var c = document.createElement('canvas'); c.width = 3; c.height = 2;
        var g = c.getContext('2d'); g.drawImage(img, 0, 0); var d = g.getImageData(0, 0, 3, 2).data, v = [];
        for (var i = 0; i < d.length; i += 4) { v.push(d[i], d[i + 1], d[i + 2]); }
        document.getElementById('out').setAttribute('data-pixels', v.join(',')); };
        img.src = 'data:image/png;base64,\(b64)';</script></body></html>
        """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ember-png-\(UUID().uuidString).html")
        try Data(page.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let dom = try chromiumDOM(file)
        #expect(attribute("data-pixels", ofElement: "out", in: dom) == pixels.map(String.init).joined(separator: ","))
    }
}
