import Foundation
import Testing
@testable import EmberNN

/// The VAE's loss terms against PyTorch's torch.distributions on fixed float64 tensors (scripts/golden/make_vae_golden.py):
/// Bernoulli and Gaussian reconstruction log-likelihoods, the Gaussian KL, the negative ELBO per image, the annealed
/// loss and its gradients. Tolerance 1e-10: both sides are float64 sums of a few dozen terms.
@Suite struct VAEGoldenTests {
    static let fixture = Fixtures.load("nn_vae")
    static let names = fixture["cases"].array.map { $0["name"].string }

    static func t64(_ j: J) -> Tensor { Tensor(j["data"].doubles, shape: j["shape"].ints) }

    static func close(_ a: [Double], _ b: [Double], tol: Double = 1e-10) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= tol * Swift.max(1, Swift.abs($1)) }
    }

    @Test(arguments: names) func lossTermsMatchTorchDistributions(_ name: String) throws {
        let c = Fixtures.named(Self.fixture["cases"])[name]!
        let x = Self.t64(c["x"]), logits = Self.t64(c["logits"]), mu = Self.t64(c["mu"]), logVar = Self.t64(c["log_var"])
        #expect(logits.dtype == .float64)
        for p in [logits, mu, logVar] { p.requiresGrad = true }
        let likelihood: ReconstructionLoss = c["sigma"].exists ? .gaussian(sigma: c["sigma"].double) : .bernoulli
        let terms = VAELossTerms(logits: logits, target: x, mu: mu, logVar: logVar, likelihood: likelihood)
        let rec = terms.reconstruction.toArray(Double.self), kl = terms.kl.toArray(Double.self)
        #expect(Self.close(rec, c["reconstruction"].doubles), "\(name): reconstruction \(rec) vs \(c["reconstruction"].doubles)")
        #expect(Self.close(kl, c["kl"].doubles), "\(name): KL \(kl) vs \(c["kl"].doubles)")
        #expect(Self.close(terms.negativeELBO.toArray(Double.self), c["negative_elbo"].doubles), "\(name): negative ELBO")
        let loss = terms.loss(beta: c["beta"].double)
        #expect(Self.close([loss.item()], [c["loss"].double]), "\(name): loss \(loss.item()) vs \(c["loss"].double)")
        loss.backward()
        for (p, key) in [(logits, "grad_logits"), (mu, "grad_mu"), (logVar, "grad_log_var")] {
            let g = try #require(p.grad).toArray(Double.self)
            #expect(Self.close(g, c[key]["data"].doubles), "\(name): \(key)")
        }
    }

    @Test func annealingIsLinearThenOne() {
        let a = KLAnnealing(steps: 100, start: 0.2)
        #expect(a.beta(step: 0) == 0.2 && Swift.abs(a.beta(step: 50) - 0.6) < 1e-15 && a.beta(step: 100) == 1 && a.beta(step: 500) == 1)
        #expect(KLAnnealing(steps: 0).beta(step: 0) == 1)
    }

    @Test func reparameterisationIsSeededAndHasTheRightMoments() {
        let vae = ConvVAE(channels: 1, height: 8, width: 8, latent: 2, noiseSeed: 3)
        let mu = Tensor([Double](repeating: 1.5, count: 20000), shape: [10000, 2])
        let logVar = Tensor([Double](repeating: Foundation.log(0.25), count: 20000), shape: [10000, 2])
        let z = vae.reparameterize(mu: mu, logVar: logVar).toArray(Double.self)
        let mean = z.reduce(0, +) / Double(z.count)
        let sd = (z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(z.count - 1)).squareRoot()
        // 20,000 draws: the standard error of the mean is 0.5/141 = 0.0035, of the sd about 0.0025.
        #expect(Swift.abs(mean - 1.5) < 0.02 && Swift.abs(sd - 0.5) < 0.015, "mean \(mean), sd \(sd)")
        let again = ConvVAE(channels: 1, height: 8, width: 8, latent: 2, noiseSeed: 3).reparameterize(mu: mu, logVar: logVar)
        #expect(again.toArray(Double.self) == z)
    }
}
