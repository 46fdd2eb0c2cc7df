import Foundation
import Testing
@testable import EmberNN

// The acceptance test: an MLP and a CNN (with BatchNorm), built with Ember's layers, loaded from PyTorch's initial
// state dict (names as PyTorch spells them), trained 10 steps with cross-entropy under SGD(momentum 0.9) and
// AdamW(weight decay 0.01) must reproduce PyTorch's per-step losses and final weights and running statistics
// (Fixtures/nn_training.json, from scripts/golden/make_nn_golden.py).
//
// Tolerance: |ember - torch| <= 1e-6 + 1e-5 |torch| per element (llm.c's habit of 1e-5 relative).
// - Why 1e-5 relative is loose enough: both sides are float32 implementations that differ only in summation order
//   (OpenBLAS vs. PyTorch GEMM/conv kernels) and last-ulp transcendental results. The script measures how far float32
//   PyTorch lands from a float64 PyTorch run of the same trajectory and stores it in `f32_sensitivity`: at most 0.1
//   of this tolerance for every weight and loss, so an independent, correct float32 implementation has ~10x headroom.
// - Why an absolute floor: weights that sit near zero (biases, a decayed entry) carry absolute rounding errors of a
//   few ulps of the O(0.1-1) quantities they are computed from (~1e-7), so a pure relative test would demand
//   impossible precision there; 1e-6 is ~10 ulps at magnitude 1 and still far below any real bug (a wrong
//   momentum or decay term moves weights by ~lr * |grad| >= 1e-3).
// - The conv in front of BatchNorm has no bias: its gradient would be 0 in exact arithmetic and float32 noise in
//   practice, which AdamW amplifies to random-sign lr steps (see the script) -- no implementation can match noise.
private let atol = 1e-6, rtol = 1e-5

final class GoldenCNN: Module {
    let features = Sequential {
        Conv2d(1, 4, kernel: 3, bias: false); BatchNorm2d(4); ReLU(); MaxPool2d(2)
        Conv2d(4, 8, kernel: 3); ReLU()
    }
    let classifier = Sequential { Flatten(); Dropout(0); Linear(32, 3) }
    override func forward(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

@Suite struct TrainingGoldenTests {
    static func model(_ name: String) -> Module {
        switch name {
        case "mlp": return Sequential { Linear(20, 32); ReLU(); Linear(32, 16); ReLU(); Linear(16, 5) }
        default: return GoldenCNN()
        }
    }

    @Test(arguments: ["mlp", "cnn"], ["sgd", "adamw"])
    func trajectoryMatchesPyTorch(modelName: String, optimizer: String) throws {
        let fixture = try #require(Fixtures.training["models"].array.first { $0["name"].string == modelName })
        let model = Self.model(modelName)
        // Ember's state-dict names and order are PyTorch's.
        #expect(model.stateDict().map(\.0) == fixture["initial"].stateOrder)
        try model.loadStateDict(fixture["initial"].stateDict)
        model.train()

        let opt: Optimizer
        if optimizer == "sgd" {
            opt = SGD(model.parameters, lr: fixture["sgd"]["lr"].double, momentum: fixture["sgd"]["momentum"].double)
        } else {
            opt = AdamW(model.parameters, lr: fixture["adamw"]["lr"].double,
                        weightDecay: fixture["adamw"]["weight_decay"].double)
        }
        let x = fixture["input"].tensor, y = fixture["labels"].tensor
        var losses: [Double] = []
        for _ in 0..<10 {
            opt.zeroGrad()
            let loss = crossEntropy(model(x), y)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        }
        let run = fixture["runs"][optimizer]
        expectClose(losses, run["losses"].doubles, atol: atol, rtol: rtol, "\(modelName)/\(optimizer) losses")
        _ = expectStateClose(model, run["final"], atol: atol, rtol: rtol, "\(modelName)/\(optimizer) final")
        // The loss went down: the trajectory is a real training run, not a fixed point.
        #expect(losses.last! < losses.first!)
    }
}
