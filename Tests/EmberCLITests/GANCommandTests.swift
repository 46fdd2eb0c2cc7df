import EmberData
import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// `ember train` with the GAN presets on the digits (tiny, seeded), `ember generate` for GAN runs and
/// `ember evaluate --classifier`.
@Suite(.serialized) struct GANCommandTests {
    static func config(_ preset: String, epochs: Int = 2, options: String = "{latent: 8, features: 8}") -> String {
        """
        data:
          dataset: digits
          shape: [1, 8, 8]
          limit: {train: 256}
        model:
          preset: \(preset)
          options: \(options)
        training:
          optimizer: {name: adam, lr: 0.002, betas: [0.5, 0.999]}
          batch_size: 64
          epochs: \(epochs)
          seed: 3
          callbacks:
            checkpoint: {every_batches: 2}
        """
    }

    static func train(_ preset: String, in dir: URL, options: String = "{latent: 8, features: 8}", stopAfter: Int? = nil,
                      resume: Bool = false) throws -> GANOutcome {
        let path = write(config(preset, options: options), "\(preset).yaml", in: dir)
        var o = trainOptions(path, dir: dir.appendingPathComponent(preset))
        o.stopAfterBatches = stopAfter
        o.resume = resume
        return try GANRunner.run(o, console: CapturedConsole().console)
    }

    /// A DCGAN run writes the model, history with both losses, a sample grid per epoch (also in TensorBoard) and a
    /// report holding the grids; the saved generator reproduces the in-memory one.
    @Test func dcganRunWritesItsOutputs() throws {
        let dir = tempDirectory("gan")
        let run = try Self.train("dcgan", in: dir)
        let rd = run.runDirectory
        let fm = FileManager.default
        for f in ["model.json", "model.safetensors", "history.csv", "metrics.json", "report.html", "samples/epoch-001.png", "samples/epoch-002.png"] {
            #expect(fm.fileExists(atPath: rd.appendingPathComponent(f).path), "\(f) missing")
        }
        let history = try String(contentsOf: rd.appendingPathComponent("history.csv"), encoding: .utf8)
        #expect(history.hasPrefix("epoch,") && history.contains("loss_d") && history.contains("loss_g"))
        let grid = try RasterImage(contentsOf: rd.appendingPathComponent("samples/epoch-002.png").path)
        #expect(grid.width == 8 * 10 + 2 && grid.height == 8 * 10 + 2 && grid.channels == 1)
        let report = try String(contentsOf: rd.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(report.contains("<h2>Samples</h2>") && report.contains("data:image/png;base64,") && report.contains("loss_g"))
        #expect(!report.contains("Diagnosis:"))
        let events = try fm.contentsOfDirectory(atPath: rd.appendingPathComponent("tensorboard").path)
        let event = try Data(contentsOf: rd.appendingPathComponent("tensorboard/" + events[0]))
        #expect(event.range(of: Data("samples/generated".utf8)) != nil)
        let (file, generator) = try GANModelFile.load(from: rd.path)
        #expect(file.preset == "dcgan" && file.spec.classes == nil && file.pixelRange == 16)
        let a = generator(Tensor.ones([2, 8]), labels: nil).toArray(Float.self)
        run.gan.generator.eval()
        #expect(a == run.gan.generator(Tensor.ones([2, 8]), labels: nil).toArray(Float.self))
    }

    /// Interrupted after 3 batches and resumed through the command path, the run ends with the same weights as one
    /// that was never interrupted.
    @Test func interruptedRunResumesBitIdentically() throws {
        let full = try Self.train("wgan-gp", in: tempDirectory("gan"), options: "{latent: 8, features: 8, critic_steps: 2}")
        let dir = tempDirectory("gan")
        let stopped = try Self.train("wgan-gp", in: dir, options: "{latent: 8, features: 8, critic_steps: 2}", stopAfter: 3)
        #expect(stopped.interrupted)
        let resumed = try Self.train("wgan-gp", in: dir, options: "{latent: 8, features: 8, critic_steps: 2}", resume: true)
        #expect(!resumed.interrupted)
        #expect(bits(resumed.gan.generator) == bits(full.gan.generator))
        #expect(bits(resumed.gan.discriminator) == bits(full.gan.discriminator))
        #expect(resumed.history == full.history)
    }

    /// `ember generate` for GAN runs: PNG grids and .npy arrays; the same seed gives the same bits; --class is refused
    /// for an unconditional GAN and checked for a conditional one; a file not written by ember is left alone.
    @Test func generateWritesGridsAndArrays() throws {
        let dir = tempDirectory("gan")
        let dcgan = try Self.train("dcgan", in: dir).runDirectory.path
        let cgan = try Self.train("cgan", in: dir, options: "{latent: 8, features: 8, embedding: 4}").runDirectory.path
        let console = CapturedConsole().console
        let png = dir.appendingPathComponent("grid.png").path
        try GANGenerate.run(model: dcgan, count: 64, classLabel: nil, seed: 1, output: png, console: console)
        let first = try Data(contentsOf: URL(fileURLWithPath: png))
        let image = try RasterImage(contentsOf: png)
        #expect(image.width == 8 * 10 + 2 && image.height == 8 * 10 + 2)
        try GANGenerate.run(model: dcgan, count: 64, classLabel: nil, seed: 1, output: png, console: console)   // ours: replaced
        #expect(try Data(contentsOf: URL(fileURLWithPath: png)) == first)
        try GANGenerate.run(model: dcgan, count: 64, classLabel: nil, seed: 2, output: png, console: console)
        #expect(try Data(contentsOf: URL(fileURLWithPath: png)) != first)

        // .npy: float32 [N, 1, 8, 8] in [-1, 1], readable by EmberData's reader; the same seed gives the same values.
        let npy = dir.appendingPathComponent("s.npy").path
        try GANGenerate.run(model: dcgan, count: 5, classLabel: nil, seed: 1, output: npy, console: console)
        let array = try NPYArray(path: npy)
        #expect(array.descr == "<f4" && array.shape == [5, 1, 8, 8] && array.data.count == 5 * 64 * 4)
        let (_, g) = try GANModelFile.load(from: dcgan)
        let direct = GANTraining.sample(g, count: 5, seed: 1).toArray(Float.self)
        #expect(array.data == direct.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })

        // --class: refused for an unconditional GAN, by index or name for a conditional one.
        #expect(throws: CLIError.self) { try GANGenerate.run(model: dcgan, count: 4, classLabel: "3", seed: 1, output: png, console: console) }
        do { try GANGenerate.run(model: dcgan, count: 4, classLabel: "3", seed: 1, output: png, console: console) } catch {
            #expect("\(error)".contains("unconditional GAN (dcgan)"))
        }
        let (labels3) = try GANGenerate.run(model: cgan, count: 8, classLabel: "3", seed: 1, output: npy, console: console).labels
        #expect(labels3 == Array(repeating: 3, count: 8))
        do { try GANGenerate.run(model: cgan, count: 8, classLabel: "12", seed: 1, output: npy, console: console); Issue.record("no error") } catch {
            #expect("\(error)".contains("expected a class index 0...9"))
        }
        let cycled = try GANGenerate.run(model: cgan, count: 20, classLabel: nil, seed: 1, output: png, console: console).labels
        #expect(cycled == (0..<20).map { $0 % 10 })

        // Files ember did not write are refused and left as they were.
        let mine = dir.appendingPathComponent("mine.png")
        try Data(try RasterImage(width: 3, height: 3, channels: 1, fill: [7]).pngData()).write(to: mine)
        let before = try Data(contentsOf: mine)
        do { try GANGenerate.run(model: dcgan, count: 4, classLabel: nil, seed: 1, output: mine.path, console: console); Issue.record("no error") } catch {
            #expect("\(error)".contains("was not written by `ember generate`"))
        }
        #expect(try Data(contentsOf: mine) == before)
        let other = write("{'a': 1}", "other.npy", in: dir)
        #expect(throws: CLIError.self) { try GANGenerate.run(model: dcgan, count: 4, classLabel: nil, seed: 1, output: other, console: console) }
        #expect(throws: CLIError.self) { try GANGenerate.run(model: dcgan, count: 4, classLabel: nil, seed: 1, output: dir.path, console: console) }
        #expect(throws: CLIError.self) { try GANGenerate.run(model: dcgan, count: 4, classLabel: nil, seed: 1, output: "x.jpg", console: console) }
    }

    /// NumPy reads the `.npy` files `ember generate` writes (the marker is a header comment).
    @Test(needs(FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent(".venv-test/bin/python").path),
                ".venv-test with numpy"))
    func numpyReadsGeneratedArrays() throws {
        let dir = tempDirectory("gan")
        let dcgan = try Self.train("dcgan", in: dir).runDirectory.path
        let npy = dir.appendingPathComponent("s.npy").path
        try GANGenerate.run(model: dcgan, count: 3, classLabel: nil, seed: 4, output: npy, console: CapturedConsole().console)
        let r = try runTool(repositoryRoot.appendingPathComponent(".venv-test/bin/python").path,
                            ["-c", "import numpy as np, sys; a = np.load(sys.argv[1]); print(a.dtype, a.shape, float(a.min()) >= -1, float(a.max()) <= 1)", npy])
        #expect(r.stdout.contains("float32 (3, 1, 8, 8) True True"), "\(r.stdout) \(r.stderr)")
    }

    /// `ember evaluate GAN_RUN --classifier CLS_RUN` on the digits: the figures are in range, the floor (train vs
    /// test) is below the distance of an untrained generator's samples, and the results land in evaluation.json and
    /// the report.
    @Test func evaluateMeasuresWithAClassifier() throws {
        let dir = tempDirectory("gan")
        let clsConfig = write("""
            data:
              dataset: digits
              shape: [1, 8, 8]
              split: {test: 0.2, validation: 0}
            model:
              preset: mlp
              options: {hidden: [32]}
            training:
              optimizer: {name: adamw, lr: 0.01}
              batch_size: 64
              epochs: 3
              seed: 1
            """, "cls.yaml", in: dir)
        let cls = try TrainRunner.run(trainOptions(clsConfig, dir: dir.appendingPathComponent("cls")), console: CapturedConsole().console)
        let gan = try Self.train("cgan", in: dir, options: "{latent: 8, features: 8, embedding: 4}")
        let m = try GANEvaluation.run(model: gan.runDirectory.path, classifier: cls.runDirectory.path, count: 400, seed: 1,
                                      console: CapturedConsole().console)
        #expect(m.featureDimension == 32 && m.generated == 400 && m.testImages == 400 && m.trainImages == 400)
        #expect(m.frechetTrainTest >= 0 && m.frechetGeneratedTest > m.frechetTrainTest,
                "FD generated \(m.frechetGeneratedTest), floor \(m.frechetTrainTest)")
        #expect(Swift.abs(m.generatedClassShare.reduce(0, +) - 1) < 1e-9 && Swift.abs(m.testClassShare.reduce(0, +) - 1) < 1e-9)
        #expect(m.classifierTestAccuracy > 0.8)
        #expect(m.requestedClassAccuracy.map { (0...1).contains($0) } == true && m.requestedClassAccuracyPerClass?.count == 10)
        let saved = try Data(contentsOf: gan.runDirectory.appendingPathComponent("evaluation.json"))
        #expect(String(decoding: saved, as: UTF8.self).contains("frechetGeneratedTest"))
        let report = try String(contentsOf: gan.runDirectory.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(report.contains("FD generated vs test") && report.contains("Measurement"))
        // A regression model or a mismatched input shape is refused with a message.
        #expect(throws: (any Error).self) {
            try GANEvaluation.run(model: gan.runDirectory.path, classifier: gan.runDirectory.path, count: 10, console: CapturedConsole().console)
        }
    }
}
