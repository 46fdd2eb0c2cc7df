import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// Runs that train (debug build, small budgets). Serialized: two cores are shared by the whole suite.
@Suite(.serialized) struct TrainRunTests {
    /// The default digits experiment with a 1-epoch budget, trained once and shared by the tests below.
    static let defaultRun: Result<(TrainOutcome, String), Error> = Result {
        let dir = tempDirectory("default").appendingPathComponent("digits-cnn")
        let capture = CapturedConsole()
        let outcome = try TrainRunner.run(trainOptions(nil, dir: dir, overrides: ["training.epochs=1"]), console: capture.console)
        return (outcome, capture.output)
    }

    @Test func defaultRunWritesAReloadableModel() throws {
        let (outcome, output) = try Self.defaultRun.get()
        let dir = outcome.runDirectory
        #expect(!outcome.interrupted && outcome.epochs == 1)
        for f in ["model.safetensors", "model.json", "metrics.json", "report.html", "history.csv", "config.yaml", "last.ckpt.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) missing")
        }
        #expect(output.contains("outputs in \(dir.path)/"))
        #expect(output.contains("test (360 examples)"))
        // PyTorch state_dict names in the weights file.
        let (tensors, meta) = try SafeTensors.read(from: dir.appendingPathComponent("model.safetensors"))
        #expect(Set(tensors.keys) == Set(outcome.model.stateDict().map(\.0)))
        #expect(tensors["0.weight"]?.shape == [32, 1, 3, 3] && tensors["1.running_mean"]?.shape == [32])
        #expect(meta["format"] == "pt")
        // Rebuilt from model.json + model.safetensors, the model predicts exactly what the trained one does.
        let loaded = try SavedModel.load(from: dir.path)
        #expect(loaded.saved.architecture.layers.count == outcome.model.layers.count)
        #expect(loaded.saved.classes == (0...9).map(String.init))
        #expect(loaded.saved.input.shape == [1, 8, 8] && loaded.saved.input.scale == 0.0625)
        let rebuilt = try loaded.outputs(raw: outcome.splits.test.inputs)
        outcome.model.eval()
        let original = withoutGrad { outcome.model(try! outcome.input.apply(outcome.splits.test.inputs)) }
        #expect(rebuilt.shape == [360, 10])
        // Same class for every example; the logits agree to float rounding (the rebuilt model runs in batches of
        // 256, which can change the last bits of a GEMM).
        #expect(rebuilt.argmax(axis: -1).toArray(Int64.self) == original.argmax(axis: -1).toArray(Int64.self))
        let diff = zip(rebuilt.scalars, original.scalars).map { abs($0 - $1) }.max() ?? 1
        #expect(diff < 1e-4, "largest logit difference \(diff)")
        #expect(bits(loaded.model) == bits(outcome.model))
        // metrics.json holds what was computed, history.csv one row per epoch.
        let metrics = try JSONValue.parse(Data(contentsOf: dir.appendingPathComponent("metrics.json")))
        #expect(metrics["accuracy"]?.number == outcome.evaluation?["accuracy"])
        #expect(metrics["examples"]?.number == 360)
        #expect((metrics["accuracy"]?.number ?? 0) > 0.5)   // one epoch already learns digits
        #expect((metrics["roc_auc"]?.number ?? 0) > 0.5 && metrics["macro_f1"] != nil && metrics["confusion_matrix"] != nil)
        // Accuracy as plain counting gives it.
        let predicted = original.argmax(axis: -1).toArray(Int64.self), truth = outcome.splits.test.labels
        #expect(metrics["accuracy"]?.number == Double(zip(predicted, truth).filter { Int($0) == $1 }.count) / 360)
        // EmberMetrics' HTML report.
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<title>digits-cnn - test</title>") && html.contains("Ember evaluation report"))
        let history = try String(contentsOf: dir.appendingPathComponent("history.csv"), encoding: .utf8)
        #expect(history.hasPrefix("epoch,accuracy,loss,lr,val_accuracy,val_loss\n1,"))
        #expect(history.split(separator: "\n").count == 2)
    }

    @Test func evaluateReproducesTheTestMetrics() throws {
        let (outcome, _) = try Self.defaultRun.get()
        let capture = CapturedConsole()
        var o = EvaluateOptions(model: outcome.runDirectory.path)
        let r = try EvaluateRunner.run(o, console: capture.console)
        #expect(r.examples == 360)
        #expect(r["accuracy"] == outcome.evaluation?["accuracy"])
        #expect(abs((r["loss"] ?? 0) - (outcome.evaluation?["loss"] ?? 1)) < 1e-6)
        #expect(capture.output.contains("test (360 examples)"))
        o.split = "validation"
        o.json = true
        o.output = outcome.runDirectory.appendingPathComponent("val-metrics.json").path
        o.report = outcome.runDirectory.appendingPathComponent("val-report.html").path
        let v = try EvaluateRunner.run(o, console: capture.console)
        #expect(v.examples == outcome.splits.validation?.count)
        let html = try String(contentsOfFile: o.report!, encoding: .utf8)
        #expect(html.contains("<title>digits-cnn - validation</title>"))
        #expect(try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: o.output!)))["split"] == .string("validation"))
        o.split = "bogus"
        #expect(throws: CLIError("--split bogus: expected test, validation or train")) { try EvaluateRunner.run(o, console: capture.console) }
        // A labelled CSV file: the target column is left out of the inputs and mapped onto the classes.
        let dir = tempDirectory()
        let test = outcome.splits.test
        let xs = test.inputs.toArray(Float.self), ys = test.labels
        var csv = (0..<64).map { "p\($0)" }.joined(separator: ",") + ",digit\n"
        for i in 0..<40 { csv += xs[(i * 64)..<((i + 1) * 64)].map { String(Int($0)) }.joined(separator: ",") + ",\(ys[i])\n" }
        var f = EvaluateOptions(model: outcome.runDirectory.path)
        f.data = write(csv, "labelled.csv", in: dir)
        f.target = "digit"
        let fr = try EvaluateRunner.run(f, console: capture.console)
        let expected = withoutGrad { outcome.model(try! outcome.input.apply(test.inputs.slice(axis: 0, start: 0, end: 40))) }
            .argmax(axis: -1).toArray(Int64.self)
        let correct = zip(expected, ys.prefix(40)).filter { Int($0) == $1 }.count
        #expect(fr.examples == 40 && fr["accuracy"] == Double(correct) / 40)
    }

    @Test func predictAppliesTheSavedPreparation() throws {
        let (outcome, _) = try Self.defaultRun.get()
        let dir = tempDirectory()
        let test = outcome.splits.test
        let xs = test.inputs.toArray(Float.self)
        var csv = ""
        for i in 0..<12 { csv += xs[(i * 64)..<((i + 1) * 64)].map { String(Int($0)) }.joined(separator: ",") + "\n" }
        let path = write(csv, "rows.csv", in: dir)
        let capture = CapturedConsole()
        var o = PredictOptions(model: outcome.runDirectory.path, input: path)
        let ps = try PredictRunner.run(o, console: capture.console)
        let logits = withoutGrad { outcome.model(try! outcome.input.apply(test.inputs.slice(axis: 0, start: 0, end: 12))) }
        let probs = logits.softmax(axis: -1).toArray(Float.self)
        #expect(ps.map(\.label) == logits.argmax(axis: -1).toArray(Int64.self).map { Int($0) })
        for p in ps {
            #expect(abs(p.probabilities.reduce(0, +) - 1) < 1e-5)
            #expect(abs(p.probabilities[p.label!] - Double(probs[p.index * 10 + p.label!])) < 1e-6)
        }
        #expect(capture.output.hasPrefix("#     class  probability\n0     "))
        // JSON output, with --limit.
        o.json = true
        o.limit = 3
        let json = CapturedConsole()
        _ = try PredictRunner.run(o, console: json.console)
        guard case .array(let items) = try JSONValue.parse(Data(json.output.utf8)) else { Issue.record("not a JSON array"); return }
        #expect(items.count == 3 && items[0]["class"] == .string(ps[0].className!))
        // A file whose shape does not fit.
        let bad = write("1,2,3\n4,5,6\n", "bad.csv", in: dir)
        #expect(throws: CLIError("\(bad): 3 numeric columns, but the model takes 64 features (pixel_0_0, pixel_0_1, pixel_0_2, pixel_0_3, ...)")) {
            try PredictRunner.run(PredictOptions(model: outcome.runDirectory.path, input: bad), console: capture.console)
        }
    }

    @Test func inspectShowsLayersShapesAndProvenance() throws {
        let (outcome, _) = try Self.defaultRun.get()
        let capture = CapturedConsole()
        let text = try InspectRunner.run(model: outcome.runDirectory.path, json: false, console: capture.console)
        #expect(text.contains("conv2d 1->32 k3 s1 p1"))
        #expect(text.contains("0.weight [32, 1, 3, 3]"))
        #expect(text.contains("total parameters: \(grouped(outcome.model.parameterCount))"))
        #expect(text.contains("data: digits - train 1293, validation 144, test 360"))
        #expect(text.contains("1 epochs"))
        #expect(text.contains("test metrics: accuracy"))
        let json = try InspectRunner.run(model: outcome.runDirectory.path, json: true, console: capture.console)
        let v = try JSONValue.parse(Data(json.utf8))
        #expect(v["parameters"]?.number == Double(outcome.model.parameterCount))
        guard case .array(let layers)? = v["layers"] else { Issue.record("no layers"); return }
        #expect(layers.count == outcome.model.layers.count)
        #expect(layers.last?["output_shape"] == .array([.number(10)]))
        #expect(v["provenance"]?["epochs"]?.number == 1)
        #expect(throws: CLIError("/nonexistent/run: no such directory")) {
            try InspectRunner.run(model: "/nonexistent/run", json: false, console: capture.console)
        }
    }

    @Test func resumeAfterAnInterruptionEqualsAnUninterruptedRun() throws {
        let dir = tempDirectory("resume")
        let config = write(quickDigitsConfig, "quick.yaml", in: dir)
        let full = try TrainRunner.run(trainOptions(config, dir: dir.appendingPathComponent("full")), console: CapturedConsole().console)
        // 21 batches per epoch: stop in the second epoch, between two periodic checkpoints.
        let partDir = dir.appendingPathComponent("part")
        var stop = trainOptions(config, dir: partDir)
        stop.stopAfterBatches = 23
        let capture = CapturedConsole()
        let stopped = try TrainRunner.run(stop, console: capture.console)
        #expect(stopped.interrupted)
        #expect(capture.output.contains("stopped in epoch 2, after batch 2 of 21"))
        #expect(capture.output.contains("continue with: ember train \(config) --resume --run-dir \(partDir.path)"))
        #expect(!FileManager.default.fileExists(atPath: partDir.appendingPathComponent("model.safetensors").path))
        var resume = trainOptions(config, dir: partDir)
        resume.resume = true
        let resumed = try TrainRunner.run(resume, console: CapturedConsole().console)
        #expect(!resumed.interrupted && resumed.epochs == 2)
        #expect(bits(resumed.model) == bits(full.model))
        #expect(resumed.evaluation?["loss"] == full.evaluation?["loss"])
        #expect(resumed.saved?.provenance.resumed == true && resumed.saved?.provenance.steps == full.saved?.provenance.steps)
        let h1 = try String(contentsOf: dir.appendingPathComponent("full/history.csv"), encoding: .utf8)
        let h2 = try String(contentsOf: partDir.appendingPathComponent("history.csv"), encoding: .utf8)
        #expect(h1 == h2)
        // Resuming without the config file reads the run directory's config.yaml.
        var again = TrainOptions()
        again.resume = true
        again.runDirectory = partDir.path
        again.quiet = true
        #expect(try TrainRunner.loadConfig(again).training.seed == 5)
        // A checkpoint past the configured epochs.
        var past = trainOptions(config, dir: dir.appendingPathComponent("full"), overrides: ["training.epochs=1"])
        past.resume = true
        let ckpt = dir.appendingPathComponent("full/last.ckpt.safetensors").path
        #expect(throws: CLIError("\(ckpt) has 2 epochs done; to resume, training.epochs (now 1) must be at least 2")) {
            try TrainRunner.run(past, console: CapturedConsole().console)
        }
        // Nothing to resume.
        var none = trainOptions(config, dir: dir.appendingPathComponent("none"))
        none.resume = true
        #expect(throws: CLIError("nothing to resume in \(dir.appendingPathComponent("none").path): no last.ckpt.safetensors (run without --resume to start)")) {
            try TrainRunner.run(none, console: CapturedConsole().console)
        }
    }

    @Test func missingDatasetsAreClearErrors() throws {
        let dir = tempDirectory()
        let fashion = write("data: {dataset: fashion-mnist, directory: \(dir.path)/nothing-here}\nmodel: {preset: cnn-small}\n", "f.yaml", in: dir)
        do {
            _ = try TrainRunner.run(trainOptions(fashion, dir: dir.appendingPathComponent("f")), console: CapturedConsole().console)
            Issue.record("expected an error")
        } catch let e as DataError {
            #expect(e.kind == .datasetUnavailable)
            #expect(e.description.contains("nothing-here/train-images-idx3-ubyte: expected the Fashion-MNIST files"))
        }
        let mnist = write("data: {dataset: mnist}\nmodel: {preset: lenet}\n", "m.yaml", in: dir)
        #expect(throws: ConfigError(path: "data.directory", message: "missing; mnist is not bundled: expected a directory holding your copy of its files", file: mnist)) {
            try TrainRunner.run(trainOptions(mnist, dir: dir.appendingPathComponent("m")), console: CapturedConsole().console)
        }
        let csv = write("data: {train: {path: \(dir.path)/absent.csv}}\nmodel: {preset: mlp}\n", "c.yaml", in: dir)
        #expect(throws: DataError.self) { try TrainRunner.run(trainOptions(csv, dir: dir.appendingPathComponent("c")), console: CapturedConsole().console) }
        // Nothing was left behind for runs that could not start.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("f").path))
    }

    @Test func modelThatDoesNotFitTheDataIsAConfigError() throws {
        let dir = tempDirectory()
        let cases: [(String, String)] = [
            ("model: {layers: [{conv2d: {out: 4, kernel: 3}}, flatten, {linear: 10}]}",
             "model.layers[0]: conv2d needs image inputs [channels, height, width], got [64] per example (set data.shape, e.g. [1, 8, 8])"),
            ("model: {layers: [flatten, {linear: 12}]}", "model.layers: the model outputs [12] per example, but the data needs [10] (10 classes)"),
            ("model: {layers: [{linear: {in: 10, out: 10}}]}", "model.layers[0]: `in` is 10 but the input has 64 (shape [64])"),
            ("data: {dataset: digits, shape: [1, 8, 8]}\nmodel: {layers: [{conv2d: {out: 4, kernel: 11}}]}",
             "model.layers[0]: conv2d kernel [11, 11] does not fit the 8x8 input (padding [0, 0])"),
            ("data: {dataset: digits, shape: [2, 8, 8]}\nmodel: {preset: mlp}", "data.shape: expected a shape of 64 values in all"),
        ]
        for (i, (model, message)) in cases.enumerated() {
            let yaml = (model.hasPrefix("data:") ? "" : "data: {dataset: digits}\n") + model + "\n"
            let path = write(yaml, "m\(i).yaml", in: dir)
            do {
                _ = try TrainRunner.run(trainOptions(path, dir: dir.appendingPathComponent("r\(i)")), console: CapturedConsole().console)
                Issue.record("case \(i): no error")
            } catch let e as ConfigError {
                #expect(e.description.contains(message), "case \(i): \(e)")
            }
        }
    }
}

/// `ember export`: the digits CNN run as ONNX, checked by onnx.checker and run by onnxruntime, with and without the
/// saved preparation baked in.
@Suite(.serialized) struct ExportCommandTests {
    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func digitsCNNExportsAndRunsInOnnxruntime() throws {
        let (outcome, _) = try TrainRunTests.defaultRun.get()
        let dir = tempDirectory("export")
        let loaded = try SavedModel.load(from: outcome.runDirectory.path)
        let raw = outcome.splits.test.inputs.slice(axis: 0, start: 0, end: 7)
        let logits = try loaded.outputs(raw: raw)
        // raw inputs in: the model applies the 1/16 scaling itself
        let withPrep = dir.appendingPathComponent("digits-raw.onnx")
        var o = ExportOptions(model: outcome.runDirectory.path, output: withPrep.path)
        o.includePreparation = true
        let capture = CapturedConsole()
        try ExportRunner.run(o, console: capture.console)
        #expect(capture.output.contains("input [batch, 64] float32 (raw, preparation included)"))
        let rawCases = [ONNXCase(input: raw.cast(.float32).toArray(Float.self), shape: raw.shape,
                                 expected: logits.toArray(Float.self), expectedShape: logits.shape)]
        let r1 = try checkONNX(withPrep, rawCases)
        for c in r1["cases"] as? [[String: Any]] ?? [] { #expect(c["ok"] as? Bool == true, "\(c)") }
        #expect((r1["ops"] as? [String] ?? []).contains("Conv"))
        // prepared inputs in
        let plain = dir.appendingPathComponent("digits.onnx")
        try ExportRunner.run(ExportOptions(model: outcome.runDirectory.path, output: plain.path), console: capture.console)
        let x = try loaded.saved.input.apply(raw)
        let r2 = try checkONNX(plain, [ONNXCase(input: x.toArray(Float.self), shape: x.shape, expected: logits.toArray(Float.self),
                                                expectedShape: logits.shape)])
        for c in r2["cases"] as? [[String: Any]] ?? [] { #expect(c["ok"] as? Bool == true, "\(c)") }
        #expect(r2["input_shape"] as? [AnyHashable] == ["batch", 1, 8, 8])
        // exporting again over Ember's own file is fine
        #expect(throws: Never.self) { try ExportRunner.run(ExportOptions(model: outcome.runDirectory.path, output: plain.path), console: capture.console) }
    }

    /// Export then import: the run directory `ember import` writes predicts what the original run predicts.
    @Test func importedRunPredictsAsTheOriginal() throws {
        // the digits CNN: conv, batch norm (one BatchNormalization node), pooling, linear
        let (outcome, _) = try TrainRunTests.defaultRun.get()
        let dir = tempDirectory("import")
        let file = dir.appendingPathComponent("digits.onnx")
        try ExportRunner.run(ExportOptions(model: outcome.runDirectory.path, output: file.path), console: CapturedConsole().console)
        let runDir = dir.appendingPathComponent("imported")
        var o = ImportOptions(file: file.path, output: runDir.path)
        o.classes = (0...9).map { "digit \($0)" }
        let capture = CapturedConsole()
        try ImportRunner.run(o, console: capture.console)
        #expect(capture.output.contains("input [1, 8, 8], output [10]") && capture.output.contains("batchnorm2d"))
        let original = try SavedModel.load(from: outcome.runDirectory.path), imported = try SavedModel.load(from: runDir.path)
        #expect(imported.saved.architecture.layers.map(\.type) == original.saved.architecture.layers.map(\.type).filter { $0 != "dropout" })
        #expect(imported.saved.classes.first == "digit 0")
        let raw = outcome.splits.test.inputs.slice(axis: 0, start: 0, end: 20)
        let prepared = try original.saved.input.apply(raw)
        let want = try original.outputs(raw: raw), got = try imported.outputs(raw: prepared)
        #expect(got.shape == want.shape)
        let worst = zip(got.scalars, want.scalars).map { abs($0 - $1) / (1e-5 + 1e-4 * abs($1)) }.max() ?? 1e9
        #expect(worst <= 1, "imported logits differ by \(worst)x the tolerance")
        // nothing is written over a directory that holds files
        #expect(throws: CLIError("--output \(runDir.path) is not empty; choose a new run directory (nothing there is changed)")) {
            try ImportRunner.run(ImportOptions(file: file.path, output: runDir.path), console: CapturedConsole().console)
        }
    }

    @Test func badRequestsAreClearErrors() throws {
        let (outcome, _) = try TrainRunTests.defaultRun.get()
        let dir = tempDirectory("export-bad")
        let mine = dir.appendingPathComponent("notes.onnx")
        try Data("my notes".utf8).write(to: mine)
        let run = outcome.runDirectory.path
        #expect(throws: CLIError("--output \(mine.path) exists and was not written by `ember export`; it is left alone (choose another name or remove it)")) {
            try ExportRunner.run(ExportOptions(model: run, output: mine.path), console: CapturedConsole().console)
        }
        #expect(try String(contentsOf: mine, encoding: .utf8) == "my notes")
        var tf = ExportOptions(model: run, output: dir.appendingPathComponent("m.tflite").path)
        tf.format = "tflite"
        #expect(throws: CLIError("--format: expected onnx, got tflite")) { try ExportRunner.run(tf, console: CapturedConsole().console) }
        var old = ExportOptions(model: run, output: dir.appendingPathComponent("m.onnx").path)
        old.opset = 9
        #expect(throws: CLIError("--opset: expected 13 to 21, got 9")) { try ExportRunner.run(old, console: CapturedConsole().console) }
        #expect(throws: CLIError("/nonexistent/run: no such directory")) {
            try ExportRunner.run(ExportOptions(model: "/nonexistent/run", output: dir.appendingPathComponent("x.onnx").path), console: CapturedConsole().console)
        }
    }
}
