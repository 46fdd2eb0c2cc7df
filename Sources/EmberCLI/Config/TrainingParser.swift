import Foundation

/// Optimizer names `training.optimizer` accepts.
let optimizerNames = ["sgd", "adam", "adamw", "rmsprop", "adagrad"]
/// Schedule names `training.schedule` accepts.
let scheduleNames = ["none", "step", "multistep", "exponential", "cosine", "one_cycle", "warmup", "plateau"]

func parseTraining(_ v: ConfigValue?, task: TaskKind) throws -> TrainingConfig {
    var t = TrainingConfig()
    guard let v else { return t }
    let m = try v.mapping()
    if let x = m.optional("epochs") { t.epochs = try x.int(atLeast: 1, atMost: ConfigLimits.maxEpochs) }
    if let x = m.optional("batch_size") { t.batchSize = try x.int(atLeast: 1) }
    if let x = m.optional("seed") { t.seed = UInt64(try x.int(atLeast: 0, atMost: .max)) }
    if let x = m.optional("optimizer") { t.optimizer = try parseOptimizer(x) }
    if let x = m.optional("schedule") { t.schedule = try parseSchedule(x) }
    if let x = m.optional("loss") { t.loss = try parseLoss(x, task: task) }
    if let x = m.optional("clip_grad_norm") { t.clipGradNorm = try x.positiveDouble() }
    if let c = m.optional("callbacks") {
        let cm = try c.mapping()
        if let e = cm.optional("early_stopping") { t.earlyStopping = try parseEarlyStopping(e) }
        if let k = cm.optional("checkpoint") { t.checkpoint = try parseCheckpoint(k) }
        try cm.finish()
    }
    try m.finish()
    return t
}

private func parseOptimizer(_ v: ConfigValue) throws -> OptimizerConfig {
    var o = OptimizerConfig()
    if v.isScalar {
        o.name = try v.choice(optimizerNames, what: "an optimizer (\(optimizerNames.joined(separator: ", ")))")
        return o
    }
    let m = try v.mapping()
    if let n = m.optional("name") ?? m.optional("type") {
        o.name = try n.choice(optimizerNames, what: "an optimizer (\(optimizerNames.joined(separator: ", ")))")
    }
    if let x = m.optional("lr") { o.lr = try x.positiveDouble() }
    if let x = m.optional("weight_decay") { o.weightDecay = try x.double(in: 0...1, "a number in [0, 1]") }
    if let x = m.optional("momentum") {
        guard ["sgd", "rmsprop"].contains(o.name) else { throw x.error("momentum applies to sgd and rmsprop, not \(o.name)") }
        o.momentum = try x.double(in: 0...0.9999, "a number in [0, 1)")
    }
    if let x = m.optional("nesterov") {
        guard o.name == "sgd" else { throw x.error("nesterov applies to sgd, not \(o.name)") }
        o.nesterov = try x.bool()
    }
    if let x = m.optional("betas") {
        guard ["adam", "adamw"].contains(o.name) else { throw x.error("betas apply to adam and adamw, not \(o.name)") }
        let items = try x.list()
        guard items.count == 2 else { throw x.mismatch("a list of two numbers in [0, 1)") }
        o.betas = try items.map { try $0.double(in: 0...0.999999, "a number in [0, 1)") }
    }
    try m.finish()
    return o
}

private func parseSchedule(_ v: ConfigValue) throws -> ScheduleConfig {
    let (_, opts, at) = try namedEntry(v, what: "a schedule")
    let name = try at.choice(scheduleNames, what: "a schedule (\(scheduleNames.joined(separator: ", ")))")
    if let o = opts, !o.isMapping { throw o.mismatch("a mapping of \(name) options") }
    let m = try opts?.mapping()
    m?.skipKind()
    let s: ScheduleConfig
    switch name {
    case "none": s = .none
    case "step":
        guard let m else { throw v.error("step needs `step_size` (epochs)") }
        s = .step(stepSize: try m.required("step_size", expected: "epochs between decays").int(atLeast: 1),
                  gamma: try m.optional("gamma")?.positiveDouble() ?? 0.1)
    case "multistep":
        guard let m else { throw v.error("multistep needs `milestones` (epochs)") }
        s = .multiStep(milestones: try m.required("milestones", expected: "a list of epochs").intList(),
                       gamma: try m.optional("gamma")?.positiveDouble() ?? 0.1)
    case "exponential":
        s = .exponential(gamma: try m?.optional("gamma")?.positiveDouble() ?? 0.95)
    case "cosine":
        s = .cosine(minLR: try m?.optional("min_lr")?.double(in: 0...1, "a number in [0, 1]") ?? 0)
    case "one_cycle":
        s = .oneCycle(maxLR: try m?.optional("max_lr")?.positiveDouble() ?? .nan,
                      pctStart: try m?.optional("pct_start")?.double(in: 0.01...0.99, "a fraction in (0, 1)") ?? 0.3)
    case "warmup":
        s = .warmup(epochs: try m?.optional("epochs")?.int(atLeast: 1) ?? 5,
                    startFactor: try m?.optional("start_factor")?.double(in: 0.0001...1, "a factor in (0, 1]") ?? 0.1)
    default:
        s = .plateau(monitor: try m?.optional("monitor")?.string(),
                     factor: try m?.optional("factor")?.double(in: 0.01...0.99, "a factor in (0, 1)") ?? 0.1,
                     patience: try m?.optional("patience")?.int(atLeast: 0) ?? 3)
    }
    try m?.finish()
    return s
}

private func parseLoss(_ v: ConfigValue, task: TaskKind) throws -> LossConfig {
    let (_, opts, at) = try namedEntry(v, what: "a loss")
    let allowed = task == .classification ? ["cross_entropy"] : ["mse", "l1"]
    let name = try at.choice(allowed, what: "a \(task.rawValue) loss (\(allowed.joined(separator: ", ")))")
    switch name {
    case "cross_entropy":
        var smoothing = 0.0
        if let o = opts {
            let m = try o.mapping()
            m.skipKind()
            if let x = m.optional("label_smoothing") { smoothing = try x.double(in: 0...0.5, "a number in [0, 0.5]") }
            try m.finish()
        }
        return .crossEntropy(labelSmoothing: smoothing)
    case "mse": return .mse
    default: return .l1
    }
}

private func parseEarlyStopping(_ v: ConfigValue) throws -> EarlyStoppingConfig? {
    var e = EarlyStoppingConfig()
    if v.isScalar, v.kind == .bool { return try v.bool() ? e : nil }
    let m = try v.mapping()
    if let x = m.optional("monitor") { e.monitor = try x.string() }
    if let x = m.optional("patience") { e.patience = try x.int(atLeast: 1) }
    if let x = m.optional("min_delta") { e.minDelta = try x.double(in: 0...Double.greatestFiniteMagnitude, "a non-negative number") }
    if let x = m.optional("restore_best") { e.restoreBest = try x.bool() }
    try m.finish()
    return e
}

private func parseCheckpoint(_ v: ConfigValue) throws -> CheckpointConfig {
    var c = CheckpointConfig()
    let m = try v.mapping()
    if let x = m.optional("every_batches") {
        let n = try x.int(atLeast: 0)
        c.everyBatches = n == 0 ? nil : n
    }
    if let x = m.optional("save_best") { c.saveBest = try x.bool() }
    if let x = m.optional("monitor") { c.monitor = try x.string() }
    try m.finish()
    return c
}
