import EmberData
import Foundation
import Testing
@testable import EmberTrain

/// Short seeded autoencoder / VAE runs on a subset of scikit-learn's 8×8 digits (intensities in [0, 1]): the losses
/// move the right way, and an interrupted VAE run resumes bit-identically.
@Suite(.serialized) struct ReconstructionTrainingTests {
    static let images: Tensor = {
        let d = try! Datasets.digits()
        let x = d.inputs.toArray(Float.self).prefix(320 * 64).map { $0 / 16 }
        return Tensor(Array(x), shape: [320, 1, 8, 8])
    }()
    static var train: TensorBatches { TensorBatches(inputs: images[0..<256], targets: Tensor.zeros([256]), batchSize: 32, seed: 4) }
    static var held: TensorBatches { TensorBatches(inputs: images[256..<320], targets: Tensor.zeros([64]), batchSize: 64, shuffle: false) }

    @Test func denoisingAutoencoderReconstructionErrorFalls() throws {
        let ae = ConvAutoEncoder(channels: 1, height: 8, width: 8, latent: 8, noiseStd: 0.2, generator: Generator(seed: 1), noiseSeed: 2)
        let trainer = Trainer.autoencoder(ae, optimizer: Adam(ae.parameters, lr: 3e-3))
        let before = try trainer.evaluate(Self.held)
        let h = try trainer.fit(Self.train, validation: Self.held, epochs: 6)
        let after = try trainer.evaluate(Self.held)
        // Held-out images: the per-pixel MSE and the per-image BCE both fall well below the untrained network's.
        #expect(after["mse"]! < 0.6 * before["mse"]!, "MSE \(before["mse"]!) -> \(after["mse"]!)")
        #expect(after["loss"]! < before["loss"]!, "BCE \(before["loss"]!) -> \(after["loss"]!)")
        let losses = h["loss"]!
        #expect(losses.last! < losses.first!, "training loss by epoch: \(losses)")
    }

    @Test func vaeNegativeELBOFallsWithAnnealing() throws {
        let vae = ConvVAE(channels: 1, height: 8, width: 8, latent: 4, generator: Generator(seed: 1), noiseSeed: 2)
        let trainer = Trainer.vae(vae, optimizer: Adam(vae.parameters, lr: 3e-3), annealing: KLAnnealing(steps: 16))
        let before = try trainer.evaluate(Self.held)
        let h = try trainer.fit(Self.train, validation: Self.held, epochs: 6)
        let after = try trainer.evaluate(Self.held)
        #expect(after["nelbo"]! < before["nelbo"]! - 2, "held-out negative ELBO \(before["nelbo"]!) -> \(after["nelbo"]!) nats")
        let beta = h["beta"]!
        #expect(beta.first! < 0.5 && beta.last! == 1, "beta by epoch (mean): \(beta)")
        #expect(h["nelbo"]!.last! < h["nelbo"]!.first!)
        #expect(h["kl"]!.allSatisfy { $0 >= 0 })
    }

    @Test func interruptedVAEResumesBitIdentically() throws {
        func make() -> (ConvVAE, Adam, Trainer) {
            let vae = ConvVAE(channels: 1, height: 8, width: 8, latent: 4, generator: Generator(seed: 11), noiseSeed: 12)
            let opt = Adam(vae.parameters, lr: 3e-3)
            return (vae, opt, Trainer.vae(vae, optimizer: opt, annealing: KLAnnealing(steps: 10)))
        }
        func bits(_ m: Module) -> [String: [UInt32]] {
            var out: [String: [UInt32]] = [:]
            for (n, t) in m.stateDict() where t.dtype == .float32 { out[n] = t.scalars.map(\.bitPattern) }
            return out
        }
        let (full, fullOpt, fullTrainer) = make()
        let fullHistory = try fullTrainer.fit(Self.train, validation: Self.held, epochs: 2)
        let dir = tempDirectory()
        let (_, _, first) = make()
        _ = try first.fit(Self.train, validation: Self.held, epochs: 2,
                          callbacks: [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1), StopAfter(steps: 11)])
        // A fresh process with other initial weights and another noise seed: everything must come from the checkpoint.
        let vae = ConvVAE(channels: 1, height: 8, width: 8, latent: 4, generator: Generator(seed: 99), noiseSeed: 98)
        let opt = Adam(vae.parameters, lr: 3e-3)
        let resumed = Trainer.vae(vae, optimizer: opt, annealing: KLAnnealing(steps: 10))
        let resumedHistory = try resumed.fit(Self.train, validation: Self.held, epochs: 2,
                                             resumeFrom: dir.appendingPathComponent("last.ckpt.safetensors"))
        #expect(bits(vae) == bits(full))
        #expect(optimizerBits(opt) == optimizerBits(fullOpt))
        #expect(vae.noise.state == full.noise.state)
        #expect(resumedHistory == fullHistory)
    }
}
