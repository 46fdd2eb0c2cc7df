import Foundation
import Testing
@testable import EmberNN

// crossEntropy with NaN and +-inf logits against PyTorch 2.13 (float32, CPU). The expected values are PyTorch's,
// printed by
//
//     logits = torch.tensor([[nan, 1, 2], [1, 2, 3], [inf, 1, 2], [-inf, 1, 2], [1, 2, 3]], requires_grad=True)
//     for target in ([-100, 1, -100, 1, 2], [0, 1, 1, 0, 2]):
//         for ls in (0.0, 0.1):
//             for red in ("mean", "sum", "none"):
//                 l = F.cross_entropy(logits, torch.tensor(target), reduction=red, label_smoothing=ls)
//                 print(l, torch.autograd.grad(l.sum(), logits)[0])
//
// What they pin: a row whose target is ignored contributes exactly 0 to the loss even when its logits hold NaN or
// +inf (its log-softmax is NaN, and NaN * 0 would be NaN), so one bad sample that the mask drops does not poison the
// mean; a counted NaN row makes the loss NaN; a -inf logit at the target gives +inf. Gradients of NaN rows are NaN in
// PyTorch too (the softmax backward of a NaN row), ignored or not.

struct CrossEntropySpecialCase: Sendable, CustomTestStringConvertible {
    let target: [Int64]
    let smoothing: Double
    let reduction: Reduction
    let loss: [Double]
    let grad: [[Double]]
    var testDescription: String { "target \(target) smoothing \(smoothing) \(reduction)" }
}

private let nan = Double.nan, inf = Double.infinity
private let ignoring: [Int64] = [-100, 1, -100, 1, 2], counting: [Int64] = [0, 1, 1, 0, 2]
private let nanRow = [nan, nan, nan]

let crossEntropySpecialCases: [CrossEntropySpecialCase] = [
    .init(target: ignoring, smoothing: 0, reduction: .mean, loss: [1.0428245067596436],
          grad: [nanRow, [0.030010193586349487, -0.2517571747303009, 0.2217470109462738], nanRow,
                 [0.0, -0.24368619918823242, 0.24368619918823242],
                 [0.030010193586349487, 0.08157616853713989, -0.11158633232116699]]),
    .init(target: ignoring, smoothing: 0, reduction: .sum, loss: [3.1284735202789307],
          grad: [nanRow, [0.09003058075904846, -0.7552714943885803, 0.665241003036499], nanRow,
                 [0.0, -0.7310585975646973, 0.7310585975646973],
                 [0.09003058075904846, 0.24472849071025848, -0.334758996963501]]),
    .init(target: ignoring, smoothing: 0, reduction: .none,
          loss: [0.0, 1.4076058864593506, 0.0, 1.31326162815094, 0.40760594606399536],
          grad: [nanRow, [0.09003058075904846, -0.7552714943885803, 0.665241003036499], nanRow,
                 [0.0, -0.7310585975646973, 0.7310585975646973],
                 [0.09003058075904846, 0.24472849071025848, -0.334758996963501]]),
    .init(target: ignoring, smoothing: 0.1, reduction: .mean, loss: [inf],
          grad: [nanRow, [0.018899081274867058, -0.22953493893146515, 0.21063587069511414], nanRow,
                 [-0.011111111380159855, -0.22146394848823547, 0.23257507383823395],
                 [0.018899081274867058, 0.07046505063772202, -0.08936410397291183]]),
    .init(target: ignoring, smoothing: 0.1, reduction: .none,
          loss: [0.0, 1.4076058864593506, 0.0, inf, 0.5076059103012085],
          grad: [nanRow, [0.05669724568724632, -0.6886048316955566, 0.6319076418876648], nanRow,
                 [-0.03333333507180214, -0.6643918752670288, 0.697725236415863],
                 [0.05669724568724632, 0.21139515936374664, -0.2680923342704773]]),
    .init(target: counting, smoothing: 0, reduction: .mean, loss: [nan],
          grad: [nanRow, [0.018006116151809692, -0.15105430781841278, 0.13304820656776428], nanRow,
                 [-0.20000000298023224, 0.053788285702466965, 0.14621172845363617],
                 [0.018006116151809692, 0.048945698887109756, -0.06695180386304855]]),
    .init(target: counting, smoothing: 0, reduction: .none,
          loss: [nan, 1.4076058864593506, nan, inf, 0.40760594606399536],
          grad: [nanRow, [0.09003058075904846, -0.7552714943885803, 0.665241003036499], nanRow,
                 [-1.0, 0.2689414322376251, 0.7310585975646973],
                 [0.09003058075904846, 0.24472849071025848, -0.334758996963501]]),
    .init(target: counting, smoothing: 0.1, reduction: .sum, loss: [nan],
          grad: [nanRow, [0.05669724568724632, -0.6886048316955566, 0.6319076418876648], nanRow,
                 [-0.9333333373069763, 0.23560810089111328, 0.697725236415863],
                 [0.05669724568724632, 0.21139515936374664, -0.2680923342704773]]),
]

@Suite struct CrossEntropySpecialValueTests {
    /// NaN only matches NaN, infinities match exactly, finite values to 1e-5 + 1e-4 |torch| (the goldens' rule).
    func matches(_ a: Double, _ b: Double) -> Bool {
        if b.isNaN { return a.isNaN }
        if b.isInfinite { return a == b }
        return a.isFinite && Swift.abs(a - b) <= 1e-5 + 1e-4 * Swift.abs(b)
    }

    @Test(arguments: crossEntropySpecialCases)
    func matchesPyTorch(_ c: CrossEntropySpecialCase) {
        let logits = Tensor([Float.nan, 1, 2, 1, 2, 3, .infinity, 1, 2, -.infinity, 1, 2, 1, 2, 3], shape: [5, 3])
        logits.requiresGrad = true
        let loss = crossEntropy(logits, Tensor(c.target, shape: [5]), labelSmoothing: c.smoothing, reduction: c.reduction)
        let got = loss.toArray(Double.self)
        #expect(got.count == c.loss.count)
        for (i, (a, b)) in zip(got, c.loss).enumerated() { #expect(matches(a, b), "loss[\(i)]: ember \(a), torch \(b)") }
        let g = gradients(of: loss.sum(), wrt: [logits])[0].toArray(Double.self)
        for (i, (a, b)) in zip(g, c.grad.flatMap { $0 }).enumerated() {
            #expect(matches(a, b), "grad[\(i / 3), \(i % 3)]: ember \(a), torch \(b)")
        }
    }
}
