import Foundation
import Testing
@testable import EmberTrain

/// Bits of every tensor of an optimizer's state, with its step counts and learning rates.
func optimizerBits(_ o: Optimizer) -> [String: [UInt32]] {
    let s = o.stateDict()
    var out: [String: [UInt32]] = [:]
    for (k, t) in s.tensors { out[k] = t.scalars.map(\.bitPattern) }
    for (i, n) in s.steps { out["steps.\(i)"] = [UInt32(n)] }
    out["lrs"] = s.lrs.map { Float($0).bitPattern }
    return out
}

/// A small GAN: the generator maps noise to 2-D points, the discriminator tells them from the data.
struct GAN {
    let g: Sequential, d: Sequential
    let optG: Adam, optD: SGD
    let schedD: StepLR
    let noise: Generator
    let trainer: Trainer

    init(initSeed: UInt64) {
        let gi = Generator(seed: initSeed), di = Generator(seed: initSeed + 1)
        let g = Sequential { Linear(3, 8, generator: gi); ReLU(); Linear(8, 2, generator: gi) }
        let d = Sequential { Linear(2, 8, generator: di); ReLU(); Dropout(0.25, generator: di); Linear(8, 1, generator: di) }
        let optG = Adam(g.parameters, lr: 0.01), optD = SGD(d.parameters, lr: 0.05, momentum: 0.9)
        let schedD = StepLR(optD, stepSize: 1, gamma: 0.7)
        let noise = Generator(seed: initSeed + 2)
        self.g = g; self.d = d; self.optG = optG; self.optD = optD; self.schedD = schedD; self.noise = noise
        trainer = Trainer(models: ["generator": g, "discriminator": d], optimizers: ["opt_g": optG, "opt_d": optD],
                          schedulers: ["sched_d": schedD], state: ["noise": noise],
                          validationStep: { batch, _ in
                              ["d_real": d(batch.input).sigmoid().mean().item()]
                          }) { batch, _ in
            let real = batch.input, n = real.shape[0]
            let ones = Tensor.ones([n, 1]), zeros = Tensor.zeros([n, 1])
            let fake = g(noise.withState { Tensor.normal([n, 3], rng: &$0) })
            optD.zeroGrad()
            let lossD = binaryCrossEntropyWithLogits(d(real), ones) + binaryCrossEntropyWithLogits(d(fake.detached()), zeros)
            lossD.backward()
            optD.step()
            optG.zeroGrad()
            let lossG = binaryCrossEntropyWithLogits(d(fake), ones)
            lossG.backward()
            optG.step()
            return ["loss_d": lossD.item(), "loss_g": lossG.item()]
        }
    }
}

@Suite(.serialized) struct CustomStepTests {
    let data: TensorBatches = {
        var rng = RandomState(seed: 17)
        let x = Tensor.normal([40, 2], std: 0.5, rng: &rng) + Tensor([2, -1] as [Float], shape: [1, 2])
        return TensorBatches(inputs: x, targets: Tensor.zeros([40]), batchSize: 8, seed: 3)   // 5 batches per epoch
    }()

    func run(_ gan: GAN, stopAfter: Int?, resume: URL?, dir: URL) throws -> History {
        Generator.manualSeed(41)
        var cbs: [Callback] = [ModelCheckpoint(directory: dir, monitor: "val_d_real", saveBest: true, everyBatches: 1)]
        if let s = stopAfter { cbs.append(StopAfter(steps: s)) }
        return try gan.trainer.fit(data, validation: TensorBatches(inputs: data.inputs, targets: data.targets, batchSize: 20, shuffle: false),
                                   epochs: 3, callbacks: cbs, resumeFrom: resume)
    }

    @Test func twoModelsTwoOptimizersTrainAndLog() throws {
        let gan = GAN(initSeed: 5)
        var lines: [String] = []
        let h = try gan.trainer.fit(data, epochs: 2, callbacks: [ProgressBar(interactive: false) { lines.append($0) }])
        #expect(h.epochs == 2 && h["loss_d"]!.allSatisfy(\.isFinite) && h["loss_g"]!.allSatisfy(\.isFinite))
        #expect(h["lr_opt_d"]!.map { Float($0) } == [0.05, 0.035] && h["lr_opt_g"]! == [0.01, 0.01])
        #expect(lines.count == 2 && lines[0].contains("loss_d") && lines[0].contains("loss_g"))
        #expect(gan.trainer.step == 10)
        #expect(gan.trainer.model.stateDict().map(\.0).first == "generator.0.weight")
        #expect(gan.trainer.model.parameterCount == gan.g.parameterCount + gan.d.parameterCount)
        let v = try gan.trainer.evaluate(data)
        #expect(v.keys.sorted() == ["d_real"] && v["d_real"]! > 0 && v["d_real"]! < 1)
    }

    /// A GAN run killed in the middle of epoch 2 and resumed from its checkpoint ends with the same bits in both
    /// models and both optimizers, and the same history, as the run that was never interrupted.
    @Test func interruptedGANResumesBitIdentically() throws {
        let full = GAN(initSeed: 5)
        let fullHistory = try run(full, stopAfter: nil, resume: nil, dir: tempDirectory())
        let dir = tempDirectory()
        _ = try run(GAN(initSeed: 5), stopAfter: 7, resume: nil, dir: dir)        // dies in epoch 2, after batch 2
        let position = try TrainingCheckpoint.position(at: dir.appendingPathComponent("last.ckpt.safetensors"))
        #expect(position.epoch == 1 && position.batch == 2 && position.step == 7)
        // A fresh process builds the models from other seeds: the weights must come from disk.
        let resumed = GAN(initSeed: 999)
        let resumedHistory = try run(resumed, stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: dir)
        #expect(bits(resumed.g) == bits(full.g))
        #expect(bits(resumed.d) == bits(full.d))
        #expect(optimizerBits(resumed.optG) == optimizerBits(full.optG))
        #expect(optimizerBits(resumed.optD) == optimizerBits(full.optD))
        #expect(resumed.noise.state == full.noise.state && resumed.schedD.epoch == full.schedD.epoch)
        #expect(resumedHistory == fullHistory)
        #expect(fullHistory.epochs == 3 && fullHistory["val_d_real"]?.count == 3)

        // A checkpoint for other models says which object does not fit, and changes nothing.
        let other = GAN(initSeed: 1)
        other.trainer.models[1].model.replaceModule(at: "3", with: Linear(8, 2))
        let before = bits(other.g)
        #expect(throws: FileFormatError.self) {
            _ = try run(other, stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: tempDirectory())
        }
        do {
            _ = try run(other, stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: tempDirectory())
        } catch {
            #expect("\(error)".contains("checkpoint does not fit model 'discriminator': state dict entry '3.weight'"))
        }
        #expect(bits(other.g) == before, "the generator, which fits, is not loaded either")
    }
}

/// Checkpoints written before objects were named (format 1) still resume, bit-identically.
@Suite(.serialized) struct FormatOneCheckpointTests {
    /// The format-2 checkpoint at `url` rewritten in the format-1 layout: the same tensor names, and the
    /// optimizer, scheduler, generator and callback values inside "ember_checkpoint".
    func formatOne(_ url: URL) throws -> URL {
        let (tensors, meta) = try SafeTensors.read(from: url)
        func json(_ key: String) throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: Data(meta[key]!.utf8)) as? [String: Any])
        }
        var ck = try json("ember_checkpoint")
        let names = ck["objects"] as! [String]
        ck["objects"] = nil
        ck["version"] = nil
        let optim = try json("ember_state.optim")
        ck["optimizerSteps"] = optim["steps"]
        ck["learningRates"] = optim["learningRates"]
        ck["optimizer"] = optim["optimizer"]
        ck["parameterGroupSizes"] = optim["parameterGroupSizes"]
        if meta["ember_state.scheduler"] != nil { ck["schedulerEpoch"] = try json("ember_state.scheduler")["epoch"] }
        var generators: [String: Any] = ["default": try json("ember_state.rng")]
        if meta["ember_state.model"] != nil {
            for (k, v) in try json("ember_state.model")["generators"] as! [String: Any] { generators["model." + k] = v }
        }
        ck["generators"] = generators
        var callbacks: [String: Any] = [:]
        for name in names where name.hasPrefix("callback.") { callbacks[String(name.dropFirst(9))] = try json("ember_state." + name) }
        ck["callbacks"] = callbacks
        let m = ["format": "ember-checkpoint", "ember_checkpoint": String(decoding: try JSONSerialization.data(withJSONObject: ck), as: UTF8.self)]
        let out = url.deletingLastPathComponent().appendingPathComponent("format1-\(UUID().uuidString).safetensors")
        try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: m, to: out)
        return out
    }

    @Test func formatOneCheckpointResumesBitIdentically() throws {
        let (x, y) = blobs(n: 96, seed: 7)
        let data = TensorBatches(inputs: x, targets: y, batchSize: 32, seed: 11)   // 3 batches per epoch
        func run(stopAfter: Int?, resume: URL?, dir: URL, initSeed: UInt64) throws -> (Module, History, EarlyStopping) {
            Generator.manualSeed(99)
            let model = makeModel(seed: initSeed)
            let opt = AdamW(model.parameters, lr: 0.01)
            let early = EarlyStopping(monitor: "loss", patience: 10)
            let trainer = Trainer(model, optimizer: opt, loss: .crossEntropy, metrics: [.accuracy],
                                  scheduler: StepLR(opt, stepSize: 1, gamma: 0.5))
            var cbs: [Callback] = [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1), early]
            if let s = stopAfter { cbs.append(StopAfter(steps: s)) }
            return (model, try trainer.fit(data, epochs: 3, callbacks: cbs, resumeFrom: resume), early)
        }
        let (full, fullHistory, fullEarly) = try run(stopAfter: nil, resume: nil, dir: tempDirectory(), initSeed: 3)
        let dir = tempDirectory()
        _ = try run(stopAfter: 5, resume: nil, dir: dir, initSeed: 3)
        let old = try formatOne(dir.appendingPathComponent("last.ckpt.safetensors"))
        #expect(try TrainingCheckpoint.position(at: old).version == nil)
        let (resumed, resumedHistory, resumedEarly) = try run(stopAfter: nil, resume: old, dir: dir, initSeed: 12345)
        #expect(bits(resumed) == bits(full))
        #expect(resumedHistory == fullHistory)
        #expect(resumedEarly.best == fullEarly.best && resumedEarly.bestEpoch == fullEarly.bestEpoch)
    }
}
