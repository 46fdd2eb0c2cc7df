import EmberData
import EmberUnsupervised
import Foundation
import Testing
@testable import EmberCLI

/// `ember train` with `task: reconstruction` on the bundled digits: files, figures, metrics, anomaly ROC-AUC,
/// resume, and typed errors for bad configs.
@Suite(.serialized) struct ReconstructionRunTests {
    static let quiet = Console(write: { _ in }, writeError: { _ in })
    static let aeConfig = """
        task: reconstruction
        data: {dataset: digits, validation: 0.1, holdout_class: 0}
        model: {preset: conv-autoencoder, latent: 6, noise_std: 0.1}
        training: {optimizer: {name: adam, lr: 0.003}, batch_size: 32, epochs: 3, seed: 0}
        evaluation: {clusters: 10}
        """
    static let vaeConfig = """
        task: reconstruction
        data: {dataset: digits, validation: 0.1}
        model: {preset: conv-vae, latent: 4}
        training: {optimizer: {name: adam, lr: 0.003}, batch_size: 32, epochs: 2, seed: 1, kl_annealing: {steps: 40}, checkpoint: {every_batches: 5}}
        evaluation: {clusters: 0}
        tracking: {tensorboard: true}
        """

    @Test func autoencoderRunWritesMetricsFiguresAndFindsTheHeldOutClass() throws {
        let dir = tempDirectory("recon")
        let path = write(Self.aeConfig, "ae.yaml", in: dir)
        let run = dir.appendingPathComponent("run")
        let out = try ReconstructionRunner.run(trainOptions(path, dir: run), console: Self.quiet)
        #expect(!out.interrupted)
        for f in ["config.yaml", "model.safetensors", "metrics.json", "report.html", "history.csv", "reconstructions.png",
                  "interpolations.png", "samples.png", "last.ckpt.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(f).path), "\(f) missing")
        }
        let png = try RasterImage(contentsOf: run.appendingPathComponent("reconstructions.png").path)
        #expect(png.width == 8 * 8 + 9 * 2 && png.height == 4 * 8 + 5 * 2, "a 8x4 grid of 8x8 images with 2-pixel padding: \(png.width)x\(png.height)")
        let m = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json"))) as? [String: Any])
        let auc = try #require(m["anomaly_roc_auc"] as? Double)
        // Zeros never seen in training reconstruct worse than the other digits: well above chance even after 3 short epochs.
        #expect(auc > 0.6 && auc <= 1, "ROC-AUC \(auc)")
        let mse0 = try #require(m["test_mse_class_0"] as? Double), mse1 = try #require(m["test_mse_class_1"] as? Double)
        #expect(mse0 > mse1)
        #expect((m["kmeans_codes_ari"] as? Double).map { $0 > 0.05 } == true, "ARI \(m["kmeans_codes_ari"] ?? "missing")")
        let html = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("data-chart=\"scatter\"") && html.contains("data:image/png;base64,"))
        #expect(out.history["val_loss"]?.count == 3 && out.history["loss"]!.last! < out.history["loss"]!.first!)
        // Commands for classifier and regression runs say what this run is, not that it did not finish.
        do {
            _ = try SavedModel.load(from: run.path)
            Issue.record("a reconstruction run loaded as a classifier")
        } catch let e as CLIError {
            #expect(e.description.contains("is a reconstruction run"), "\(e)")
        }
    }

    @Test func interruptedVAERunResumesToTheSameModel() throws {
        let dir = tempDirectory("recon")
        let path = write(Self.vaeConfig, "vae.yaml", in: dir)
        let full = try ReconstructionRunner.run(trainOptions(path, dir: dir.appendingPathComponent("full")), console: Self.quiet)
        var o = trainOptions(path, dir: dir.appendingPathComponent("cut"))
        o.stopAfterBatches = 50
        let cut = try ReconstructionRunner.run(o, console: Self.quiet)
        #expect(cut.interrupted)
        o.stopAfterBatches = nil
        o.resume = true
        let resumed = try ReconstructionRunner.run(o, console: Self.quiet)
        #expect(bits(resumed.model) == bits(full.model))
        #expect(resumed.metrics == full.metrics.filter { $0.key != "training_seconds" }.merging(["training_seconds": resumed.metrics["training_seconds"]!]) { $1 })
        #expect(full.metrics["test_elbo"]! < 0 && full.metrics["test_kl"]! > 0)
        let tb = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("full/tensorboard").path)
        #expect(tb.contains { $0.hasPrefix("events.out.tfevents") })
    }

    @Test func badConfigsNameTheKey() {
        func message(_ yaml: String) -> String {
            do { _ = try ReconstructionConfig.parse(yaml); return "parsed" } catch { return "\(error)" }
        }
        let base = "task: reconstruction\ndata: {dataset: digits}\n"
        #expect(message(base + "model: {preset: gan}").contains("model.preset"))
        #expect(message(base + "model: {preset: conv-vae, noise_std: 0.2}").contains("noise_std is an option of conv-autoencoder"))
        #expect(message(base + "model: {preset: conv-vae, latent: 0}").contains("model.latent"))
        #expect(message("task: reconstruction\ndata: {dataset: cifar10}\nmodel: {preset: conv-vae}").contains("data.dataset"))
        #expect(message(base + "model: {preset: conv-autoencoder}\ntraining: {kl_annealing: {steps: 10}}").contains("kl_annealing is an option of conv-vae"))
        #expect(message(base + "model: {preset: conv-vae}\ntraining: {epochs: many}").contains("training.epochs"))
        #expect(message(base + "model: {preset: conv-vae}\nextra: 1").contains("extra"))
        #expect(ReconstructionConfig.isReconstruction(base) && !ReconstructionConfig.isReconstruction("data: {dataset: digits}"))
    }

    @Test func exampleConfigsParse() throws {
        for name in ["fashion-vae.yaml", "fashion-ae-anomaly.yaml"] {
            let text = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/" + name), encoding: .utf8)
            #expect(ReconstructionConfig.isReconstruction(text))
            let c = try ReconstructionConfig.parse(text, file: name)
            #expect(c.dataset == "fashion-mnist" && c.epochs >= 1)
        }
    }
}
