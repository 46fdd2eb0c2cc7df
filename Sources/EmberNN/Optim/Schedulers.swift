import Foundation

/// Learning-rate schedules in PyTorch's style: call `step()` once per epoch (or per batch for one-cycle and
/// warm-up if you count in batches); the scheduler writes each group's `lr`. Closed forms match PyTorch's.
open class LRScheduler {
    /// The optimizer whose learning rates are set.
    public let optimizer: Optimizer
    /// Steps taken so far (PyTorch's `last_epoch`).
    public private(set) var epoch = 0
    let baseLRs: [Double]

    init(_ optimizer: Optimizer) {
        self.optimizer = optimizer
        baseLRs = optimizer.paramGroups.map(\.initialLR)
        apply()
    }

    /// The learning rate of a group with base rate `base` at step `epoch`.
    open func lr(base: Double, epoch: Int) -> Double { base }

    func apply() {
        for (g, base) in zip(optimizer.paramGroups, baseLRs) { g.lr = lr(base: base, epoch: epoch) }
    }

    /// Advances one step and updates the learning rates.
    public func step() {
        epoch += 1
        apply()
    }

    /// Sets the step count (when resuming) and updates the learning rates.
    public func setEpoch(_ e: Int) {
        epoch = e
        apply()
    }

    /// The current learning rate of each group.
    public var lastLR: [Double] { optimizer.paramGroups.map(\.lr) }
}

/// lr = base * gamma^(floor(epoch / stepSize)).
public final class StepLR: LRScheduler {
    public let stepSize: Int, gamma: Double
    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        self.stepSize = stepSize; self.gamma = gamma
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double { base * pow(gamma, Double(epoch / stepSize)) }
}

/// lr = base * gamma^(number of milestones reached).
public final class MultiStepLR: LRScheduler {
    public let milestones: [Int], gamma: Double
    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones; self.gamma = gamma
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double {
        base * pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
    }
}

/// lr = base * gamma^epoch.
public final class ExponentialLR: LRScheduler {
    public let gamma: Double
    public init(_ optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double { base * pow(gamma, Double(epoch)) }
}

/// Cosine annealing from base to `etaMin` over `tMax` steps.
public final class CosineAnnealingLR: LRScheduler {
    public let tMax: Int, etaMin: Double
    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        self.tMax = tMax; self.etaMin = etaMin
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double {
        etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
}

/// Linear warm-up (PyTorch's LinearLR): factor goes from `startFactor` to `endFactor` over `totalIters` steps.
public final class LinearLR: LRScheduler {
    public let startFactor: Double, endFactor: Double, totalIters: Int
    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        self.startFactor = startFactor; self.endFactor = endFactor; self.totalIters = totalIters
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double {
        base * (startFactor + (endFactor - startFactor) * Double(Swift.min(epoch, totalIters)) / Double(totalIters))
    }
}

/// One-cycle policy (cosine annealing, two phases, as PyTorch's OneCycleLR): from maxLR/divFactor up to maxLR over
/// `pctStart` of the steps, then down to maxLR/(divFactor*finalDivFactor). Step it once per batch.
public final class OneCycleLR: LRScheduler {
    public let maxLR: Double, totalSteps: Int, pctStart: Double, divFactor: Double, finalDivFactor: Double
    public init(_ optimizer: Optimizer, maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, divFactor: Double = 25,
                finalDivFactor: Double = 1e4) {
        self.maxLR = maxLR; self.totalSteps = totalSteps; self.pctStart = pctStart
        self.divFactor = divFactor; self.finalDivFactor = finalDivFactor
        super.init(optimizer)
    }
    override public func lr(base: Double, epoch: Int) -> Double {
        let initial = maxLR / divFactor, minLR = initial / finalDivFactor
        let peak = pctStart * Double(totalSteps) - 1, end = Double(totalSteps - 1)
        func anneal(_ a: Double, _ b: Double, _ pct: Double) -> Double { b + (a - b) / 2 * (cos(Double.pi * pct) + 1) }
        let s = Double(epoch)
        if s <= peak { return anneal(initial, maxLR, s / peak) }
        return anneal(maxLR, minLR, (s - peak) / (end - peak))
    }
}

/// Cuts the learning rate by `factor` when a metric stops improving for `patience` checks (PyTorch's
/// ReduceLROnPlateau, relative threshold). Call `step(metric:)` after each validation.
public final class ReduceLROnPlateau {
    public let optimizer: Optimizer
    public let minimize: Bool, factor: Double, patience: Int, threshold: Double, cooldown: Int, minLR: Double
    public private(set) var best: Double
    public private(set) var badEpochs = 0
    public private(set) var cooldownLeft = 0

    /// Restores the counters saved from another instance (when resuming training).
    public func restore(best: Double, badEpochs: Int, cooldownLeft: Int) {
        self.best = best
        self.badEpochs = badEpochs
        self.cooldownLeft = cooldownLeft
    }

    public init(_ optimizer: Optimizer, mode: String = "min", factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, cooldown: Int = 0, minLR: Double = 0) {
        precondition(factor < 1, "ReduceLROnPlateau: factor must be below 1")
        self.optimizer = optimizer
        minimize = mode != "max"
        self.factor = factor; self.patience = patience; self.threshold = threshold
        self.cooldown = cooldown; self.minLR = minLR
        best = minimize ? .infinity : -.infinity
    }

    /// Records a metric value and reduces the learning rate when it has plateaued.
    public func step(metric: Double) {
        let better = minimize ? metric < best * (1 - threshold) : metric > best * (1 + threshold)
        if better { best = metric; badEpochs = 0 } else { badEpochs += 1 }
        if cooldownLeft > 0 { cooldownLeft -= 1; badEpochs = 0 }
        if badEpochs > patience {
            for g in optimizer.paramGroups {
                let new = Swift.max(g.lr * factor, minLR)
                if g.lr - new > 1e-8 { g.lr = new }
            }
            cooldownLeft = cooldown
            badEpochs = 0
        }
    }
}
