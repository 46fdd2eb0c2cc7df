import Foundation
import Testing
@testable import EmberTrain

/// Checkpoints come from files: one that does not fit the optimizer (another kind, other groups, other parameter
/// counts) or is damaged is a thrown error naming what differs, and leaves the model as it was; never a trap.
@Suite(.serialized) struct CheckpointSafetyTests {
    /// A checkpoint of one epoch of Adam (2 batches) with an early-stopping callback, and its directory.
    func adamCheckpoint() throws -> URL {
        let (x, y) = blobs(n: 32, seed: 4)
        let model = makeModel(seed: 5)
        let dir = tempDirectory()
        let cbs: [Callback] = [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1), EarlyStopping(monitor: "loss", patience: 5)]
        try Trainer(model, optimizer: Adam(model.parameters, lr: 0.01), loss: .crossEntropy)
            .fit(TensorBatches(inputs: x, targets: y, batchSize: 16, seed: 1), epochs: 1, callbacks: cbs)
        return dir.appendingPathComponent("last.ckpt.safetensors")
    }

    /// The checkpoint at `url` with the JSON of metadata entry `key` changed by `change`, written next to it: the
    /// position ("ember_checkpoint") or an object's values ("ember_state.optim").
    func edited(_ url: URL, _ key: String = "ember_checkpoint", _ change: (inout [String: Any]) -> Void) throws -> URL {
        let (tensors, meta) = try SafeTensors.read(from: url)
        var json = try #require(JSONSerialization.jsonObject(with: Data(meta[key]!.utf8)) as? [String: Any])
        change(&json)
        var m = meta
        m[key] = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let out = url.deletingLastPathComponent().appendingPathComponent("edited-\(UUID().uuidString).safetensors")
        try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: m, to: out)
        return out
    }

    /// The message a resume from `url` throws (nil: it resumed), and whether the model was left unchanged.
    func resume(_ url: URL, optimizer: (Module) -> Optimizer, callbacks: [Callback] = []) -> (String?, Bool) {
        let (x, y) = blobs(n: 32, seed: 4)
        let model = makeModel(seed: 6)
        let before = bits(model)
        do {
            try Trainer(model, optimizer: optimizer(model), loss: .crossEntropy)
                .fit(TensorBatches(inputs: x, targets: y, batchSize: 16, seed: 1), epochs: 2, callbacks: callbacks, resumeFrom: url)
            return (nil, bits(model) == before)
        } catch {
            return ("\(error)", bits(model) == before)
        }
    }

    @Test func resumingWithAnotherOptimizerConfigurationThrows() throws {
        let url = try adamCheckpoint()
        let path = url.path
        let sgd = resume(url) { SGD($0.parameters, lr: 0.1, momentum: 0.9) }
        #expect(sgd.0 == "\(path): checkpoint does not fit this optimizer: optimizer state was saved by Adam; this optimizer is SGD")
        #expect(sgd.1, "the model is left as it was")
        #expect(resume(url) { AdamW($0.parameters) }.0
                == "\(path): checkpoint does not fit this optimizer: optimizer state was saved by Adam; this optimizer is AdamW")
        let groups = resume(url) { m in
            Adam(groups: [ParamGroup(Array(m.parameters.prefix(2))), ParamGroup(Array(m.parameters.dropFirst(2)), lr: 0.1)])
        }
        #expect(groups.0 == "\(path): checkpoint does not fit this optimizer: optimizer state has 1 parameter group(s) (learning rates [0.01]); this optimizer has 2")
        #expect(groups.1)
        #expect(resume(url) { Adam(Array($0.parameters.prefix(2))) }.0
                == "\(path): checkpoint does not fit this optimizer: optimizer state: parameter group 0 has 4 parameter(s) in the saved state, 2 here")
        // a checkpoint from before the optimizer was recorded: its buffers and parameter indices tell
        let old = try edited(url, "ember_state.optim") { $0["optimizer"] = nil; $0["parameterGroupSizes"] = nil }
        #expect(resume(old) { SGD($0.parameters, lr: 0.1, momentum: 0.9) }.0
                == "\(old.path): checkpoint does not fit this optimizer: optimizer state '0.exp_avg' is not a buffer of SGD (its buffers: momentum_buffer)")
        #expect(resume(old) { Adam(Array($0.parameters.prefix(2))) }.0
                == "\(old.path): checkpoint does not fit this optimizer: optimizer state '2.exp_avg' is for parameter 2; this optimizer has 2 parameter(s)")
        // another learning rate is not a mismatch: the checkpoint's is restored, as PyTorch's load_state_dict does
        #expect(resume(url) { Adam($0.parameters, lr: 0.5) }.0 == nil)
    }

    @Test func damagedCheckpointMetadataThrows() throws {
        let url = try adamCheckpoint()
        func message(_ key: String = "ember_checkpoint", _ change: (inout [String: Any]) -> Void) throws -> String? {
            let u = try edited(url, key, change)
            let r = resume(u, optimizer: { Adam($0.parameters, lr: 0.01) },
                           callbacks: [ModelCheckpoint(directory: tempDirectory(), saveBest: false), EarlyStopping(monitor: "loss", patience: 5)])
            #expect(r.1 || r.0 == nil, "a failed resume leaves the model as it was")
            return r.0?.replacingOccurrences(of: u.path + ": ", with: "")
        }
        #expect(try message { _ in } == nil)
        #expect(try message { $0["batch"] = -1 } == "checkpoint metadata is not valid: batch is -1; expected a count >= 0")
        #expect(try message { $0["epoch"] = -2 } == "checkpoint metadata is not valid: epoch is -2; expected a count >= 0")
        #expect(try message { $0["batch"] = 5 }
                == "checkpoint is after batch 5 of epoch 2, but an epoch has 2 batches here (another batch size or data set?)")
        #expect(try message { $0["schedulerEpoch"] = -3 } == "checkpoint metadata is not valid: schedulerEpoch is -3; expected a count >= 0")
        #expect(try message { j in
            var h = j["history"] as! [String: Any]
            h["epochs"] = 5
            j["history"] = h
        } == "checkpoint metadata is not valid: history.metrics[\"loss\"] has 1 values for 5 epochs")
        #expect(try message("ember_state.optim") { $0["learningRates"] = [Double]() }
                == "checkpoint does not fit this optimizer: optimizer state has 0 parameter group(s) (learning rates []); this optimizer has 1")
        #expect(try message("ember_state.optim") { $0["steps"] = ["0": Int.max] }
                == "checkpoint does not fit this optimizer: optimizer state: step count \(Int.max) of parameter 0 is too large")
        #expect(try message("ember_state.optim") { $0["steps"] = ["9": 2] }
                == "checkpoint does not fit this optimizer: optimizer state 'steps[9]' is for parameter 9; this optimizer has 4 parameter(s)")
        for (key, value, low) in [("wait", "NaN", "0"), ("best_epoch", "-7", "-1"), ("stopped_epoch", "1e300", "0"), ("wait", "2.5", "0")] {
            let got = try message("ember_state.callback.1.EarlyStopping") { es in
                es[key] = value == "NaN" ? "NaN" : Double(value)!
            }
            let shown = value == "NaN" ? "nan" : "\(Double(value)!)"
            #expect(got == "checkpoint state of callback 1.EarlyStopping is not valid: '\(key)' is \(shown); expected a whole number >= \(low)")
        }
    }
}
