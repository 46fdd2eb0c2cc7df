import Foundation
import Testing
@testable import EmberNN

// Every loss with its options against torch.nn.functional (Fixtures/nn_losses.json): reductions mean/sum/none,
// class weights, ignore_index (default -100 and a real class), label smoothing (with weights and ignored targets),
// probability targets, K-dimensional inputs [N, C, d], BCE weights, pos_weight with saturated logits (+-30),
// smooth L1 beta (incl. 0), Huber delta, KL mean/sum/none/batchmean and log_target. Checked: the value and
// d(sum(loss * upstream))/d input.
//
// Tolerance: |ember - torch| <= 1e-5 + 1e-5 |torch|, as for layers: a loss is a handful of float32 ops (log-softmax,
// a gather, a weighted sum over <= 24 terms) on O(1) values, so correct implementations agree to ~1e-7 absolute;
// 1e-5 relative (~84 ulps) covers the chained exp/log, the absolute floor covers gradients that cancel near zero.
private let atol = 1e-5, rtol = 1e-5

func reduction(_ j: J) -> Reduction { Reduction(rawValue: j["reduction"].string)! }

func computeLoss(_ c: J, _ x: Tensor) -> Tensor {
    let o = c["options"], t = c["target"].tensor
    let w = c["weight"].exists ? c["weight"].tensor : nil
    switch c["fn"].string {
    case "crossEntropy":
        return crossEntropy(x, t, weight: w, ignoreIndex: o["ignoreIndex"].intOrNil ?? -100,
                            labelSmoothing: o["labelSmoothing"].doubleOrNil ?? 0, reduction: reduction(o))
    case "nllLoss":
        return nllLoss(x, t, weight: w, ignoreIndex: o["ignoreIndex"].intOrNil ?? -100, reduction: reduction(o))
    case "binaryCrossEntropy": return binaryCrossEntropy(x, t, weight: w, reduction: reduction(o))
    case "binaryCrossEntropyWithLogits":
        return binaryCrossEntropyWithLogits(x, t, weight: w, posWeight: c["posWeight"].exists ? c["posWeight"].tensor : nil,
                                            reduction: reduction(o))
    case "mseLoss": return mseLoss(x, t, reduction: reduction(o))
    case "l1Loss": return l1Loss(x, t, reduction: reduction(o))
    case "smoothL1Loss": return smoothL1Loss(x, t, beta: o["beta"].double, reduction: reduction(o))
    case "huberLoss": return huberLoss(x, t, delta: o["delta"].double, reduction: reduction(o))
    case "klDivLoss":
        return klDivLoss(x, t, reduction: KLReduction(rawValue: o["reduction"].string)!,
                         logTarget: o["logTarget"].boolOrNil ?? false)
    case let f: preconditionFailure("unknown loss \(f) in fixture")
    }
}

@Suite struct LossGoldenTests {
    static let cases = Fixtures.named(Fixtures.losses["cases"])
    static let names = Fixtures.losses["cases"].array.map { $0["name"].string }

    @Test(arguments: names)
    func lossMatchesPyTorch(_ name: String) throws {
        let c = try #require(Self.cases[name])
        let x = c["input"].tensor
        x.requiresGrad = true
        let out = computeLoss(c, x)
        expectClose(out, c["output"].tensor, atol: atol, rtol: rtol, "\(name) value")
        (out * c["upstream"].tensor).sum().backward()
        expectClose(x.grad, c["input_grad"].tensor, atol: atol, rtol: rtol, "\(name) input grad")
    }
}
