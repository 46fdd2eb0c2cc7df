import EmberCore
import EmberData
import EmberNN
import EmberTrain
import Foundation
import Testing
import EmberTestSupport
@testable import EmberTrack

/// Small image-classification data: 4x4 one-channel images whose class is the bright quadrant.
func quadrantImages(n: Int, seed: UInt64) -> (Tensor, Tensor) {
    var rng = RandomState(seed: seed)
    let labels = (0..<n).map { _ in rng.nextInt(below: 3) }
    var px = [Float](repeating: 0, count: n * 16)
    for i in 0..<n {
        for y in 0..<4 {
            for x in 0..<4 {
                let q = (y / 2) * 2 + x / 2
                px[i * 16 + y * 4 + x] = (q == labels[i] ? 0.8 : 0.1) + Float(rng.nextDouble()) * 0.2
            }
        }
    }
    return (Tensor(px, shape: [n, 1, 4, 4]), Tensor(labels.map { Int64($0) }))
}

func tinyClassifier(seed: UInt64) -> Sequential {
    let g = Generator(seed: seed)
    return Sequential { Flatten(); Linear(16, 8, generator: g); ReLU(); Linear(8, 3, generator: g) }
}

/// Rows of numbers from a JSON array of arrays; strings (Python `repr` of a float) are parsed exactly.
func array(_ any: Any?) -> [[Double]] {
    (any as? [[Any]] ?? []).map { $0.map { ($0 as? String).flatMap(Double.init) ?? ($0 as? NSNumber)?.doubleValue ?? .nan } }
}

@Suite(.serialized) struct TensorBoardTests {
    @Test(needs(trackPython != nil, skipMessage))
    func writerRoundTripThroughEventAccumulator() throws {
        let dir = tempDirectory("tb-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tb = try TensorBoardWriter(logDirectory: dir)
        for s in 0..<3 {
            try tb.addScalar("loss", 1.0 / Double(s + 1), step: s, style: .simpleValue)
            try tb.addScalar("acc", 0.5 + 0.1 * Double(s), step: s)
        }
        try tb.addScalars(["a/x": 1, "a/y": 2], step: 7)
        try tb.addHistogram("weights", values: [0.1, 0.2, 0.5, 0.9, -0.3], step: 2, bins: 4)
        try tb.addHistogram("tensor", Tensor.arange(0, 100), step: 3, bins: 10)
        let gray = try RasterImage(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 250])
        try tb.addImage("gray", gray, step: 1)
        let rgb = try RasterImage(width: 2, height: 2, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
        try tb.addImage("rgb", rgb, step: 2)
        try tb.close()
        #expect(tb.fileURL.lastPathComponent.hasPrefix("events.out.tfevents."))

        let out = try runPythonJSON(PythonScripts.tensorboard, [dir.path])
        #expect((out["files"] as? [String])?.count == 1)
        #expect((out["file_version"] as? Double) == 2)  // parsed from "brain.Event:2"
        let scalars = out["scalars"] as? [String: Any] ?? [:], tensors = out["tensors"] as? [String: Any] ?? [:]
        let loss = array(scalars["loss"])
        #expect(loss.map { $0[0] } == [0, 1, 2])
        #expect(zip(loss.map { $0[1] }, [1.0, 0.5, 1.0 / 3]).allSatisfy { abs($0 - $1) < 1e-6 })
        let acc = array(tensors["acc"])
        #expect(acc.map { $0[0] } == [0, 1, 2])
        #expect(zip(acc.map { $0[1] }, [0.5, 0.6, 0.7]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect((tensors["acc#plugin"] as? String) == "scalars")
        #expect(array(tensors["a/y"]) == [[7, 2]])

        let hists = out["histograms"] as? [String: [[String: Any]]] ?? [:]
        let w = try #require(hists["weights"]?.first)
        #expect((w["step"] as? Int) == 2 && (w["num"] as? Double) == 5)
        #expect((w["bucket"] as? [Double]) == [1, 2, 1, 1])
        #expect((w["min"] as? Double) == -0.3 && (w["max"] as? Double) == 0.9)
        let t = try #require(hists["tensor"]?.first)
        #expect((t["num"] as? Double) == 100 && (t["bucket"] as? [Double]) == [Double](repeating: 10, count: 10))
        #expect((t["sum"] as? Double) == 4950)

        let images = out["images"] as? [String: [[String: Any]]] ?? [:]
        let g = try #require(images["gray"]?.first), c = try #require(images["rgb"]?.first)
        #expect((g["width"] as? Int) == 3 && (g["height"] as? Int) == 2 && (g["mode"] as? String) == "L")
        #expect((g["pixels"] as? [Int]) == [0, 50, 100, 150, 200, 250])
        #expect((c["size"] as? [Int]) == [2, 2] && (c["mode"] as? String) == "RGB" && (c["step"] as? Int) == 2)
        #expect((c["pixels"] as? [[Int]]) == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]])
    }

    @Test(needs(trackPython != nil, skipMessage))
    func loggerRecordsATrainingRun() throws {
        let dir = tempDirectory("tb-logger")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (x, y) = quadrantImages(n: 48, seed: 1)
        let model = tinyClassifier(seed: 2)
        let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.05), loss: .crossEntropy, metrics: [.accuracy])
        let tb = try TensorBoardLogger(logDirectory: dir)
        tb.onEpochEnd = { tb, trainer, epoch in
            try tb.logConfusionMatrix(trainer: trainer, inputs: x, targets: y, classes: 3, step: epoch)
            if epoch == 2 { try tb.logSamplePredictions(trainer: trainer, inputs: x.slice(axis: 0, start: 0, end: 6), targets: y.slice(axis: 0, start: 0, end: 6), step: epoch) }
        }
        let epochs = 3, batches = 4
        let history = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 12, seed: 3),
                                      validation: TensorBatches(inputs: x, targets: y, batchSize: 48, shuffle: false),
                                      epochs: epochs, callbacks: [tb])
        try tb.logScalar("final/accuracy", history["val_accuracy"]!.last!, step: epochs)
        try tb.close()

        let out = try runPythonJSON(PythonScripts.tensorboard, [dir.path])
        let tensors = out["tensors"] as? [String: Any] ?? [:]
        let batchLoss = array(tensors["batch/loss"])
        #expect(batchLoss.map { Int($0[0]) } == Array(1...(epochs * batches)))
        #expect(array(tensors["batch/accuracy"]).count == epochs * batches)
        for key in ["loss", "accuracy", "val_loss", "val_accuracy", "lr"] {
            let got = array(tensors["epoch/" + key])
            #expect(got.map { Int($0[0]) } == Array(0..<epochs), "epoch/\(key)")
            let want = history[key] ?? []
            #expect(zip(got.map { $0[1] }, want).allSatisfy { abs($0 - $1) <= 1e-6 * Swift.max(1, abs($1)) } && got.count == want.count,
                    "epoch/\(key): \(got) vs \(want)")
        }
        #expect(array(tensors["final/accuracy"]).first?[0] == Double(epochs))

        let hists = out["histograms"] as? [String: [[String: Any]]] ?? [:]
        for (name, p) in model.namedParameters() {
            let w = hists["weights/" + name] ?? [], g = hists["gradients/" + name] ?? []
            #expect(w.map { $0["step"] as? Int } == [0, 1, 2], "weights/\(name)")
            #expect(g.count == epochs, "gradients/\(name)")
            let last = try #require(w.last)
            #expect((last["num"] as? Double) == Double(p.count))
            let v = p.scalars.map(Double.init)
            #expect(abs((last["min"] as? Double ?? .nan) - v.min()!) < 1e-6 && abs((last["max"] as? Double ?? .nan) - v.max()!) < 1e-6)
            #expect(((last["bucket"] as? [Double]) ?? []).reduce(0, +) == Double(p.count))
            #expect((g.last?["num"] as? Double) == Double(p.grad!.count))
        }

        let images = out["images"] as? [String: [[String: Any]]] ?? [:]
        let cm = images["evaluation/confusion_matrix"] ?? []
        #expect(cm.map { $0["step"] as? Int } == [0, 1, 2])
        #expect(cm.first.map { ($0["width"] as? Int, $0["mode"] as? String) } ?? (nil, nil) == (7 + 3 * 16 + 1, "RGB"))
        let samples = try #require(images["samples/predictions"]?.first)
        #expect((samples["step"] as? Int) == 2 && (samples["width"] as? Int ?? 0) > 6 * 32)
    }
}
