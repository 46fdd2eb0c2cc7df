import EmberData
import Foundation
import Testing
@testable import EmberTrain

/// Short seeded GAN runs on the bundled 8x8 digits through the custom-step Trainer: the discriminator learns to tell
/// real from fake first, the generator's samples move toward the data's statistics, and an interrupted run resumes
/// bit-identically (both models, both optimizers, the noise and the GAN's counters).
@Suite(.serialized) struct GANTrainingTests {
    /// The digits as [N, 1, 8, 8] in [-1, 1] (pixel values 0...16), and their classes.
    static let digits: (x: Tensor, y: Tensor) = {
        let d = try! Datasets.digits()
        let x = (d.inputs.cast(.float32) / 8 - 1).reshaped([-1, 1, 8, 8])
        return (x, d.targets.cast(.int64))
    }()

    static func batches(_ n: Int = 512, batchSize: Int = 64, seed: UInt64 = 3) -> TensorBatches {
        TensorBatches(inputs: digits.x.slice(axis: 0, start: 0, end: n), targets: digits.y.slice(axis: 0, start: 0, end: n),
                      batchSize: batchSize, seed: seed)
    }

    /// Mean squared distance between the per-pixel mean and standard deviation of `samples` and of the data.
    static func statisticsGap(_ samples: Tensor, _ data: Tensor) -> Double {
        func stats(_ t: Tensor) -> (Tensor, Tensor) {
            let flat = t.reshaped([t.shape[0], -1]).cast(.float64)
            let mean = flat.mean(axis: 0)
            return (mean, (flat - mean).square().mean(axis: 0).sqrt())
        }
        let (ms, ss) = stats(samples), (md, sd) = stats(data)
        return ((ms - md).square().mean() + (ss - sd).square().mean()).item()
    }

    static func trainer(_ gan: GANTraining) -> Trainer {
        Trainer(models: gan.models, optimizers: gan.optimizers, state: gan.state) { batch, _ in
            gan.step(real: batch.input, labels: gan.spec.isConditional ? batch.target : nil)
        }
    }

    /// DCGAN: in the first epoch the discriminator separates real from fake (its mean probability of "real" is
    /// higher on real images, and its loss is below 2 ln 2, the loss of one that cannot tell them apart); after a few epochs the samples' per-pixel mean and spread are much closer to the
    /// digits' than the untrained generator's were; both losses stay finite and the progress bar shows both.
    @Test func dcganLearnsOnDigits() throws {
        Generator.manualSeed(1)
        let gan = GANTraining(GANSpec(channels: 1, height: 8, width: 8, latent: 16, features: 16), seed: 7, lr: 2e-3)
        let before = Self.statisticsGap(gan.sample(count: 256, seed: 5), Self.digits.x)
        var lines: [String] = []
        let h = try Self.trainer(gan).fit(Self.batches(), epochs: 6, callbacks: [ProgressBar(interactive: false) { lines.append($0) }])
        let after = Self.statisticsGap(gan.sample(count: 256, seed: 5), Self.digits.x)
        #expect(h["d_real"]![0] > h["d_fake"]![0], "first epoch: D(real) \(h["d_real"]![0]), D(fake) \(h["d_fake"]![0])")
        #expect(h["loss_d"]![0] < 2 * Foundation.log(2.0), "first epoch: discriminator loss \(h["loss_d"]![0])")
        #expect(h["loss_d"]!.allSatisfy(\.isFinite) && h["loss_g"]!.allSatisfy(\.isFinite))
        #expect(after < 0.3 * before, "statistics gap to the data: untrained \(before), trained \(after)")
        #expect(lines.first.map { $0.contains("loss_d") && $0.contains("loss_g") } == true)
    }

    /// WGAN-GP: once the critic has had some steps its Wasserstein estimate is positive (it ranks real above fake),
    /// the penalty stays finite, the generator steps once per `criticSteps` batches, and the samples move toward the
    /// data (the statistics gap at least halves in 80 generator steps; WGAN-GP converges more slowly than DCGAN).
    @Test func wganGPLearnsOnDigits() throws {
        Generator.manualSeed(1)
        let spec = GANSpec(channels: 1, height: 8, width: 8, latent: 16, features: 16, loss: .wasserstein, criticSteps: 2)
        let gan = GANTraining(spec, seed: 7, lr: 1e-3, betas: (0.5, 0.9))
        let before = Self.statisticsGap(gan.sample(count: 256, seed: 5), Self.digits.x)
        let h = try Self.trainer(gan).fit(Self.batches(1024), epochs: 10)
        let after = Self.statisticsGap(gan.sample(count: 256, seed: 5), Self.digits.x)
        #expect(h["wasserstein"]!.suffix(5).allSatisfy { $0 > 0 }, "Wasserstein estimates \(h["wasserstein"]!)")
        #expect(h["gp"]!.allSatisfy { $0.isFinite && $0 >= 0 })
        #expect(gan.counters.steps == 160)
        #expect(after < 0.5 * before, "statistics gap to the data: untrained \(before), trained \(after); W \(h["wasserstein"]!)")
    }

    /// Conditional GAN: samples drawn for a class are closer to that class's mean image than to the other classes'
    /// means, for most classes, after a short run.
    @Test func conditionalGANFollowsTheRequestedClass() throws {
        Generator.manualSeed(1)
        let gan = GANTraining(GANSpec(channels: 1, height: 8, width: 8, latent: 16, features: 16, classes: 10), seed: 7, lr: 2e-3)
        _ = try Self.trainer(gan).fit(Self.batches(1024), epochs: 8)
        let x = Self.digits.x.reshaped([Self.digits.x.shape[0], -1]).toArray(Float.self), labels = Self.digits.y.toArray(Int64.self)
        var means = [[Double]](repeating: [Double](repeating: 0, count: 64), count: 10), counts = [Double](repeating: 0, count: 10)
        for (i, c) in labels.enumerated() {
            counts[Int(c)] += 1
            for j in 0..<64 { means[Int(c)][j] += Double(x[i * 64 + j]) }
        }
        for c in 0..<10 { means[c] = means[c].map { $0 / counts[c] } }
        var right = 0
        for c in 0..<10 {
            let s = gan.sample(count: 32, seed: 11, labels: Array(repeating: c, count: 32)).reshaped([32, 64]).mean(axis: 0).toArray(Float.self)
            let dist = means.map { m in zip(m, s).reduce(0.0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) } }
            if dist.firstIndex(of: dist.min()!) == c { right += 1 }
        }
        #expect(right >= 7, "classes whose samples are nearest their own class mean: \(right) of 10")
    }

    /// A WGAN-GP run interrupted in epoch 2 and resumed in a fresh set of objects (other seeds) ends with the same
    /// bits in both models, both optimizers, the noise and the counters, and the same history.
    @Test func interruptedGANResumesBitIdentically() throws {
        let spec = GANSpec(channels: 1, height: 8, width: 8, latent: 8, features: 4, classes: 10, loss: .wasserstein, criticSteps: 3)
        let data = Self.batches(160, batchSize: 32)   // 5 batches per epoch
        func run(_ gan: GANTraining, stopAfter: Int?, resume: URL?, dir: URL) throws -> History {
            Generator.manualSeed(41)
            var cbs: [Callback] = [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1)]
            if let s = stopAfter { cbs.append(StopAfter(steps: s)) }
            return try Self.trainer(gan).fit(data, epochs: 3, callbacks: cbs, resumeFrom: resume)
        }
        let full = GANTraining(spec, seed: 5)
        let fullHistory = try run(full, stopAfter: nil, resume: nil, dir: tempDirectory())
        let dir = tempDirectory()
        _ = try run(GANTraining(spec, seed: 5), stopAfter: 7, resume: nil, dir: dir)
        let resumed = GANTraining(spec, seed: 999)
        let resumedHistory = try run(resumed, stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: dir)
        #expect(bits(resumed.generator) == bits(full.generator))
        #expect(bits(resumed.discriminator) == bits(full.discriminator))
        #expect(optimizerBits(resumed.generatorOptimizer) == optimizerBits(full.generatorOptimizer))
        #expect(optimizerBits(resumed.discriminatorOptimizer) == optimizerBits(full.discriminatorOptimizer))
        #expect(resumed.noise.state == full.noise.state)
        #expect(resumed.counters.steps == 15 && full.counters.steps == 15)
        #expect(resumed.counters.lastGeneratorLoss.bitPattern == full.counters.lastGeneratorLoss.bitPattern)
        #expect(resumedHistory == fullHistory)
    }
}
