import Foundation
import Testing
import EmberTestSupport
@testable import EmberCore

// Gradients of gradients (`createGraph`) against PyTorch 2.13's `torch.autograd.grad(..., create_graph=True)`.
//
// The fixture `Fixtures/autodiff_golden.json` is written by `scripts/golden/make_autodiff_golden.py` (see its header).
// For each case: L1 = sum_k sum(f(x)_k * u_k), g = dL1/dx with createGraph, L2 = sum_i sum(g_i * v_i), and the test
// compares f(x), g and dL2/dx (Hessian-vector products, cross terms between inputs included) with PyTorch's.
// Inputs are float64, so the tolerance |a - b| <= 1e-8 + 1e-6 |b| measures the formulas, not float32 rounding: two
// correct implementations differ by a few ulps of the sums (~1e-15); a wrong term is off by O(1e-2).

struct SecondOrderCase: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let op: String
    let params: [String: GoldenJSON]
    let inputs: [GoldenInput]
    let outputs: [GoldenTensor]
    let upstream: [GoldenTensor]
    let v: [GoldenTensor?]
    let grads: [GoldenTensor?]
    let second: [GoldenTensor?]

    var testDescription: String { name }
}

struct WGANGPGolden: Decodable, Sendable {
    let real: GoldenTensor, fake: GoldenTensor, alpha: GoldenTensor
    let params: [GoldenTensor]
    let slope: Double
    let penalty: Double
    let grads: [GoldenTensor]
}

struct SecondOrderFile: Decodable, Sendable {
    let torch: String
    let cases: [SecondOrderCase]
    let wgan_gp: WGANGPGolden
}

enum SecondOrderFixture {
    static let file: SecondOrderFile = {
        guard let url = Bundle.module.url(forResource: "autodiff_golden", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("SecondOrderTests: Fixtures/autodiff_golden.json is missing; run scripts/golden/make_autodiff_golden.py")
        }
        do {
            return try JSONDecoder().decode(SecondOrderFile.self, from: Data(contentsOf: url))
        } catch {
            fatalError("SecondOrderTests: cannot decode autodiff_golden.json: \(error)")
        }
    }()
}

/// A float64 tensor from the fixture.
func goldenTensor64(_ t: GoldenTensor) -> Tensor { Tensor(t.values, shape: t.shape) }

/// The Ember call for the ops of this fixture only (mirroring EXTRA_OPS in the script), else the shared table.
func secondOrderOp(_ op: String, _ x: [Tensor], _ p: GoldenParams) -> [Tensor]? {
    switch op {
    case "mlp_tanh_ce":
        let logits = linear(linear(x[0], x[1], x[2]).tanh(), x[3], x[4])
        return [-logits.logSoftmax(axis: 1).gather(axis: 1, index: x[5]).mean()]
    default:
        return goldenEmberOp(op, x, p)
    }
}

/// Sum over pairs of sum(a * b), or nil for no pairs.
private func dotSum(_ a: [Tensor], _ b: [Tensor]) -> Tensor? {
    var total: Tensor? = nil
    for (x, y) in zip(a, b) {
        let term = (x * y).sum()
        total = total.map { $0 + term } ?? term
    }
    return total
}

func runSecondOrderCase(_ c: SecondOrderCase) -> [String] {
    let atol = 1e-8, rtol = 1e-6
    let leaves = c.inputs.map(goldenLeaf)
    let xs = zip(leaves, c.inputs).map { goldenApplyPre($0, $1.pre) }
    guard let outs = secondOrderOp(c.op, xs, GoldenParams(raw: c.params, caseName: c.name)) else {
        return ["unknown op key '\(c.op)'"]
    }
    var problems: [String] = []
    for (k, (o, w)) in zip(outs, c.outputs).enumerated() {
        problems += goldenCompare("output \(k)", o, w, atol: atol, rtol: rtol)
    }
    let wrt = leaves.indices.filter { c.inputs[$0].grad }
    guard let l1 = dotSum(outs, c.upstream.map(goldenTensor64)) else { return problems + ["no outputs"] }
    let gs = gradients(of: l1, wrt: wrt.map { leaves[$0] }, createGraph: true)
    for (i, g) in zip(wrt, gs) { problems += goldenCompare("grad \(i)", g, c.grads[i]!, atol: atol, rtol: rtol) }
    let vs = wrt.map { goldenTensor64(c.v[$0]!) }
    guard let l2 = dotSum(gs, vs) else { return problems }
    let second = l2.requiresGrad ? gradients(of: l2, wrt: wrt.map { leaves[$0] }) : wrt.map { leaves[$0].zerosLike() }
    for (i, s) in zip(wrt, second) { problems += goldenCompare("second \(i)", s, c.second[i]!, atol: atol, rtol: rtol) }
    return problems
}

@Suite struct SecondOrderTests {
    @Test func fixtureCoversFortyOps() {
        let f = SecondOrderFixture.file
        #expect(f.torch.hasPrefix("2.13"))
        #expect(Set(f.cases.map(\.op)).count >= 40)
        #expect(Set(f.cases.map(\.name)).count == f.cases.count)
    }

    @Test(arguments: SecondOrderFixture.file.cases)
    func matchesPyTorch(_ c: SecondOrderCase) {
        for p in runSecondOrderCase(c) { Issue.record("\(c.name) (\(c.op)): \(p)") }
    }

    /// H v of a small MLP's loss by createGraph equals central differences of the gradient along v:
    /// (grad L(θ + εv) - grad L(θ - εv)) / 2ε, in float64.
    @Test func hessianVectorProductMatchesFiniteDifferences() {
        guard let c = SecondOrderFixture.file.cases.first(where: { $0.name == "hvp_mlp_loss" }) else {
            Issue.record("fixture has no hvp_mlp_loss case"); return
        }
        let leaves = c.inputs.map(goldenLeaf)
        let params = GoldenParams(raw: c.params, caseName: c.name)
        let wrt = leaves.indices.filter { c.inputs[$0].grad }
        let vs = wrt.map { goldenTensor64(c.v[$0]!) }
        func loss(_ xs: [Tensor]) -> Tensor { secondOrderOp(c.op, xs, params)![0] }
        let g = gradients(of: loss(leaves), wrt: wrt.map { leaves[$0] }, createGraph: true)
        let hv = gradients(of: dotSum(g, vs)!, wrt: wrt.map { leaves[$0] })
        let eps = 1e-5
        func gradAt(_ sign: Double) -> [Tensor] {
            var shifted = leaves
            for (k, i) in wrt.enumerated() {
                let t = withoutGrad { leaves[i] + vs[k] * (sign * eps) }
                t.requiresGrad = true
                shifted[i] = t
            }
            return gradients(of: loss(shifted), wrt: wrt.map { shifted[$0] })
        }
        let plus = gradAt(1), minus = gradAt(-1)
        for k in wrt.indices {
            let fd = zip(plus[k].toArray(Double.self), minus[k].toArray(Double.self)).map { ($0 - $1) / (2 * eps) }
            let ad = hv[k].toArray(Double.self)
            for (a, b) in zip(ad, fd) {
                #expect(Swift.abs(a - b) <= 1e-6 + 1e-5 * Swift.abs(b), "input \(wrt[k]): H v \(a), finite differences \(b)")
            }
        }
    }

    /// WGAN-GP: penalty = mean((||d critic(x̂) / d x̂||_2 - 1)^2) for a Linear-LeakyReLU-Linear critic; the value and
    /// the parameter gradients equal PyTorch's.
    @Test func wganGradientPenaltyMatchesPyTorch() {
        let w = SecondOrderFixture.file.wgan_gp
        let params = w.params.map { p -> Tensor in
            let t = goldenTensor64(p)
            t.requiresGrad = true
            return t
        }
        let alpha = goldenTensor64(w.alpha)
        let xHat = withoutGrad { alpha * goldenTensor64(w.real) + (1 - alpha) * goldenTensor64(w.fake) }
        xHat.requiresGrad = true
        let critic = linear(linear(xHat, params[0], params[1]).leakyRelu(w.slope), params[2], params[3])
        let g = gradients(of: critic.sum(), wrt: [xHat], createGraph: true)[0]
        let norm = (g * g).sum(axis: 1).sqrt()
        let penalty = (norm - 1).square().mean()
        #expect(Swift.abs(penalty.item() - w.penalty) <= 1e-10 + 1e-8 * Swift.abs(w.penalty))
        penalty.backward()
        for (i, (p, want)) in zip(params, w.grads).enumerated() {
            // The biases only move the LeakyReLU kinks: no gradient reaches them (PyTorch's is None, stored as zeros).
            let grad = p.grad ?? p.zerosLike()
            for m in goldenCompare("parameter \(i)", grad, want, atol: 1e-9, rtol: 1e-7) { Issue.record("\(m)") }
        }
    }

    /// Without createGraph nothing extra is recorded: the gradients are plain tensors and the graph is freed.
    @Test func plainBackwardRecordsNothing() {
        let x = Tensor([0.5, -1.0, 2.0] as [Double])
        x.requiresGrad = true
        let g = gradients(of: (x.tanh() * x).sum(), wrt: [x])[0]
        #expect(!g.requiresGrad && g.isLeaf)
        let h = gradients(of: (x.tanh() * x).sum(), wrt: [x], createGraph: true)[0]
        #expect(h.requiresGrad && !h.isLeaf)
    }

    /// backward(createGraph:) leaves each grad differentiable: d/dx of x.grad = f''(x).
    @Test func backwardCreateGraphGivesDifferentiableGrads() {
        let x = Tensor([0.3, -0.8, 1.2] as [Double])
        x.requiresGrad = true
        x.pow(3).sum().backward(createGraph: true)
        let g = x.grad!
        #expect(g.requiresGrad)
        let second = gradients(of: g.sum(), wrt: [x], retainGraph: true)[0].toArray(Double.self)
        for (s, v) in zip(second, [0.3, -0.8, 1.2]) { #expect(Swift.abs(s - 6 * v) < 1e-12) }
        // Third order through the recorded second derivative.
        let third = gradients(of: gradients(of: g.sum(), wrt: [x], createGraph: true)[0].sum(), wrt: [x])[0]
        #expect(third.toArray(Double.self).allSatisfy { Swift.abs($0 - 6) < 1e-12 })
    }
}

/// A tensor a VJP reads that was written in place after it was saved stops backward with the op's name and the
/// versions (each case in a child process).
@Suite struct SavedTensorVersionTests {
    @Test func modifiedOutputStopsBackward() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2, 3] as [Float])
            x.requiresGrad = true
            let y = x.exp()
            y.fill(0)
            y.sum().backward()
        }
        expectMessage(r, "backward of 'exp': a tensor it saved was modified in place after it was saved (version 1, expected 0)")
    }

    @Test func modifiedInputStopsBackward() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let w = Tensor([1, 2, 3] as [Float])
            w.requiresGrad = true
            let x = Tensor([4, 5, 6] as [Float])
            let y = (w * x).sum()
            x.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = 7 }
            x.assign(Tensor([1, 1, 1] as [Float]))
            y.backward()
        }
        expectMessage(r, "backward of 'mul': a tensor it saved was modified in place after it was saved (version 2, expected 0)")
    }

    /// Ops whose VJP does not read a tensor do not care if it changes (add reads no values; exp reads only its output).
    @Test func unreadTensorsMayChange() {
        let x = Tensor([1, 2, 3] as [Float])
        x.requiresGrad = true
        let b = Tensor([1, 1, 1] as [Float])
        let y = (x + b).exp().sum()
        b.fill(5)
        y.backward()
        #expect(x.grad != nil)
        #expect(b.storage.version == 1)
    }
}
