import Foundation
import Testing
@testable import EmberTrain

/// Class labels come from a dataset: ones a cross-entropy loss cannot use are a thrown error naming the target, the
/// number of classes and the batch row, before any step is taken on the batch.
@Suite(.serialized) struct TrainerTargetTests {
    @Test func outOfRangeLabelsThrowFromFitAndEvaluate() throws {
        let (x, y) = blobs(n: 16, seed: 2)
        var labels = y.toArray(Int64.self)
        labels[5] = 12
        let bad = TensorBatches(inputs: x, targets: Tensor(labels), batchSize: 16, shuffle: false)
        let model = makeModel(seed: 1)
        let before = bits(model)
        let trainer = Trainer(model, optimizer: SGD(model.parameters, lr: 0.1), loss: .crossEntropy, metrics: [.accuracy])
        #expect(throws: ClassTargetError.outOfRange(op: "cross-entropy", target: 12, classes: 3, row: 5)) {
            try trainer.fit(bad, epochs: 1)
        }
        #expect(bits(model) == before, "no step was taken")
        do { try trainer.fit(bad, epochs: 1) } catch {
            #expect("\(error)" == "cross-entropy: target 12 is out of range for 3 classes (batch row 5)")
        }
        #expect(throws: ClassTargetError.outOfRange(op: "cross-entropy", target: 12, classes: 3, row: 5)) {
            _ = try trainer.evaluate(bad)
        }
        // the row is the position in the batch that holds the label; negative labels too
        labels = y.toArray(Int64.self)
        labels[9] = -3
        #expect(throws: ClassTargetError.outOfRange(op: "cross-entropy", target: -3, classes: 3, row: 1)) {
            try trainer.fit(TensorBatches(inputs: x, targets: Tensor(labels), batchSize: 4, shuffle: false), epochs: 1)
        }
        // float labels cannot be class indices; ignore_index (-100) is allowed
        #expect(throws: ClassTargetError.notIntegers(op: "cross-entropy", dtype: .bool)) {
            _ = try trainer.evaluate(TensorBatches(inputs: x, targets: Tensor([Bool](repeating: true, count: 16)), batchSize: 16))
        }
        labels[9] = -100
        try trainer.fit(TensorBatches(inputs: x, targets: Tensor(labels), batchSize: 4, shuffle: false), epochs: 1)
    }
}
