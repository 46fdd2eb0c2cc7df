import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// Training from files: CSV (classification with text labels, regression), IDX images and .npy arrays.
@Suite(.serialized) struct FileDataTests {
    /// Three separable classes named by text, 4 features on different scales; returns (train, test) CSV text.
    static func blobsCSV() -> (String, String) {
        var rng = RandomState(seed: 11)
        let names = ["setosa", "versicolor", "virginica"]
        func rows(_ n: Int) -> String {
            var s = "width,height,weight,age,species\n"
            for i in 0..<n {
                let c = i % 3
                let f = [Double(c) * 2, -Double(c), Double(c) * 100 + 50, 30 + Double(c) * 5]
                let noisy = f.enumerated().map { j, v in v + rng.nextNormal() * [0.3, 0.3, 15, 1.5][j] }
                s += noisy.map { String(format: "%.4f", $0) }.joined(separator: ",") + ",\(names[c])\n"
            }
            return s
        }
        return (rows(150), rows(45))
    }

    @Test func csvClassificationWithTextLabelsAndFittedScaling() throws {
        let dir = tempDirectory("csv")
        let (train, test) = Self.blobsCSV()
        let trainPath = write(train, "train.csv", in: dir), testPath = write(test, "test.csv", in: dir)
        let config = write("""
            data:
              train: {path: \(trainPath), target: species}
              test: \(testPath)
              split: {validation: 0.2}
              preparation: [{impute: median}, standardize]
            model: {preset: mlp, options: {hidden: [16]}}
            training: {optimizer: {name: adam, lr: 0.02}, batch_size: 16, epochs: 15, seed: 1}
            evaluation: {metrics: [accuracy, loss, per_class]}
            """, "csv.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        let saved = try #require(run.saved)
        #expect(saved.classes == ["setosa", "versicolor", "virginica"])
        #expect(saved.input.featureNames == ["width", "height", "weight", "age"])
        #expect(run.splits.test.count == 45 && run.splits.train.count == 120)
        #expect((run.evaluation?["accuracy"] ?? 0) > 0.9)
        // The fitted scaler is saved: its means are the training part's.
        guard case .standardScaler(let scaler)? = saved.input.preparation.steps.last else { Issue.record("no scaler"); return }
        let means = run.splits.train.inputs.cast(.float64).mean(axes: [0]).toArray(Double.self)
        for (a, b) in zip(scaler.mean ?? [], means) { #expect(abs(a - b) < 1e-6 * max(1, abs(b))) }
        // Predict from a file whose columns come in another order (matched by name), without the label.
        let lines = test.split(separator: "\n").dropFirst().prefix(6).map { $0.split(separator: ",").map(String.init) }
        let shuffled = "age,weight,height,width\n" + lines.map { [$0[3], $0[2], $0[1], $0[0]].joined(separator: ",") }.joined(separator: "\n") + "\n"
        let ps = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: write(shuffled, "new.csv", in: dir)),
                                       console: CapturedConsole().console)
        let direct = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: testPath), console: CapturedConsole().console)
        #expect(ps.map(\.label) == Array(direct.map(\.label).prefix(6)))
        #expect(ps.map(\.className) == lines.map { $0[4] })
        // Evaluate on the test file equals the run's test metrics.
        var e = EvaluateOptions(model: run.runDirectory.path)
        e.data = testPath
        let r = try EvaluateRunner.run(e, console: CapturedConsole().console)
        #expect(r["accuracy"] == run.evaluation?["accuracy"])
        #expect(r.perClass.map(\.support) == [15, 15, 15])
    }

    @Test func csvRegression() throws {
        let dir = tempDirectory("reg")
        var rng = RandomState(seed: 3)
        var csv = "x0,x1,y\n"
        for _ in 0..<200 {
            let a = rng.nextDouble() * 4 - 2, b = rng.nextDouble() * 4 - 2
            csv += String(format: "%.5f,%.5f,%.5f\n", a, b, 2 * a - b + 0.05 * rng.nextNormal())
        }
        let data = write(csv, "reg.csv", in: dir)
        let config = write("""
            data: {task: regression, train: {path: \(data), target: y}, split: {test: 0.2, validation: 0}, preparation: [standardize]}
            model: {layers: [{linear: 16}, tanh, {linear: 1}]}
            training: {optimizer: {name: adam, lr: 0.03}, batch_size: 16, epochs: 25, seed: 2}
            """, "reg.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        let ev = try #require(run.evaluation)
        #expect(ev.scalars.map(\.0) == ["loss", "mse", "rmse", "mae", "r2"])
        #expect((ev["r2"] ?? 0) > 0.9)
        #expect(abs((ev["loss"] ?? 0) - (ev["mse"] ?? 1)) < 1e-4)
        let capture = CapturedConsole()
        let ps = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: data), console: capture.console)
        #expect(ps.count == 200 && ps.allSatisfy { $0.values.count == 1 && $0.label == nil })
        #expect(capture.output.hasPrefix("#     value\n"))
    }

    @Test func idxImagesTrainPredictAndEvaluate() throws {
        let dir = tempDirectory("idx")
        // Class 0: a bright top half; class 1: a bright bottom half (8x8 bytes, with noise).
        var rng = RandomState(seed: 4)
        func images(_ n: Int) -> ([UInt8], [UInt8]) {
            var px: [UInt8] = [], labels: [UInt8] = []
            for i in 0..<n {
                let c = i % 2
                labels.append(UInt8(c))
                for y in 0..<8 { for _ in 0..<8 {
                    let bright = (y < 4) == (c == 0)
                    px.append(UInt8(bright ? 180 + rng.nextInt(below: 70) : rng.nextInt(below: 60)))
                } }
            }
            return (px, labels)
        }
        let (trX, trY) = images(96), (teX, teY) = images(32)
        let files = ["tr-images-idx3-ubyte", "tr-labels-idx1-ubyte", "te-images-idx3-ubyte", "te-labels-idx1-ubyte"].map { dir.appendingPathComponent($0) }
        writeIDX(trX, shape: [96, 8, 8], to: files[0]); writeIDX(trY, shape: [96], to: files[1])
        writeIDX(teX, shape: [32, 8, 8], to: files[2]); writeIDX(teY, shape: [32], to: files[3])
        let config = write("""
            data:
              train: {inputs: \(files[0].path), targets: \(files[1].path)}
              test: {inputs: \(files[2].path), targets: \(files[3].path)}
              split: {validation: 0}
              augmentation: [{gaussian_noise: 0.01}]
            model:
              layers: [{conv2d: {out: 4, kernel: 3, padding: same}}, relu, {maxpool2d: 2}, flatten, {linear: 2}]
            training: {optimizer: {name: adam, lr: 0.02}, batch_size: 16, epochs: 4, seed: 0}
            """, "idx.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        let saved = try #require(run.saved)
        #expect(saved.input.byteImages && saved.input.scale == 1.0 / 255 && saved.input.shape == [1, 8, 8])
        #expect(saved.classes == ["0", "1"])
        #expect((run.evaluation?["accuracy"] ?? 0) > 0.9)
        let ps = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: files[2].path), console: CapturedConsole().console)
        #expect(ps.count == 32)
        let acc = Double(zip(ps, teY).filter { $0.label == Int($1) }.count) / 32
        #expect(acc == run.evaluation?["accuracy"])
        var e = EvaluateOptions(model: run.runDirectory.path)
        e.data = files[2].path
        #expect(throws: CLIError("--data \(files[2].path): idx inputs need --labels FILE")) { try EvaluateRunner.run(e, console: CapturedConsole().console) }
        e.labels = files[3].path
        #expect(try EvaluateRunner.run(e, console: CapturedConsole().console)["accuracy"] == acc)
    }

    @Test func npyArrays() throws {
        let dir = tempDirectory("npy")
        var rng = RandomState(seed: 9)
        var x: [Float] = [], y: [Int64] = []
        for i in 0..<120 {
            let c = Int64(i % 2)
            y.append(c)
            x += (0..<3).map { _ in Float(rng.nextNormal()) + (c == 0 ? -1.5 : 1.5) }
        }
        let xs = dir.appendingPathComponent("x.npy"), ys = dir.appendingPathComponent("y.npy")
        try npyFile(descr: "<f4", shape: [120, 3], bytes: x.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }).write(to: xs)
        try npyFile(descr: "<i8", shape: [120], bytes: y.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }).write(to: ys)
        let config = write("""
            data: {train: {inputs: \(xs.path), targets: \(ys.path)}, split: {test: 0.25, validation: 0}}
            model: {preset: mlp, options: {hidden: [8]}}
            training: {optimizer: {name: sgd, lr: 0.2, momentum: 0.9}, batch_size: 10, epochs: 5}
            """, "npy.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        #expect(run.splits.test.count == 30 && (run.evaluation?["accuracy"] ?? 0) > 0.9)
        let ps = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: xs.path), console: CapturedConsole().console)
        #expect(ps.count == 120)
    }
}

/// `.npz` archives as data (what `np.savez` writes, Keras' mnist.npz layout), written by the real NumPy.
@Suite struct NPZDataTests {
    @Test(needs(trackPython != nil, skipMessage)) func trainAndPredictFromAnArchive() throws {
        let dir = tempDirectory("npz")
        let archive = dir.appendingPathComponent("blobs.npz").path
        _ = try runPython("""
            import sys, numpy as np
            rng = np.random.default_rng(0)
            y = np.repeat(np.arange(3), 40)
            x = (rng.normal(size=(120, 4)) + y[:, None] * 8).astype(np.float32)   # 8 standard deviations apart
            np.savez(sys.argv[1], x_train=x[:90], y_train=y[:90], x_test=x[90:], y_test=y[90:], x=x[90:])
            """, [archive])
        let config = write("""
            data: {train: {path: \(archive), inputs: x_train, targets: y_train}, test: {path: \(archive), inputs: x_test, targets: y_test}, split: {validation: 0}}
            model: {preset: mlp, options: {hidden: [8]}}
            training: {optimizer: {name: adam, lr: 0.05}, batch_size: 16, epochs: 15}
            """, "npz.yaml", in: dir)
        let run = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("run")), console: CapturedConsole().console)
        #expect(run.splits.train.count == 90 && run.splits.test.count == 30)
        #expect((run.evaluation?["accuracy"] ?? 0) > 0.9, "three well-separated blobs")
        let ps = try PredictRunner.run(PredictOptions(model: run.runDirectory.path, input: archive), console: CapturedConsole().console)
        #expect(ps.count == 30)
        // a missing array is named with what the archive holds
        let bad = write("data: {train: {path: \(archive), inputs: images, targets: y_train}}\nmodel: {preset: mlp}\n", "bad.yaml", in: dir)
        #expect(throws: (any Error).self) { try TrainRunner.run(trainOptions(bad, dir: dir.appendingPathComponent("bad")), console: CapturedConsole().console) }
        do { _ = try TrainRunner.run(trainOptions(bad, dir: dir.appendingPathComponent("bad2")), console: CapturedConsole().console) } catch {
            #expect("\(error)".contains("images") && "\(error)".contains("x_train"), "\(error)")
        }
    }
}
