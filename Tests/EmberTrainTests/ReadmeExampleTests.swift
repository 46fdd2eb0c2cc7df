import Foundation
import Testing
@testable import EmberTrain

/// The README's tour, compiled and run as written (only the output folder is a temporary one).
@Suite struct ReadmeExampleTests {
    @Test func tourRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-readme-\(UUID().uuidString)")
        var rng = RandomState(seed: 42)
        let x = Tensor.normal([64, 784], rng: &rng)
        let w = Tensor.normal([10, 784], std: 0.01, rng: &rng)
        let b = Tensor.zeros([10])
        w.requiresGrad = true; b.requiresGrad = true

        let labels = Tensor.randint(0, 10, shape: [64], rng: &rng)
        let logp = linear(x, w, b).logSoftmax(axis: -1)
        let loss = -logp.gather(axis: 1, index: labels.unsqueezed(axis: 1)).mean()
        loss.backward()
        #expect(w.grad!.shape == [10, 784] && b.grad!.shape == [10])
        #expect(abs(loss.item() - crossEntropy(withoutGrad { linear(x, w, b) }, labels).item()) < 1e-5)

        let (value, grads) = valueAndGrad([w, b]) { p in linear(x, p[0], p[1]).square().mean() }
        #expect(value.count == 1 && grads[0].shape == w.shape)

        let model = Sequential {
            Conv2d(1, 32, kernel: 3); ReLU(); MaxPool2d(2)
            Flatten(); Linear(32 * 13 * 13, 10)
        }
        let trainer = Trainer(model, optimizer: AdamW(model.parameters, lr: 1e-3), loss: .crossEntropy, metrics: [.accuracy])
        let images = Tensor.normal([16, 1, 28, 28], rng: &rng), classes = Tensor.randint(0, 10, shape: [16], rng: &rng)
        let history = try trainer.fit(TensorBatches(inputs: images, targets: classes, batchSize: 8), epochs: 2,
                                      callbacks: [ProgressBar(interactive: false) { _ in }, ModelCheckpoint(directory: dir)])
        #expect(history.epochs == 2)
        try SafeTensors.write(model.stateDict(), to: dir.appendingPathComponent("model.safetensors"))
        let (saved, _) = try SafeTensors.read(from: dir.appendingPathComponent("model.safetensors"))
        #expect(Set(saved.keys) == ["0.weight", "0.bias", "4.weight", "4.bias"])
    }
}
