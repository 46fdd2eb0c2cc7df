import Foundation
import Testing
@testable import EmberTrain

/// Two Gaussian blobs per class in 8 dimensions: learnable, not trivially.
func blobs(n: Int, classes: Int = 3, seed: UInt64) -> (Tensor, Tensor) {
    var rng = RandomState(seed: seed)
    let centers = Tensor.normal([classes, 8], std: 2, rng: &rng)
    let y = Tensor.randint(0, classes, shape: [n], rng: &rng)
    let x = centers.indexSelect(axis: 0, index: y) + Tensor.normal([n, 8], rng: &rng)
    return (x, y)
}

func makeModel(seed: UInt64, hidden: Int = 32) -> Sequential {
    let g = Generator(seed: seed)
    return Sequential {
        Linear(8, hidden, generator: g); ReLU(); Dropout(0.2, generator: g)
        Linear(hidden, 3, generator: g)
    }
}

func tempDirectory() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-train-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

func bits(_ m: Module) -> [String: [UInt32]] {
    var out: [String: [UInt32]] = [:]
    for (n, t) in m.stateDict() where t.dtype == .float32 { out[n] = t.scalars.map(\.bitPattern) }
    return out
}

/// Stops training after a given number of optimizer steps (simulates a kill between two batches).
final class StopAfter: Callback {
    let steps: Int
    init(steps: Int) { self.steps = steps }
    func batchEnd(_ trainer: Trainer, epoch: Int, batch: Int, logs: [String: Double]) {
        if trainer.step == steps { trainer.stopTraining = true }
    }
}

@Suite(.serialized) struct TrainerTests {
    @Test func fitLearnsAndReportsHistory() throws {
        let (x, y) = blobs(n: 240, seed: 1)
        let (vx, vy) = blobs(n: 60, seed: 1)  // same centers (same seed), fresh noise below
        let model = makeModel(seed: 3)
        let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.01), loss: .crossEntropy, metrics: [.accuracy])
        var lines: [String] = []
        let h = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 32, seed: 5),
                                validation: TensorBatches(inputs: vx, targets: vy, batchSize: 64, shuffle: false),
                                epochs: 8, callbacks: [ProgressBar(interactive: false) { lines.append($0) }])
        #expect(h.epochs == 8)
        #expect(h["loss"]!.last! < h["loss"]!.first!)
        #expect(h["val_accuracy"]!.last! > 0.9)
        #expect(h["lr"]! == [Double](repeating: 0.01, count: 8))
        #expect(lines.count == 8 && lines[0].hasPrefix("epoch 1/8 - ") && lines[0].contains("val_loss"))
        let p = trainer.predict(vx, batchSize: 7)
        #expect(p.shape == [60, 3])
        let ev = try trainer.evaluate(TensorBatches(inputs: vx, targets: vy, batchSize: 64, shuffle: false))
        #expect(abs(ev["accuracy"]! - h["val_accuracy"]!.last!) < 1e-12)
    }

    @Test func resumeIsBitIdentical() throws {
        let (x, y) = blobs(n: 200, seed: 7)
        let data = TensorBatches(inputs: x, targets: y, batchSize: 32, seed: 11)   // 7 batches per epoch
        func run(stopAfter: Int?, resume: URL?, dir: URL, initSeed: UInt64) throws -> (Module, History) {
            Generator.manualSeed(99)
            let model = makeModel(seed: initSeed)
            let opt = AdamW(model.parameters, lr: 0.01)
            let sched = StepLR(opt, stepSize: 1, gamma: 0.5)
            let trainer = Trainer(model, optimizer: opt, loss: .crossEntropy, metrics: [.accuracy], scheduler: sched)
            var cbs: [Callback] = [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1)]
            if let s = stopAfter { cbs.append(StopAfter(steps: s)) }
            let h = try trainer.fit(data, epochs: 3, callbacks: cbs, resumeFrom: resume)
            return (model, h)
        }
        let (full, fullHistory) = try run(stopAfter: nil, resume: nil, dir: tempDirectory(), initSeed: 3)
        let dir = tempDirectory()
        _ = try run(stopAfter: 10, resume: nil, dir: dir, initSeed: 3)       // dies in epoch 1, batch 3
        // A fresh process would build the model from scratch: use another init seed to prove weights come from disk.
        let (resumed, resumedHistory) = try run(stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"),
                                                dir: dir, initSeed: 12345)
        #expect(bits(resumed) == bits(full))
        #expect(resumedHistory == fullHistory)
    }

    @Test func sameSeedSameBitsForAnyThreadCount() throws {
        let (x, y) = blobs(n: 256, seed: 21)
        func train(threads: Int) throws -> [String: [UInt32]] {
            try Threading.withThreads(threads) {
                let model = makeModel(seed: 4, hidden: 512)   // activations of 128x512: large enough to split across threads
                let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.005), loss: .crossEntropy)
                try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 128, seed: 2), epochs: 2)
                return bits(model)
            }
        }
        let one = try train(threads: 1)
        for n in [2, 3, 4] {
            let other = try train(threads: n)
            let differing = one.keys.filter { one[$0] != other[$0] }.sorted()
            #expect(differing.isEmpty, "with \(n) threads these parameters differ from the 1-thread run: \(differing)")
        }
    }

    @Test func earlyStoppingRestoresBestWeights() throws {
        let (x, y) = blobs(n: 64, seed: 5)
        let model = makeModel(seed: 6)
        // A huge learning rate makes validation loss blow up after the first epochs.
        let trainer = Trainer(model, optimizer: SGD(model.parameters, lr: 5), loss: .crossEntropy)
        let stop = EarlyStopping(monitor: "val_loss", patience: 2, restoreBest: true)
        let check = ModelCheckpoint(directory: tempDirectory(), monitor: "val_loss")
        let val = TensorBatches(inputs: x, targets: y, batchSize: 64, shuffle: false)
        let h = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 16, seed: 1), validation: val,
                                epochs: 30, callbacks: [stop, check])
        let vl = h["val_loss"]!
        #expect(stop.stoppedEpoch != nil && h.epochs < 30)
        #expect(stop.bestEpoch == vl.firstIndex(of: vl.min()!)!)
        let now = try trainer.evaluate(val)["loss"]!
        #expect(abs(now - vl.min()!) < 1e-9)
        #expect(FileManager.default.fileExists(atPath: check.bestURL.path))
    }

    @Test func terminateOnNaNAndCSVLogger() throws {
        let (x, y) = blobs(n: 64, seed: 8)
        let model = makeModel(seed: 9)
        let nanLoss = LossFunction.custom { out, _ in out.sum() * Double.nan }
        let t = TerminateOnNaN()
        let trainer = Trainer(model, optimizer: SGD(model.parameters, lr: 0.1), loss: nanLoss)
        try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 16), epochs: 5, callbacks: [t])
        #expect(t.terminatedAt! == (0, 1))
        let url = tempDirectory().appendingPathComponent("log.csv")
        let m2 = makeModel(seed: 9)
        try Trainer(m2, optimizer: SGD(m2.parameters, lr: 0.1), loss: .crossEntropy, metrics: [.accuracy])
            .fit(TensorBatches(inputs: x, targets: y, batchSize: 16), epochs: 3, callbacks: [CSVLogger(url: url)])
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0] == "epoch,accuracy,loss,lr")
        #expect(lines[3].hasPrefix("2,"))
    }

    @Test func fitConsumesADataLoader() throws {
        let (x, y) = blobs(n: 96, seed: 13)
        let loader = DataLoader(TensorDataset(inputs: x, targets: y), batchSize: 32, shuffle: true, rng: RandomState(seed: 1))
        let model = makeModel(seed: 14)
        let h = try Trainer(model, optimizer: Adam(model.parameters, lr: 0.01), loss: .crossEntropy).fit(loader, epochs: 2)
        #expect(h.epochs == 2 && h["loss"]!.allSatisfy { $0.isFinite })
    }

    @Test func badCheckpointGivesClearError() throws {
        let url = tempDirectory().appendingPathComponent("weights.safetensors")
        try SafeTensors.write([("w", Tensor.zeros([2]))], to: url)
        let model = makeModel(seed: 1)
        let trainer = Trainer(model, optimizer: SGD(model.parameters, lr: 0.1), loss: .crossEntropy)
        let (x, y) = blobs(n: 8, seed: 1)
        #expect(throws: FileFormatError.invalid(path: url.path, reason: "not an Ember training checkpoint (no 'ember_checkpoint' metadata)")) {
            try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 4), epochs: 1, resumeFrom: url)
        }
    }
}

/// Adds a metric to every epoch's record, and remembers a failure.
final class ExtraMetric: Callback {
    var failure: String?
    func recordEpoch(_ trainer: Trainer, epoch: Int, logs: inout [String: Double]) { logs["double_loss"] = 2 * logs["loss"]! }
    func trainFailed(_ trainer: Trainer, error: Error) { failure = "\(error)" }
}

@Suite struct CallbackHookTests {
    @Test func recordEpochAddsToHistoryAndFailuresAreReported() throws {
        let (x, y) = blobs(n: 32, seed: 3)
        let model = makeModel(seed: 2)
        let extra = ExtraMetric()
        let h = try Trainer(model, optimizer: SGD(model.parameters, lr: 0.1), loss: .crossEntropy)
            .fit(TensorBatches(inputs: x, targets: y, batchSize: 8), epochs: 2, callbacks: [extra])
        #expect(h["double_loss"]! == h["loss"]!.map { 2 * $0 })
        #expect(extra.failure == nil)
        let stop = EarlyStopping(monitor: "val_nothing")
        #expect(throws: TrainingError.self) {
            try Trainer(model, optimizer: SGD(model.parameters, lr: 0.1), loss: .crossEntropy)
                .fit(TensorBatches(inputs: x, targets: y, batchSize: 8), epochs: 1, callbacks: [stop, extra])
        }
        #expect(extra.failure?.contains("val_nothing") == true)
    }
}

@Suite(.serialized) struct StatefulResumeTests {
    /// Early stopping and a plateau schedule keep counters across epochs; a resumed run must see the same counters,
    /// stop at the same epoch and end with the same bits.
    @Test func resumeRestoresCallbackState() throws {
        let (x, y) = blobs(n: 96, seed: 31)
        let data = TensorBatches(inputs: x, targets: y, batchSize: 32, seed: 4)   // 3 batches per epoch
        let val = TensorBatches(inputs: x, targets: y, batchSize: 96, shuffle: false)
        func run(stopAfter: Int?, resume: URL?, dir: URL) throws -> (Module, History, EarlyStopping) {
            Generator.manualSeed(5)
            let model = makeModel(seed: 8)
            let opt = Adam(model.parameters, lr: 0.05)
            let early = EarlyStopping(monitor: "val_loss", patience: 2, minDelta: 0.02)
            let plateau = LearningRateSchedule(ReduceLROnPlateau(opt, factor: 0.5, patience: 0), monitor: "val_loss")
            var cbs: [Callback] = [ModelCheckpoint(directory: dir, saveBest: true, everyBatches: 1), early, plateau]
            if let s = stopAfter { cbs.append(StopAfter(steps: s)) }
            let h = try Trainer(model, optimizer: opt, loss: .crossEntropy).fit(data, validation: val, epochs: 40,
                                                                                callbacks: cbs, resumeFrom: resume)
            return (model, h, early)
        }
        let (full, fullHistory, fullEarly) = try run(stopAfter: nil, resume: nil, dir: tempDirectory())
        #expect(fullEarly.stoppedEpoch != nil, "the scenario must stop early to test the counters")
        let stopEpoch = fullEarly.stoppedEpoch ?? 0
        // Interrupt two epochs before the stop, once the counters are non-trivial.
        let dir = tempDirectory()
        _ = try run(stopAfter: Swift.max(1, (stopEpoch - 1) * 3 + 1), resume: nil, dir: dir)
        let (resumed, resumedHistory, resumedEarly) = try run(stopAfter: nil,
                                                              resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: dir)
        #expect(resumedEarly.stoppedEpoch == fullEarly.stoppedEpoch)
        #expect(resumedHistory == fullHistory)
        #expect(bits(resumed) == bits(full))
        // Resuming from the checkpoint written after early stopping ended the run trains no further.
        let (again, againHistory, _) = try run(stopAfter: nil, resume: dir.appendingPathComponent("last.ckpt.safetensors"), dir: dir)
        #expect(againHistory == fullHistory)
        #expect(bits(again) == bits(full))
        // The same EarlyStopping object starts afresh in a new (not resumed) fit.
        let m2 = makeModel(seed: 9)
        let h2 = try Trainer(m2, optimizer: SGD(m2.parameters, lr: 0.01), loss: .crossEntropy)
            .fit(data, validation: val, epochs: 2, callbacks: [fullEarly])
        #expect(h2.epochs == 2)
    }
}
