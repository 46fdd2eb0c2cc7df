import Foundation
import Testing
@testable import EmberNN

// Optimizers, LR schedulers and gradient clipping against torch.optim / torch.nn.utils (Fixtures/nn_optim.json).
//
// Optimizers: parameters w1 [3, 4] and b [4] of the least-squares problem mean((X w1 + b - Y)^2) take 5 steps; the
// loss before each step and both parameters after each step are compared. Tolerance |a - b| <= 1e-6 + 1e-5 |b|:
// the same reasoning as the training trajectories (float32 on both sides, only summation order differs; the
// gradients here are O(0.1-1), never near the float32 noise level that Adam-style normalization would amplify).
// Schedulers: learning rates are float64 arithmetic on both sides (PyTorch's chainable forms multiply step by step,
// Ember uses the closed forms), so they agree to a few ulps; 1e-10 relative leaves room for ~12 chained products.
// Clipping: float32 norms and products, tolerance as for the optimizers.
private let atol = 1e-6, rtol = 1e-5

struct OptimProblem {
    let x: Tensor, y: Tensor, w1: Tensor, b: Tensor

    init() {
        let p = Fixtures.optim["problem"]
        x = p["X"].tensor; y = p["Y"].tensor
        w1 = p["w1"].tensor; b = p["b"].tensor
        w1.requiresGrad = true
        b.requiresGrad = true
    }

    func loss() -> Tensor {
        let r = x.matmul(w1) + b - y
        return (r * r).mean()
    }
}

func makeOptimizer(_ c: J, _ params: [Tensor]) -> Optimizer {
    let o = c["options"]
    let lr = o["lr"].double, wd = o["weightDecay"].doubleOrNil
    let betas = o["betas"].exists ? (o["betas"][0].double, o["betas"][1].double) : (0.9, 0.999)
    var groups: [ParamGroup]? = nil
    if c["groups"].exists {
        groups = zip(params, c["groups"].array).map { p, g in
            ParamGroup([p], lr: g["lr"].doubleOrNil, weightDecay: g["weightDecay"].doubleOrNil)
        }
    }
    switch c["optimizer"].string {
    case "SGD":
        let m = o["momentum"].doubleOrNil ?? 0, d = o["dampening"].doubleOrNil ?? 0, n = o["nesterov"].boolOrNil ?? false
        if let groups { return SGD(groups: groups, lr: lr, momentum: m, dampening: d, weightDecay: wd ?? 0, nesterov: n) }
        return SGD(params, lr: lr, momentum: m, dampening: d, weightDecay: wd ?? 0, nesterov: n)
    case "Adam":
        let eps = o["eps"].doubleOrNil ?? 1e-8
        if let groups { return Adam(groups: groups, lr: lr, betas: betas, eps: eps, weightDecay: wd ?? 0) }
        return Adam(params, lr: lr, betas: betas, eps: eps, weightDecay: wd ?? 0)
    case "AdamW":
        let eps = o["eps"].doubleOrNil ?? 1e-8
        if let groups { return AdamW(groups: groups, lr: lr, betas: betas, eps: eps, weightDecay: wd ?? 0.01) }
        return AdamW(params, lr: lr, betas: betas, eps: eps, weightDecay: wd ?? 0.01)
    case "RMSprop":
        precondition(groups == nil, "RMSprop has no param-group initializer")
        return RMSprop(params, lr: lr, alpha: o["alpha"].doubleOrNil ?? 0.99, eps: o["eps"].doubleOrNil ?? 1e-8,
                       weightDecay: wd ?? 0, momentum: o["momentum"].doubleOrNil ?? 0,
                       centered: o["centered"].boolOrNil ?? false)
    case "Adagrad":
        precondition(groups == nil, "Adagrad has no param-group initializer")
        return Adagrad(params, lr: lr, lrDecay: o["lrDecay"].doubleOrNil ?? 0, weightDecay: wd ?? 0,
                       initialAccumulatorValue: o["initialAccumulatorValue"].doubleOrNil ?? 0,
                       eps: o["eps"].doubleOrNil ?? 1e-10)
    case let t: preconditionFailure("unknown optimizer \(t) in fixture")
    }
}

@Suite struct OptimizerGoldenTests {
    static let cases = Fixtures.named(Fixtures.optim["optimizers"])
    static let names = Fixtures.optim["optimizers"].array.map { $0["name"].string }

    @Test(arguments: names)
    func optimizerMatchesPyTorch(_ name: String) throws {
        let c = try #require(Self.cases[name])
        let prob = OptimProblem()
        let opt = makeOptimizer(c, [prob.w1, prob.b])
        for step in 0..<5 {
            opt.zeroGrad()
            let loss = prob.loss()
            expectClose([loss.item()], [c["losses"][step].double], atol: atol, rtol: rtol, "\(name) loss \(step)")
            loss.backward()
            opt.step()
            let expected = c["trajectory"][step]
            expectClose(prob.w1, expected[0].tensor, atol: atol, rtol: rtol, "\(name) w1 after step \(step + 1)")
            expectClose(prob.b, expected[1].tensor, atol: atol, rtol: rtol, "\(name) b after step \(step + 1)")
        }
    }

    /// 3 steps, stateDict(), a fresh optimizer that loads it, 2 more steps == 5 uninterrupted steps: bit-identical to
    /// Ember's own uninterrupted run (same arithmetic in the same order) and within tolerance of PyTorch's. The saved
    /// state must be a snapshot: stepping the original optimizer afterwards, or resuming from it twice, changes nothing.
    @Test(arguments: ["sgd_momentum", "sgd_groups", "adam", "adamw_groups", "rmsprop_centered_momentum_wd",
                      "adagrad_lr_decay"])
    func stateSaveRestore(_ name: String) throws {
        let c = try #require(Self.cases[name])
        let straight = OptimProblem()
        let opt = makeOptimizer(c, [straight.w1, straight.b])
        for _ in 0..<5 { opt.zeroGrad(); straight.loss().backward(); opt.step() }

        let first = OptimProblem()
        let firstOpt = makeOptimizer(c, [first.w1, first.b])
        for _ in 0..<3 { firstOpt.zeroGrad(); first.loss().backward(); firstOpt.step() }
        let saved = firstOpt.stateDict()
        // values after step 3, copied out (the parameters themselves keep changing)
        let w1Copy = Tensor(first.w1.toArray(Float.self), shape: first.w1.shape)
        let bCopy = Tensor(first.b.toArray(Float.self), shape: first.b.shape)
        firstOpt.zeroGrad(); first.loss().backward(); firstOpt.step()   // must not touch `saved`

        for attempt in 0..<2 {
            let r = OptimProblem()
            withoutGrad { r.w1.assign(w1Copy); r.b.assign(bCopy) }
            let resumed = makeOptimizer(c, [r.w1, r.b])
            try resumed.loadStateDict(saved)
            for _ in 0..<2 { resumed.zeroGrad(); r.loss().backward(); resumed.step() }
            #expect(r.w1.toArray(Float.self) == straight.w1.toArray(Float.self), "\(name) resume \(attempt): w1 differs")
            #expect(r.b.toArray(Float.self) == straight.b.toArray(Float.self), "\(name) resume \(attempt): b differs")
            expectClose(r.w1, c["trajectory"][4][0].tensor, atol: atol, rtol: rtol, "\(name) resumed w1 vs torch")
            expectClose(r.b, c["trajectory"][4][1].tensor, atol: atol, rtol: rtol, "\(name) resumed b vs torch")
        }
    }
}

@Suite struct SchedulerGoldenTests {
    static let cases = Fixtures.named(Fixtures.optim["schedulers"])
    static let names = Fixtures.optim["schedulers"].array.map { $0["name"].string }

    @Test(arguments: names)
    func schedulerMatchesPyTorch(_ name: String) throws {
        let c = try #require(Self.cases[name])
        let o = c["options"]
        let lrs = c["group_lrs"].doubles
        let groups = lrs.map { ParamGroup([Tensor.zeros([2])], lr: $0) }
        let opt = SGD(groups: groups, lr: lrs[0])
        var got: [[Double]] = []
        if c["scheduler"].string == "ReduceLROnPlateau" {
            let s = ReduceLROnPlateau(opt, mode: o["mode"].string, factor: o["factor"].double,
                                      patience: o["patience"].int, threshold: o["threshold"].double,
                                      cooldown: o["cooldown"].intOrNil ?? 0, minLR: o["minLR"].doubleOrNil ?? 0)
            got.append(opt.paramGroups.map(\.lr))
            for m in c["metrics"].doubles {
                s.step(metric: m)
                got.append(opt.paramGroups.map(\.lr))
            }
        } else {
            let s: LRScheduler
            switch c["scheduler"].string {
            case "StepLR": s = StepLR(opt, stepSize: o["stepSize"].int, gamma: o["gamma"].double)
            case "MultiStepLR": s = MultiStepLR(opt, milestones: o["milestones"].ints, gamma: o["gamma"].double)
            case "ExponentialLR": s = ExponentialLR(opt, gamma: o["gamma"].double)
            case "CosineAnnealingLR": s = CosineAnnealingLR(opt, tMax: o["tMax"].int, etaMin: o["etaMin"].double)
            case "LinearLR":
                s = LinearLR(opt, startFactor: o["startFactor"].double, endFactor: o["endFactor"].double,
                             totalIters: o["totalIters"].int)
            case "OneCycleLR":
                s = OneCycleLR(opt, maxLR: o["maxLR"].double, totalSteps: o["totalSteps"].int,
                               pctStart: o["pctStart"].double, divFactor: o["divFactor"].doubleOrNil ?? 25,
                               finalDivFactor: o["finalDivFactor"].doubleOrNil ?? 1e4)
            case let t: preconditionFailure("unknown scheduler \(t)")
            }
            got.append(s.lastLR)
            for _ in 1..<c["lrs"].array.count {
                s.step()
                got.append(s.lastLR)
            }
        }
        let expected = c["lrs"].array.map(\.doubles)
        #expect(got.count == expected.count)
        expectClose(got.flatMap { $0 }, expected.flatMap { $0 }, atol: 1e-15, rtol: 1e-10, "\(name) lrs")
    }
}

@Suite struct ClippingGoldenTests {
    static let cases = Fixtures.optim["clipping"].array

    @Test(arguments: 0..<3)
    func clippingMatchesPyTorch(_ i: Int) {
        let c = Self.cases[i]
        let name = c["name"].string
        let params = c["grads"].array.map { g -> Tensor in
            let p = Tensor.zeros(g["shape"].ints)
            p.requiresGrad = true
            p.grad = g.tensor
            return p
        }
        if c["fn"].string == "clipGradNorm" {
            let total = clipGradNorm(params, maxNorm: c["value"].double)
            expectClose([total], [c["total_norm"].double], atol: atol, rtol: rtol, "\(name) total norm")
        } else {
            clipGradValue(params, clipValue: c["value"].double)
        }
        for (k, p) in params.enumerated() {
            expectClose(p.grad, c["clipped"][k].tensor, atol: atol, rtol: rtol, "\(name) grad \(k)")
        }
    }
}
