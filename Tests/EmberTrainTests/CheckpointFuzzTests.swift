import Foundation
import Testing
import EmberTestSupport
@testable import EmberTrain

/// Seeded mutation fuzzing of checkpoints on resume: mutated metadata JSON (the hand-edited case) and mutated
/// bytes must resume or throw, never trap. Bounded; no timing.
@Suite(.serialized) struct CheckpointFuzzTests {
    static let rounds = 120

    func checkpoint() throws -> URL {
        let (x, y) = blobs(n: 32, seed: 4)
        let model = makeModel(seed: 5, hidden: 8)
        let dir = tempDirectory()
        try Trainer(model, optimizer: Adam(model.parameters, lr: 0.01), loss: .crossEntropy)
            .fit(TensorBatches(inputs: x, targets: y, batchSize: 16, seed: 1), epochs: 1,
                 callbacks: [ModelCheckpoint(directory: dir, saveBest: false, everyBatches: 1), EarlyStopping(monitor: "loss", patience: 5)])
        return dir.appendingPathComponent("last.ckpt.safetensors")
    }

    /// Whether the resume went through (false: a thrown error).
    func resume(_ url: URL) -> Bool {
        let (x, y) = blobs(n: 32, seed: 4)
        let model = makeModel(seed: 6, hidden: 8)
        return (try? Trainer(model, optimizer: Adam(model.parameters, lr: 0.01), loss: .crossEntropy)
            .fit(TensorBatches(inputs: x, targets: y, batchSize: 16, seed: 1), epochs: 2,
                 callbacks: [EarlyStopping(monitor: "loss", patience: 5)], resumeFrom: url)) != nil
    }

    @Test func mutatedMetadata() throws {
        let url = try checkpoint()
        let (tensors, meta) = try SafeTensors.read(from: url)
        let json = Array(meta["ember_checkpoint"]!.utf8)
        let out = url.deletingLastPathComponent().appendingPathComponent("mutated.safetensors")
        var m = Mutator(state: 31)
        var resumed = 0
        for _ in 0..<Self.rounds {
            var mm = meta
            mm["ember_checkpoint"] = String(decoding: m.mutate(json), as: UTF8.self)
            try SafeTensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: mm, to: out)
            if resume(out) { resumed += 1 }
        }
        print("checkpoint fuzz (metadata): \(Self.rounds) mutated, \(resumed) resumed, \(Self.rounds - resumed) refused with an error")
    }

    @Test func mutatedBytes() throws {
        let url = try checkpoint()
        let seed = Array(try Data(contentsOf: url))
        let out = url.deletingLastPathComponent().appendingPathComponent("mutated.safetensors")
        var m = Mutator(state: 32)
        var resumed = 0
        for _ in 0..<Self.rounds {
            try Data(m.mutate(seed)).write(to: out)
            if resume(out) { resumed += 1 }
        }
        print("checkpoint fuzz (bytes): \(Self.rounds) mutated, \(resumed) resumed, \(Self.rounds - resumed) refused with an error")
    }
}
