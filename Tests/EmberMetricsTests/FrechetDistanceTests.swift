import EmberCore
import Foundation
import Testing
@testable import EmberMetrics

/// The Fréchet distance against numpy/scipy (scripts/golden/make_frechet_golden.py: FID's formula with
/// scipy.linalg.sqrtm), with the means and covariances it is made of.
@Suite struct FrechetDistanceTests {
    nonisolated(unsafe) static let cases: [[String: Any]] = {
        let url = Bundle.module.url(forResource: "frechet_golden", withExtension: "json", subdirectory: "Fixtures")!
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return root["cases"] as! [[String: Any]]
    }()

    static func tensor(_ j: Any) -> Tensor {
        let m = j as! [String: Any]
        return Tensor((m["data"] as! [NSNumber]).map(\.doubleValue), shape: (m["shape"] as! [NSNumber]).map(\.intValue))
    }

    static func doubles(_ j: Any) -> [Double] { (j as! [NSNumber]).map(\.doubleValue) }

    @Test(arguments: ["gaussians_6d", "identical_16d", "shifted_16d", "rank_deficient_12d"])
    func matchesScipy(_ name: String) throws {
        let c = Self.cases.first { $0["name"] as? String == name }!
        let a = FeatureStatistics(Self.tensor(c["a"]!)), b = FeatureStatistics(Self.tensor(c["b"]!))
        for (got, want, what) in [(a.mean, Self.doubles(c["mean_a"]!), "mean a"), (a.covariance, Self.doubles(c["cov_a"]!), "cov a"),
                                  (b.mean, Self.doubles(c["mean_b"]!), "mean b"), (b.covariance, Self.doubles(c["cov_b"]!), "cov b")] {
            #expect(got.count == want.count)
            for (x, y) in zip(got, want) { #expect(Swift.abs(x - y) <= 1e-11 + 1e-10 * Swift.abs(y), "\(name) \(what): \(x) vs numpy \(y)") }
        }
        let fd = try frechetDistance(a, b), want = c["fd"] as! Double, spread = c["reference_spread"] as! Double
        // Well-conditioned cases agree to ~1e-12; with singular covariances (N < D) the square roots of ~0 eigenvalues
        // amplify rounding, and the reference itself is only known to within scipy's disagreement between two
        // equivalent formulas (`reference_spread`, 2e-8 there): twice that is allowed on top.
        #expect(Swift.abs(fd - want) <= 1e-10 + 1e-11 * Swift.abs(want) + 2 * spread, "\(name): \(fd) vs scipy \(want) (spread \(spread))")
    }

    /// Known properties: a set against itself is 0, against a shifted copy the squared shift, and it is symmetric.
    @Test func properties() throws {
        var rng = RandomState(seed: 4)
        let x = matmul(Tensor.normal([200, 5], dtype: .float64, rng: &rng), Tensor.normal([5, 5], dtype: .float64, rng: &rng))
        let shift = Tensor([1.0, -2.0, 0.5, 0.0, 3.0], shape: [1, 5])
        #expect(Swift.abs(try frechetDistance(x, x)) < 1e-9)
        #expect(Swift.abs(try frechetDistance(x, x + shift) - 14.25) < 1e-9)
        let y = Tensor.normal([150, 5], mean: 0.3, dtype: .float64, rng: &rng)
        #expect(Swift.abs(try frechetDistance(x, y) - frechetDistance(y, x)) < 1e-9)
    }
}
