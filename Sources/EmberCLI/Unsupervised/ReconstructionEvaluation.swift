import EmberTrack
import EmberUnsupervised
import Foundation

/// The test-set measurements and figures of a reconstruction run.
struct ReconstructionEvaluation {
    var metrics: [String: Double] = [:]
    var summary: [String] = []

    static let chunk = 500

    /// Runs `body` over the test images in chunks of `chunk` (evaluation mode, no gradients) and concatenates the
    /// per-image values it returns.
    static func perImage(_ test: ReconstructionRunner.Images, _ body: (Tensor) -> [Tensor]) -> [[Double]] {
        var out: [[Double]] = []
        var s = 0
        while s < test.count {
            let e = Swift.min(test.count, s + chunk)
            let values = withoutGrad { body(test.tensor(s..<e)).map { $0.toArray(Double.self) } }
            if out.isEmpty { out = values } else { for i in values.indices { out[i] += values[i] } }
            s = e
        }
        return out
    }

    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(Swift.max(v.count, 1)) }

    static func run(_ c: ReconstructionConfig, model: Module, test: ReconstructionRunner.Images, classNames: [String],
                    history: History, trainingSeconds: Double, directory dir: URL, tensorboard: TensorBoardLogger?) throws -> ReconstructionEvaluation {
        var ev = ReconstructionEvaluation()
        var report = EvaluationReport(title: "\(c.name): \(c.preset.rawValue) on \(c.dataset)")
        report.history = history
        let latent: Int
        let encode: (Tensor) -> Tensor, decode: (Tensor) -> Tensor
        var mse: [Double]
        switch model {
        case let ae as ConvAutoEncoder:
            let v = perImage(test) { x in
                let logits = ae.decodeLogits(ae.encode(x))
                let r = logits.sigmoid()
                return [(r - x).square().mean(axes: [1, 2, 3]), ae.reconstruction.perImage(logits: logits, target: x)]
            }
            mse = v[0]
            ev.metrics["test_reconstruction_nll"] = mean(v[1])
            encode = ae.encode; decode = ae.decode; latent = ae.latent
        case let vae as ConvVAE:
            // One reparameterised sample per image from a generator seeded for evaluation: the figure is reproducible.
            vae.noise.state = RandomState(seed: c.seed &+ 100)
            let v = perImage(test) { x in
                let t = vae.lossTerms(x)
                let r = vae(x)
                return [(r - x).square().mean(axes: [1, 2, 3]), t.reconstruction, t.kl]
            }
            mse = v[0]
            let nelbo = zip(v[1], v[2]).map { $0 + $1 }
            ev.metrics["test_reconstruction_nll"] = mean(v[1])
            ev.metrics["test_kl"] = mean(v[2])
            ev.metrics["test_elbo"] = -mean(nelbo)
            encode = { vae.encode($0).mu }; decode = vae.decode; latent = vae.latent
        default:
            preconditionFailure("ReconstructionEvaluation: not an autoencoder or VAE")
        }
        ev.metrics["test_mse"] = mean(mse)
        ev.metrics["training_seconds"] = trainingSeconds
        ev.metrics["test_images"] = Double(test.count)
        let likelihood = c.likelihood == .bernoulli ? "Bernoulli" : "Gaussian"
        ev.summary.append(String(format: "test reconstruction: MSE %.5f per pixel, %@ NLL %.2f nats per image", ev.metrics["test_mse"]!,
                                 likelihood, ev.metrics["test_reconstruction_nll"]!))
        if let elbo = ev.metrics["test_elbo"] {
            ev.summary.append(String(format: "test ELBO: %.2f nats per image (reconstruction %.2f + KL %.2f; one z sample per image)",
                                     elbo, ev.metrics["test_reconstruction_nll"]!, ev.metrics["test_kl"]!))
        }

        // Anomaly detection: the held-out class should reconstruct worse.
        if let h = c.holdoutClass {
            let y = test.labels.map { $0 == h ? 1 : 0 }
            if y.contains(1) && y.contains(0) {
                let auc = try rocAUC(y, mse)
                ev.metrics["anomaly_roc_auc"] = auc
                ev.summary.append(String(format: "anomaly detection: ROC-AUC %.4f of finding class %d (%@) by reconstruction MSE",
                                         auc, h, classNames[h]))
                for k in Set(test.labels).sorted() {
                    let e = zip(test.labels, mse).filter { $0.0 == k }.map(\.1)
                    ev.metrics["test_mse_class_\(k)"] = mean(e)
                }
            }
        }

        // Codes of the test images: k-means against the classes, and a 2-D PCA for the scatter plot.
        let codes = perImage(test) { [encode($0).reshaped([-1])] }[0]
        let rows = (0..<test.count).map { Array(codes[($0 * latent)..<(($0 + 1) * latent)]) }
        if c.clusters >= 2 && test.count >= c.clusters {
            var rng = RandomState(seed: c.seed &+ 200)
            var km = KMeans(clusters: c.clusters, nInit: 4)
            try km.fit(rows, rng: &rng)
            let ari = try adjustedRandScore(test.labels, km.labels), nmi = try normalizedMutualInfoScore(test.labels, km.labels)
            ev.metrics["kmeans_codes_ari"] = ari
            ev.metrics["kmeans_codes_nmi"] = nmi
            ev.summary.append(String(format: "k-means (k=%d) on the %d-d test codes: ARI %.4f, NMI %.4f against the classes", c.clusters, latent, ari, nmi))
        }
        if c.clusters >= 2 && test.count >= Swift.max(c.clusters, 3) {
            // The baseline: k-means on the leading principal components of the raw pixels.
            let pixels = (0..<test.count).map { i in test.x[(i * test.perImage)..<((i + 1) * test.perImage)].map(Double.init) }
            let k = Swift.min(50, test.perImage, test.count - 1)
            var pixelPCA = PCA(components: .count(k))
            let reduced = try pixelPCA.fitTransform(pixels)
            var rng = RandomState(seed: c.seed &+ 201)
            var km = KMeans(clusters: c.clusters, nInit: 4)
            try km.fit(reduced, rng: &rng)
            let ari = try adjustedRandScore(test.labels, km.labels), nmi = try normalizedMutualInfoScore(test.labels, km.labels)
            ev.metrics["kmeans_pixels_pca\(k)_ari"] = ari
            ev.metrics["kmeans_pixels_pca\(k)_nmi"] = nmi
            ev.summary.append(String(format: "k-means (k=%d) on %d principal components of the test pixels (baseline): ARI %.4f, NMI %.4f",
                                     c.clusters, k, ari, nmi))
        }
        var pca = PCA(components: .count(Swift.min(2, latent)))
        let projected = try pca.fitTransform(rows)
        if latent >= 2 {
            report.figures.append(.scatter(title: "Test codes, first two principal components", caption:
                String(format: "PCA of the %d-d codes of %d test images (explained variance %.1f%% + %.1f%%), coloured by true class.",
                       latent, test.count, 100 * pca.explainedVarianceRatio[0], 100 * pca.explainedVarianceRatio[1]),
                x: projected.map { $0[0] }, y: projected.map { $0[1] }, labels: test.labels, labelNames: classNames,
                xLabel: "PC 1", yLabel: "PC 2"))
        }

        // Figures: reconstructions, interpolations, samples.
        let n = Swift.min(16, test.count)
        let originals = test.tensor(0..<n)
        let grids: [(String, String, Tensor, Int)] = withoutGrad {
            let recon = decode(encode(originals))
            var pairs: [Tensor] = []
            for i in 0..<n { pairs.append(originals[i..<(i + 1)]); pairs.append(recon[i..<(i + 1)]) }
            let reconGrid = concat(pairs, axis: 0)
            let z = encode(originals)
            var interp: [Tensor] = []
            let rowsN = Swift.min(8, n / 2)
            for r in 0..<rowsN {
                let a = z[(2 * r)..<(2 * r + 1)], b = z[(2 * r + 1)..<(2 * r + 2)]
                for s in 0..<10 {
                    let t = Double(s) / 9
                    interp.append(decode(a * (1 - t) + b * t))
                }
            }
            var srng = RandomState(seed: c.seed &+ 300)
            let samples: Tensor
            let sampleCaption: String
            if let vae = model as? ConvVAE {
                samples = vae.sample(64, rng: &srng)
                sampleCaption = "64 images decoded from z ~ N(0, I)."
            } else {
                // An autoencoder has no prior: sample each code dimension from a normal fitted to the test codes.
                var mu = [Double](repeating: 0, count: latent), sd = mu
                for row in rows { for j in 0..<latent { mu[j] += row[j] / Double(rows.count) } }
                for row in rows { for j in 0..<latent { sd[j] += (row[j] - mu[j]) * (row[j] - mu[j]) / Double(rows.count) } }
                let eps = Tensor.normal([64, latent], dtype: .float64, rng: &srng).toArray(Double.self)
                let zs = (0..<(64 * latent)).map { Float(mu[$0 % latent] + sd[$0 % latent].squareRoot() * eps[$0]) }
                samples = decode(Tensor(zs, shape: [64, latent]))
                sampleCaption = "64 images decoded from codes drawn from independent normals fitted to the test codes (an autoencoder has no prior)."
            }
            return [("reconstructions", "Test images (odd columns) and their reconstructions (even columns).", reconGrid, 8),
                    ("interpolations", "Each row decodes 10 evenly spaced points on the line between the codes of two test images.",
                     interp.isEmpty ? reconGrid : concat(interp, axis: 0), 10),
                    ("samples", sampleCaption, samples, 8)]
        }
        for (name, caption, images, columns) in grids {
            let image = try RasterImage.grid(images.clamp(min: 0, max: 1), columns: columns, padding: 2, range: 0...1)
            let png = try image.pngData()
            try AtomicFile.write(Data(png), to: dir.appendingPathComponent(name + ".png"))
            report.figures.append(.png(title: name, caption: caption, data: png, width: image.width, height: image.height, scale: 3))
            try tensorboard?.logImage("images/" + name, image, step: history.epochs)
        }
        report.extraMetrics = ev.metrics.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        try AtomicFile.write(Data(report.html().utf8), to: dir.appendingPathComponent(SavedModel.reportFile))
        let json = try JSONSerialization.data(withJSONObject: ev.metrics.mapValues { $0.isFinite ? $0 as Any : "\($0)" as Any },
                                              options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json + Data("\n".utf8), to: dir.appendingPathComponent(SavedModel.metricsFile))
        ev.summary.append(String(format: "training time: %.1f s", trainingSeconds))
        return ev
    }
}
