import EmberCore
import EmberIO
import EmberNN
import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// Transfer learning from a config (`model.pretrained`, `head`, `freeze`, `lr`, `lora`) on the digits exported as
/// PNG class folders (`ember datasets --export digits`): what is frozen stays bit-identical to the pretrained run,
/// a replaced head trains, LoRA adapters train and are merged so the saved model is the plain architecture.
@Suite(.serialized) struct TransferRunTests {
    static let dir = tempDirectory("transfer")
    static let root = dir.appendingPathComponent("digits").path

    /// Exports the digits once and trains the pretrained run (a small CNN, 2 epochs).
    static let pretrained: URL = {
        let n = try! DatasetsRunner.exportImages("digits", to: root, limit: nil)
        precondition(n == 1797)
        let config = write("""
            data:
              images: {train: \(root)/train, test: \(root)/test, channels: 1}
            model: {preset: cnn-small, options: {channels: [4, 8], hidden: 16, dropout: 0.1, batch_norm: false}}
            training: {optimizer: {name: adam, lr: 0.01}, batch_size: 64, epochs: 2, seed: 1}
            """, "pre.yaml", in: dir)
        let run = try! TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("pre")), console: CapturedConsole().console)
        return run.runDirectory
    }()

    static func state(_ run: URL) throws -> [String: [Float]] {
        try SafeTensors.read(from: run.appendingPathComponent(SavedModel.modelFile)).0.mapValues { $0.toArray(Float.self) }
    }

    func train(_ model: String, _ name: String, limit: Int = 144, epochs: Int = 2) throws -> TrainOutcome {
        let config = write("""
            data:
              images: {train: \(Self.root)/train, test: \(Self.root)/test, channels: 1}
              limit: {train: \(limit)}
            model: \(model)
            training: {optimizer: {name: adam, lr: 0.005}, batch_size: 32, epochs: \(epochs), seed: 2}
            """, name + ".yaml", in: Self.dir)
        return try TrainRunner.run(trainOptions(config, dir: Self.dir.appendingPathComponent(name)), console: CapturedConsole().console)
    }

    @Test func digitsExportIsTheBuiltinDataset() throws {
        _ = Self.pretrained
        let digits = try Datasets.digits()
        // Image 4 is the first test image (test/<class>/0.png); its pixels are the 0...16 values scaled to 0...255.
        let label = Int(digits.targets.toArray(Int64.self)[4])
        let file = "\(Self.root)/test/\(label)-\(label)/0.png"
        let expected = digits.inputs.toArray(Float.self)[(4 * 64)..<(5 * 64)].map { UInt8(($0 * 255 / 16).rounded()) }
        #expect(try RasterImage(contentsOf: file).pixels == expected)
    }

    @Test func frozenLayersStayAndTheNewHeadTrains() throws {
        let pre = try Self.state(Self.pretrained)
        let run = try train("{pretrained: \(Self.pretrained.path), head: replace, freeze: [\"0\", \"3\"], lr: {\"7.*\": 0.001}}", "frozen", epochs: 8)
        let after = try Self.state(run.runDirectory)
        for name in ["0.weight", "0.bias", "3.weight", "3.bias"] { #expect(after[name] == pre[name], "\(name) changed while frozen") }
        for name in ["7.weight", "10.weight"] { #expect(after[name] != pre[name], "\(name) did not train") }
        #expect(run.saved?.architecture == (try SavedModel.read(from: Self.pretrained.path)).0.architecture)
        // The new head learns on the frozen features: the training loss falls by more than a fifth over 8 epochs.
        let rows = try String(contentsOf: run.runDirectory.appendingPathComponent("history.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        let losses = rows.map { Double($0[2])! }
        #expect(losses.count == 8 && losses.last! < 0.8 * losses.first!, "training losses \(losses)")
    }

    @Test func loraAdaptersAreMergedIntoThePlainModel() throws {
        let pre = try Self.state(Self.pretrained)
        let run = try train("{pretrained: \(Self.pretrained.path), head: replace, lora: {rank: 2, alpha: 4, targets: [\"7\"]}}", "lora")
        let after = try Self.state(run.runDirectory)
        #expect(Set(after.keys) == Set(pre.keys), "the saved model holds adapter tensors: \(after.keys.sorted())")
        #expect(after["7.weight"] != pre["7.weight"], "the adapted layer's merged weight equals the pretrained one")
        #expect(after["7.bias"] == pre["7.bias"] && after["0.weight"] == pre["0.weight"], "LoRA trained more than the adapters")
        // The saved (merged) model reproduces the run's own test evaluation.
        let loaded = try SavedModel.load(from: run.runDirectory.path)
        let outs = try loaded.outputs(raw: run.splits.test.inputs)
        let predicted = outs.argmax(axis: 1).toArray(Int64.self), truth = run.splits.test.targets.toArray(Int64.self)
        let accuracy = Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(truth.count)
        #expect(abs(accuracy - (run.evaluation?["accuracy"] ?? -1)) < 1e-9)
    }

    @Test func configErrorsNameTheKey() throws {
        func failure(_ model: String) -> ConfigError? {
            do { _ = try train(model, "bad"); return nil } catch let e as ConfigError { return e } catch { Issue.record("\(error)"); return nil }
        }
        let p = Self.pretrained.path
        #expect(failure("{pretrained: \(Self.dir.path)/nowhere}")?.path == "model.pretrained")
        #expect(failure("{pretrained: \(p), freeze: [backbone]}").map { $0.path == "model.freeze" && $0.message.contains("'backbone' matches no parameter") } == true)
        #expect(failure("{pretrained: \(p), lora: {rank: 2, targets: [\"0\"]}}").map { $0.path == "model.lora.targets" && $0.message.contains("Linear") } == true)
        #expect(failure("{pretrained: \(p), lr: {\"head.*\": 0.1}}")?.path == "model.lr")
        #expect(configError("data: {dataset: digits}\nmodel: {pretrained: x, preset: mlp}\n")?.contains("leave out preset and layers") == true)
        #expect(configError("data: {dataset: digits}\nmodel: {pretrained: x, head: swap}\n")?.contains("keep or replace") == true)
        // Inputs of another shape than the pretrained model's.
        let config = write("""
            data:
              images: {train: \(Self.root)/train, test: \(Self.root)/test, size: [12, 12], channels: 1}
            model: {pretrained: \(p)}
            training: {epochs: 1}
            """, "shape.yaml", in: Self.dir)
        do {
            _ = try TrainRunner.run(trainOptions(config, dir: Self.dir.appendingPathComponent("shape")), console: CapturedConsole().console)
            Issue.record("a pretrained model took inputs of another shape")
        } catch let e as ConfigError {
            #expect(e.path == "model.pretrained" && e.message.contains("[1, 8, 8]") && e.message.contains("[1, 12, 12]"), "\(e)")
        }
    }
}
