import EmberCore
import Foundation
import Testing
@testable import EmberMetrics

/// The Fréchet distance against its exact value and numpy/scipy (scripts/golden/make_frechet_golden.py: FID's formula
/// in 50-digit arithmetic, and with scipy.linalg.sqrtm), with the means and covariances it is made of.
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
        let fd = try frechetDistance(a, b), exact = c["fd_exact"] as! Double
        // Against the distance itself (50-digit arithmetic from the same data): float64 rounding only. Eigenvalues that
        // are exactly zero (the rank-deficient case, N < D) come out as +-1e-15 in float64; their square roots would add
        // ~1e-7 of noise that depends on the BLAS and the CPU (scipy's own `fd` is 1e-7 off there), and
        // `frechetDistance` counts eigenvalues within rounding of zero as zero.
        #expect(Swift.abs(fd - exact) <= 1e-9 * Swift.max(1, Swift.abs(exact)), "\(name): \(fd) vs exact \(exact)")
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
