import Foundation

/// What `ember evaluate GAN_RUN --classifier CLS_RUN` measured, as GAN users measure: the Fréchet distance in the
/// feature space of a fixed classifier (its penultimate layer) between generated and test images, next to the same
/// distance between training and test images (the floor a perfect generator would reach with this many images);
/// the classifier's predicted class histogram of the samples (class coverage: mode collapse shows as missing
/// classes); and for a conditional GAN the share of samples the classifier assigns to the requested class.
public struct GANMeasurement: Codable, Sendable {
    /// The classifier run whose features are used, and which layer.
    public var classifier: String, featureLayer: String
    /// Feature dimension.
    public var featureDimension: Int
    /// Generated images, and test / training images used.
    public var generated: Int, testImages: Int, trainImages: Int
    /// The seed of the generated images.
    public var seed: UInt64
    /// FD(generated, test) and FD(train, test).
    public var frechetGeneratedTest: Double, frechetTrainTest: Double
    /// The classifier's accuracy on the test images (how much its features are worth).
    public var classifierTestAccuracy: Double
    /// Class names, and the share of generated (and of test) images the classifier puts in each class.
    public var classes: [String]
    public var generatedClassShare: [Double], testClassShare: [Double]
    /// Classes that receive less than 1% of the samples (a tenth of their share among the test images, for balanced sets).
    public var missingClasses: [String]
    /// Conditional GANs: the share of samples classified as the requested class, overall and per class.
    public var requestedClassAccuracy: Double?
    public var requestedClassAccuracyPerClass: [Double]?
    /// Seconds the measurement took.
    public var seconds: Double
    /// The host and threads it ran on.
    public var host: String, threads: Int

    /// The measurement as text, one figure per line.
    public var text: String {
        var lines = ["Fréchet distance in the features of \(classifier) (\(featureLayer)):",
                     String(format: "  generated (%d) vs test (%d)  %.3f", generated, testImages, frechetGeneratedTest),
                     String(format: "  train (%d) vs test (%d)      %.3f   (the floor)", trainImages, testImages, frechetTrainTest),
                     String(format: "classifier test accuracy         %.4f", classifierTestAccuracy),
                     "predicted classes of the samples (test images):"]
        for (i, c) in classes.enumerated() {
            lines.append("  " + c.padding(toLength: Swift.max(14, c.count), withPad: " ", startingAt: 0)
                         + String(format: " %5.1f%%  (%5.1f%%)", 100 * generatedClassShare[i], 100 * testClassShare[i]))
        }
        lines.append("missing classes (< 1% of samples): " + (missingClasses.isEmpty ? "none" : missingClasses.joined(separator: ", ")))
        if let acc = requestedClassAccuracy {
            lines.append(String(format: "samples classified as the requested class: %.1f%%", 100 * acc))
            if let per = requestedClassAccuracyPerClass {
                lines.append("  per class: " + zip(classes, per).map { String(format: "%@ %.0f%%", $0, 100 * $1) }.joined(separator: ", "))
            }
        }
        lines.append(String(format: "measured in %.1f s on %@ (%d threads)", seconds, host, threads))
        return lines.joined(separator: "\n")
    }
}

/// The measurement of a GAN run (see `GANMeasurement`).
public enum GANEvaluation {
    /// The file in the GAN's run directory that holds the last measurement.
    public static let file = "evaluation.json"

    /// Measures the GAN in `run` with the classifier run `classifier` on `count` generated images (seed `seed`)
    /// and up to `count` test and training images of the GAN's data; writes `evaluation.json` and refreshes
    /// `report.html` in the GAN's run directory.
    @discardableResult
    public static func run(model run: String, classifier: String, count: Int = 10_000, seed: UInt64 = 1,
                           console: Console) throws -> GANMeasurement {
        let start = Date()
        let (file, generator) = try GANModelFile.load(from: run)
        let cls = try SavedModel.load(from: classifier)
        let spec = generator.spec
        guard cls.saved.task == .classification else { throw CLIError("--classifier \(classifier): a regression model; expected a classifier") }
        guard cls.saved.input.featureCount == spec.channels * spec.height * spec.width else {
            throw CLIError("--classifier \(classifier): takes inputs \(cls.saved.input.rawShape), the GAN makes images "
                           + "[\(spec.channels), \(spec.height), \(spec.width)]")
        }
        let layers = cls.model.layers
        guard layers.count >= 2, layers.last is Linear else {
            throw CLIError("--classifier \(classifier): its last layer is not a linear layer, so it has no penultimate features")
        }
        if let c = spec.classes, c != cls.saved.classes.count {
            throw CLIError("--classifier \(classifier): has \(cls.saved.classes.count) classes, the conditional GAN \(c)")
        }
        // The GAN's own data: test part (or, without one, a seeded half of the images) and a training subset.
        let config = try ExperimentConfig.parse(file.config, file: URL(fileURLWithPath: run).appendingPathComponent(SavedModel.configFile).path)
        let (trainRaw, testRaw, _) = try DataReader.load(config.data, file: config.file)
        var rng = RandomState(seed: seed).split(7)
        var train = trainRaw, test: RawData
        if let testRaw { test = testRaw } else {
            let order = rng.permutation(trainRaw.count), half = trainRaw.count / 2
            test = trainRaw.subset(Array(order[half...]).sorted())
            train = trainRaw.subset(Array(order[..<half]).sorted())
        }
        let nTest = Swift.min(count, test.count), nTrain = Swift.min(count, train.count)
        if nTest < test.count { test = test.subset(Array(rng.permutation(test.count).prefix(nTest)).sorted()) }
        train = train.subset(Array(rng.permutation(train.count).prefix(nTrain)).sorted())
        console.line("measuring \(run) with the features of \(classifier): \(count) generated, \(nTest) test, \(nTrain) training images")

        let nClasses = cls.saved.classes.count
        let labels: [Int]? = spec.classes.map { c in (0..<count).map { $0 % c } }
        let images = GANTraining.sample(generator, count: count, seed: seed, labels: labels)
        // Samples as 8-bit pixels, like the real images the classifier saw: raw = round((x + 1) / 2 * range).
        let range = file.pixelRange
        let raw = Tensor(images.toArray(Float.self).map { Float(Swift.min(Swift.max(((Double($0) + 1) * range / 2).rounded(), 0), range)) },
                         shape: images.shape)
        func featuresAndLogits(_ rawInputs: Tensor) throws -> (Tensor, Tensor) {
            let x = try cls.saved.input.apply(rawInputs.reshaped([rawInputs.shape[0]] + cls.saved.input.rawShape))
            let body = Sequential(Array(layers.dropLast())), head = layers.last!
            var f: [Tensor] = [], l: [Tensor] = []
            withoutGrad {
                for s in stride(from: 0, to: x.shape[0], by: 500) {
                    let part = body(x.slice(axis: 0, start: s, end: Swift.min(s + 500, x.shape[0])))
                    f.append(part.reshaped([part.shape[0], -1]))
                    l.append(head(part))
                }
            }
            return (concat(f, axis: 0), concat(l, axis: 0))
        }
        let (genF, genL) = try featuresAndLogits(raw)
        let (testF, testL) = try featuresAndLogits(test.inputs)
        let (trainF, _) = try featuresAndLogits(train.inputs)
        let testStats = FeatureStatistics(testF)
        let fdGen = try frechetDistance(FeatureStatistics(genF), testStats)
        let fdFloor = try frechetDistance(FeatureStatistics(trainF), testStats)

        let genPred = genL.argmax(axis: 1).toArray(Int64.self).map(Int.init)
        let testPred = testL.argmax(axis: 1).toArray(Int64.self).map(Int.init)
        let testTrue = test.targets.cast(.int64).toArray(Int64.self).map(Int.init)
        func share(_ p: [Int]) -> [Double] {
            var h = [Double](repeating: 0, count: nClasses)
            for c in p where c >= 0 && c < nClasses { h[c] += 1 }
            return h.map { $0 / Double(Swift.max(p.count, 1)) }
        }
        let genShare = share(genPred)
        var requested: Double?, perClass: [Double]?
        if let labels {
            requested = Double(zip(genPred, labels).filter { $0 == $1 }.count) / Double(count)
            perClass = (0..<nClasses).map { c in
                let idx = labels.indices.filter { labels[$0] == c }
                return Double(idx.filter { genPred[$0] == c }.count) / Double(Swift.max(idx.count, 1))
            }
        }
        let m = GANMeasurement(
            classifier: classifier, featureLayer: "penultimate layer: the \(genF.shape[1]) inputs of its last Linear",
            featureDimension: genF.shape[1], generated: count, testImages: nTest, trainImages: nTrain, seed: seed,
            frechetGeneratedTest: fdGen, frechetTrainTest: fdFloor,
            classifierTestAccuracy: Double(zip(testPred, testTrue).filter { $0 == $1 }.count) / Double(Swift.max(nTest, 1)),
            classes: cls.saved.classes, generatedClassShare: genShare, testClassShare: share(testPred),
            missingClasses: (0..<nClasses).filter { genShare[$0] < 0.01 }.map { cls.saved.classes[$0] },
            requestedClassAccuracy: requested, requestedClassAccuracyPerClass: perClass,
            seconds: Date().timeIntervalSince(start), host: ProcessInfo.processInfo.hostName, threads: Threading.threads)
        let dir = URL(fileURLWithPath: run)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        try AtomicFile.write(try e.encode(m), to: dir.appendingPathComponent(Self.file))
        let history = (try? String(contentsOf: dir.appendingPathComponent(SavedModel.historyFile), encoding: .utf8)).map(parseHistory)
        try GANReport.write(run: dir, file: file, history: history, measurement: m)
        let listed = RunDirectory.manifest(dir)
        if !listed.contains(Self.file) { try RunDirectory.writeManifest(listed + [Self.file], in: dir) }
        console.line(m.text)
        return m
    }
}

/// The GAN run's `report.html`: EmberMetrics' report page (learning curves of both losses, the final values and,
/// once measured, the figures of `ember evaluate --classifier`) with the per-epoch sample grids.
enum GANReport {
    static func write(run dir: URL, file: GANModelFile, history: History?, measurement: GANMeasurement?) throws {
        var report = EvaluationReport(title: "\(file.name) - \(file.preset)")
        report.history = history
        for (k, v) in (file.provenance.lastEpoch).sorted(by: { $0.key < $1.key }) { report.extraMetrics.append(("final " + k, v)) }
        report.extraMetrics.append(("training seconds", file.provenance.seconds))
        if let m = measurement {
            report.extraMetrics += [("FD generated vs test", m.frechetGeneratedTest), ("FD train vs test (floor)", m.frechetTrainTest),
                                    ("classifier test accuracy", m.classifierTestAccuracy)]
            if let a = m.requestedClassAccuracy { report.extraMetrics.append(("share classified as requested class", a)) }
        }
        var html = report.html()
        // The fit diagnosis compares training and validation loss, which a GAN does not have: its section goes.
        if let a = html.range(of: "<section><h2>Diagnosis:"), let b = html.range(of: "</section>\n", range: a.upperBound..<html.endIndex) {
            html.removeSubrange(a.lowerBound..<b.upperBound)
        }
        var section = "<section><h2>Samples</h2>"
        if let m = measurement {
            section += "<h3>Measurement</h3><pre>\(escapeHTML(m.text))</pre>"
        }
        let grids = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(GANRunner.samplesFolder).path))?
            .filter { $0.hasPrefix("epoch-") && $0.hasSuffix(".png") }.sorted() ?? []
        // Every epoch's grid when there are few, else the first, some in between, and the last.
        let shown = grids.count <= 6 ? grids : [grids[0], grids[grids.count / 4], grids[grids.count / 2], grids[3 * grids.count / 4], grids.last!]
        section += "<p class=\"muted\">Fixed noise, the same in every epoch\(file.spec.isConditional ? "; one column per class (\(file.classes.joined(separator: ", ")))" : "").</p><div class=\"charts\">"
        for g in shown {
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(GANRunner.samplesFolder + "/" + g).path) else { continue }
            section += "<figure><img alt=\"\(g)\" style=\"image-rendering: pixelated; width: 360px\" src=\"data:image/png;base64,\(data.base64EncodedString())\">"
                + "<figcaption>\(g.replacingOccurrences(of: ".png", with: ""))</figcaption></figure>"
        }
        section += "</div></section>\n"
        if let r = html.range(of: "<footer id=\"render-check\"") { html.insert(contentsOf: section, at: r.lowerBound) } else { html += section }
        try AtomicFile.write(Data(html.utf8), to: dir.appendingPathComponent(SavedModel.reportFile))
    }
}

/// Text for an HTML element body.
func escapeHTML(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
