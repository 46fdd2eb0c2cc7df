import Foundation
import Testing
import EmberTestSupport
@testable import EmberCLI

/// `ember train`'s tracking, read back with the real tools: TensorBoard's EventAccumulator and MLflow's client (file
/// store and a real `mlflow server` on loopback). Serialized: two cores are shared by the whole suite.
@Suite(.serialized) struct TrackingTests {
    /// The default digits CNN, made tiny: 1 epoch on a small subset, narrow layers.
    static func tinyOptions(_ dir: URL, _ extra: [String] = []) -> TrainOptions {
        trainOptions(nil, dir: dir, overrides: ["training.epochs=1", "data.limit.train=320", "data.limit.test=100",
                                                "model.options.channels=[4, 8]", "model.options.hidden=16"] + extra)
    }

    /// One tiny run with TensorBoard (the default) and `--mlflow-dir`, shared by the TensorBoard and file-store tests.
    /// The environment names an MLflow server where nothing listens: `--mlflow-dir` wins, so it is never contacted.
    static let tinyRun: Result<TrainOutcome, Error> = Result {
        let root = tempDirectory("track")
        var o = tinyOptions(root.appendingPathComponent("tiny"),
                            ["tracking.mlflow.experiment=wire-files", "tracking.mlflow.tags.purpose=cli-test"])
        o.mlflowDirectory = root.appendingPathComponent("mlruns").path
        o.environment = ["MLFLOW_TRACKING_URI": "http://127.0.0.1:9"]
        return try TrainRunner.run(o, console: CapturedConsole().console)
    }

    @Test(needs(trackPython != nil, skipMessage))
    func tensorboardFilesReadByEventAccumulator() throws {
        let outcome = try Self.tinyRun.get()
        let tbDir = try #require(outcome.tensorboardDirectory)
        #expect(tbDir.path == outcome.runDirectory.appendingPathComponent("tensorboard").path)
        let steps = try #require(outcome.saved?.provenance.steps)
        #expect(steps == (outcome.splits.train.count + 31) / 32 && steps > 1)
        let epoch = try historyRow(outcome.runDirectory)

        let out = try runPythonJSON(tensorboardScript, [tbDir.path])
        #expect((out["files"] as? [String])?.count == 1)
        #expect((out["scalars_legacy"] as? [String]) == [])   // scalars are written as tensors with the scalars plugin
        let scalars = out["scalars"] as? [String: [[Double]]] ?? [:]
        let expected = ["batch/accuracy", "batch/loss", "batch/lr", "epoch/accuracy", "epoch/loss", "epoch/lr", "epoch/val_accuracy",
                        "epoch/val_loss", "test/accuracy", "test/loss", "test/macro_f1", "test/roc_auc"]
        #expect(scalars.keys.sorted() == expected)
        #expect((out["plugins"] as? [String]) == ["scalars"])
        // Per step: the global optimizer step 1...steps.
        for tag in ["batch/loss", "batch/accuracy", "batch/lr"] {
            #expect(scalars[tag]?.map { Int($0[0]) } == Array(1...steps), "\(tag) steps")
        }
        #expect(scalars["batch/loss"]?.allSatisfy { $0[1].isFinite && $0[1] > 0 } == true)
        #expect(scalars["batch/accuracy"]?.allSatisfy { (0...1).contains($0[1]) } == true)
        #expect(scalars["batch/lr"]?.allSatisfy { abs($0[1] - 0.002) < 1e-9 } == true)   // cosine steps per epoch
        // Per epoch (0-based): the values history.csv has (stored as float32).
        for (key, value) in epoch {
            let got = try #require(scalars["epoch/" + key], "epoch/\(key) missing")
            #expect(got.count == 1 && got[0][0] == 0)
            #expect(abs(got[0][1] - value) <= 1e-6 * max(1, abs(value)), "epoch/\(key): \(got[0][1]) vs \(value)")
        }
        // The test metrics of metrics.json, after the last epoch.
        let evaluation = try #require(outcome.evaluation)
        for name in ["accuracy", "loss", "macro_f1", "roc_auc"] {
            let got = try #require(scalars["test/" + name]?.first)
            let want = try #require(evaluation[name])
            #expect(got[0] == 0 && abs(got[1] - want) <= 1e-6 * max(1, abs(want)), "test/\(name)")
        }

        // A weight and a gradient histogram of every parameter at the epoch's end; the weights are the final ones.
        // Numbers as Python's repr() strings: exact doubles, whatever Foundation's JSON parser does with numbers.
        let hists = (out["histograms"] as? [String: [[String: String]]] ?? [:]).mapValues { $0.map { $0.compactMapValues(Double.init) } }
        let params = outcome.model.namedParameters()
        #expect(Set(hists.keys) == Set(params.flatMap { ["weights/" + $0.0, "gradients/" + $0.0] }))
        for (name, p) in params {
            let w = try #require(hists["weights/" + name]?.first), g = try #require(hists["gradients/" + name]?.first)
            #expect(hists["weights/" + name]?.count == 1 && w["step"] == 0 && g["step"] == 0)
            #expect(w["num"] == Double(p.count) && g["num"] == Double(p.count), "\(name)")
            let values = p.toArray(Double.self)
            let sum: Double = values.reduce(0, +), scale: Double = 1 + values.map { abs($0) }.reduce(0, +)
            let loggedSum: Double = w["sum"] ?? .nan
            #expect(abs(loggedSum - sum) <= 1e-9 * scale, "\(name) sum")
            #expect(w["min"] == values.min() && w["max"] == values.max())
        }

        // Images: sample test predictions per epoch, the test confusion matrix at the end; real PNGs.
        let images = out["images"] as? [String: [[String: Any]]] ?? [:]
        #expect(images.keys.sorted() == ["samples/predictions", "test/confusion_matrix"])
        let grid = try #require(images["samples/predictions"]?.first), cm = try #require(images["test/confusion_matrix"]?.first)
        #expect(images["samples/predictions"]?.count == 1 && (grid["step"] as? Int) == 0)
        let gridW = grid["width"] as? Int ?? 0, gridH = grid["height"] as? Int ?? 0
        #expect((grid["mode"] as? String) == "RGB" && (grid["size"] as? [Int]) == [gridW, gridH])
        // 16 samples of 8x8 in 8 columns and 2 rows.
        #expect(gridW > 8 * 8 * 2 && gridH > 2 * 8 && gridW > gridH)
        let cmW = cm["width"] as? Int ?? 0, cmH = cm["height"] as? Int ?? 0
        #expect((cm["step"] as? Int) == 0 && (cm["mode"] as? String) == "RGB" && (cm["size"] as? [Int]) == [cmW, cmH])
        #expect(cmW == cmH && cmW > 10 * 6)   // 10 classes
    }

    @Test(needs(trackPython != nil, skipMessage))
    func mlflowDirReadByMLflowClient() throws {
        let outcome = try Self.tinyRun.get()
        let runID = try #require(outcome.mlflowRunID)
        let root = outcome.runDirectory.deletingLastPathComponent().appendingPathComponent("mlruns")
        #expect(outcome.mlflowExperimentID == "1")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("1/\(runID)/meta.yaml").path))
        let out = try runPythonJSON(mlflowScript, ["file:" + root.path, runID, outcome.runDirectory.path], timeout: 300)
        try checkMLflowRun(out, outcome, runName: "tiny", experiment: "wire-files", tags: ["purpose": "cli-test"])
    }

    @Test(needs(trackPython != nil, skipMessage))
    func mlflowServerReadBackByMLflowClient() throws {
        let server = try MLflowServer.start()
        defer { server.stop() }
        let dir = tempDirectory("track-rest")
        defer { try? FileManager.default.removeItem(at: dir) }
        // MLFLOW_TRACKING_URI is passed in the options' environment (the process environment is left alone).
        var o = Self.tinyOptions(dir.appendingPathComponent("tiny-rest"),
                                 ["tracking.tensorboard=false", "tracking.mlflow={experiment: wire-rest, run_name: tiny-server}"])
        o.environment = ["MLFLOW_TRACKING_URI": server.uri]
        let capture = CapturedConsole()
        let outcome = try TrainRunner.run(o, console: capture.console)
        let runID = try #require(outcome.mlflowRunID)
        #expect(outcome.tensorboardDirectory == nil)
        #expect(!FileManager.default.fileExists(atPath: outcome.runDirectory.appendingPathComponent("tensorboard").path))
        #expect(capture.output.contains("MLflow: run \(runID) in experiment \"wire-rest\""))
        let out = try runPythonJSON(mlflowScript, [server.uri, runID, outcome.runDirectory.path], timeout: 300)
        #expect((out["artifact_uri"] as? String)?.hasPrefix("mlflow-artifacts:/") == true)
        try checkMLflowRun(out, outcome, runName: "tiny-server", experiment: "wire-rest", tags: [:])
    }

    @Test(needs(trackPython != nil, skipMessage))
    func interruptedRunEndsKilledAndResumeIsANewRun() throws {
        let root = tempDirectory("track-resume")
        let dir = root.appendingPathComponent("tiny")
        var stop = Self.tinyOptions(dir, ["tracking.mlflow.experiment=wire-resume"])
        stop.mlflowDirectory = root.appendingPathComponent("mlruns").path
        stop.environment = [:]
        stop.stopAfterBatches = 4
        let first = try TrainRunner.run(stop, console: CapturedConsole().console)
        #expect(first.interrupted)
        var resume = stop
        resume.stopAfterBatches = nil
        resume.resume = true
        let second = try TrainRunner.run(resume, console: CapturedConsole().console)
        let steps = try #require(second.saved?.provenance.steps)
        let out = try runPythonJSON(resumeScript, ["file:" + root.appendingPathComponent("mlruns").path, "wire-resume",
                                                   dir.appendingPathComponent("tensorboard").path], timeout: 300)
        let runs = out["runs"] as? [String: [String: Any]] ?? [:]
        let firstID = try #require(first.mlflowRunID), secondID = try #require(second.mlflowRunID)
        let killed = try #require(runs[firstID]), finished = try #require(runs[secondID])
        #expect(runs.count == 2)
        #expect((killed["status"] as? String) == "KILLED" && (finished["status"] as? String) == "FINISHED")
        let killedTags = killed["tags"] as? [String: String] ?? [:], finishedTags = finished["tags"] as? [String: String] ?? [:]
        #expect(killedTags["ember.interrupted"] == "epoch 1, batch 4" && killedTags["ember.resumed"] == "false")
        #expect(finishedTags["ember.resumed"] == "true")
        #expect((killed["batch_steps"] as? [Int]) == Array(1...4) && (finished["batch_steps"] as? [Int]) == Array(5...steps))
        // TensorBoard: one event file per invocation; together, every step once (files are read in name order,
        // which within one test process need not be the order they were written in).
        #expect((out["tb_files"] as? Int) == 2)
        #expect((out["tb_batch_steps"] as? [Int])?.sorted() == Array(1...steps))
        #expect((out["tb_epoch_steps"] as? [Int]) == [0])
    }

    /// What MLflow's client read back of a tiny run: status, names, parameters from the config, tags, the metric
    /// history (equal to history.csv and metrics.json), and the artifacts (byte-equal to the run directory's files).
    func checkMLflowRun(_ out: [String: Any], _ outcome: TrainOutcome, runName: String, experiment: String,
                        tags extraTags: [String: String]) throws {
        #expect((out["status"] as? String) == "FINISHED")
        #expect((out["run_name"] as? String) == runName)
        #expect((out["experiment"] as? String) == experiment)
        let steps = try #require(outcome.saved?.provenance.steps)
        let params = out["params"] as? [String: String] ?? [:]
        let wantParams = ["training.optimizer.lr": "0.002", "training.optimizer.name": "adamw", "training.epochs": "1",
                          "training.batch_size": "32", "data.dataset": "digits", "data.limit.train": "320",
                          "model.preset": "cnn-small", "model.options.channels": "[4, 8]", "model.options.hidden": "16",
                          "outputs.name": outcome.config.outputs.name, "data.train_examples": "\(outcome.splits.train.count)",
                          "data.test_examples": "\(outcome.splits.test.count)", "batches_per_epoch": "\(steps)",
                          "parameters": "\(outcome.model.parameterCount)", "optimizer": "AdamW", "epochs": "1"]
        for (k, v) in wantParams { #expect(params[k] == v, "param \(k): \(params[k] ?? "missing")") }
        let tags = out["tags"] as? [String: String] ?? [:]
        let wantTags = ["framework": "ember", "mlflow.runName": runName, "ember.task": "classification", "ember.dataset": "digits",
                        "ember.resumed": "false", "ember.run_directory": outcome.runDirectory.path].merging(extraTags) { $1 }
        for (k, v) in wantTags { #expect(tags[k] == v, "tag \(k): \(tags[k] ?? "missing")") }

        let history = out["history"] as? [String: [[String]]] ?? [:]
        func values(_ key: String) -> [(Int, Double)] { (history[key] ?? []).map { (Int($0[0]) ?? -1, Double($0[1]) ?? .nan) } }
        // Per step: batch values at the global step; the learning rate each step used.
        for key in ["batch/loss", "batch/accuracy", "batch/lr"] { #expect(values(key).map(\.0) == Array(1...steps), "\(key) steps") }
        #expect(values("batch/lr").allSatisfy { $0.1 == 0.002 })
        // Per epoch: exactly the values of history.csv.
        for (key, value) in try historyRow(outcome.runDirectory) {
            #expect(values(key).map(\.0) == [0] && values(key).first?.1 == value, "\(key): \(values(key)) vs \(value)")
        }
        let evaluation = try #require(outcome.evaluation)
        for name in ["accuracy", "loss", "macro_f1", "roc_auc"] {
            let want = try #require(evaluation[name])
            #expect(values("test/" + name).map(\.0) == [0] && values("test/" + name).map(\.1) == [want], "test/\(name)")
        }
        #expect(history["test/log_loss"] == nil)   // not asked for in evaluation.metrics
        // The model files and the report, as uploaded.
        let arts = (out["artifacts"] as? [[Any]] ?? []).compactMap { $0.first as? String }.sorted()
        #expect(arts == ["history.csv", "metrics.json", "model/config.yaml", "model/model.json", "model/model.safetensors", "report.html"])
        let same = out["same"] as? [String: Bool] ?? [:]
        #expect(same.count == arts.count && same.values.allSatisfy { $0 }, "downloaded artifacts differ: \(same)")
    }

    @Test func tensorboardCanBeTurnedOff() throws {
        let dir = tempDirectory("track-off").appendingPathComponent("off")
        // A stale event file that an earlier run wrote (listed in its manifest) goes once the new run is complete, as
        // the other outputs of one do; a file Ember did not write stays.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tensorboard"), withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("tensorboard/events.out.tfevents.1.old"))
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent("tensorboard/events.out.tfevents.2.mine"))
        try Data("tensorboard/events.out.tfevents.1.old\n".utf8).write(to: dir.appendingPathComponent(".ember-manifest"))
        var o = Self.tinyOptions(dir, ["tracking.tensorboard=false"])
        o.environment = ["MLFLOW_TRACKING_URI": "http://127.0.0.1:9"]   // ignored: tracking.mlflow is false
        o.overrides.append("tracking.mlflow=false")
        let capture = CapturedConsole()
        let outcome = try TrainRunner.run(o, console: capture.console)
        #expect(outcome.tensorboardDirectory == nil && outcome.mlflowRunID == nil)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("tensorboard/events.out.tfevents.1.old").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tensorboard/events.out.tfevents.2.mine").path))
        #expect(!capture.output.contains("tracking:") && !capture.output.contains("TensorBoard"))
    }

    @Test func mlflowProblemsAreClearErrors() throws {
        let root = tempDirectory("track-errors")
        // An MLFLOW_TRACKING_URI this client cannot use fails before anything is written.
        var bad = Self.tinyOptions(root.appendingPathComponent("bad-uri"))
        bad.environment = ["MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"]
        do {
            _ = try TrainRunner.run(bad, console: CapturedConsole().console)
            Issue.record("expected an error")
        } catch let e as CLIError {
            #expect(e.message.hasPrefix("MLFLOW_TRACKING_URI=sqlite:///mlflow.db: unsupported URI: sqlite:///mlflow.db (expected an http(s)://"))
        }
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("bad-uri").path))
        // No server at the address: the error says where the address came from.
        var dead = Self.tinyOptions(root.appendingPathComponent("dead"), ["tracking.tensorboard=false"])
        let uri = "http://127.0.0.1:\(try freePort())"
        dead.environment = ["MLFLOW_TRACKING_URI": uri]
        do {
            _ = try TrainRunner.run(dead, console: CapturedConsole().console)
            Issue.record("expected an error")
        } catch let e as CLIError {
            #expect(e.message.hasPrefix("MLflow at MLFLOW_TRACKING_URI=\(uri): \(uri)/api/2.0/mlflow/"), "\(e)")
            #expect(e.message.hasSuffix("(unset it, or set tracking.mlflow: false, to train without MLflow)"))
        }
    }

    @Test func readmeConfigSchemaParses() throws {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "### Config schema (YAML or JSON)\n\n```yaml\n"))
        let end = try #require(readme.range(of: "```", range: section.upperBound..<readme.endIndex))
        let c = try ExperimentConfig.parse(String(readme[section.upperBound..<end.lowerBound]))
        #expect(c.tracking.tensorboard == TrackingConfig.TensorBoardSettings())
        #expect(c.tracking.mlflow.experiment == "ember" && c.tracking.mlflow.runName == "digits-cnn" && c.tracking.mlflow.tags == ["owner": "me"])
    }

    @Test func trackingConfigAndMLflowStoreSelection() throws {
        let base = "data: {dataset: digits}\nmodel: {preset: mlp}\n"
        let d = try ExperimentConfig.parse(base).tracking
        #expect(d.tensorboard == TrackingConfig.TensorBoardSettings() && d.tensorboard.enabled && d.tensorboard.histograms)
        #expect(d.mlflow.enabled && d.mlflow.experiment == "ember" && d.mlflow.runName == nil)
        let c = try ExperimentConfig.parse(base + """
            tracking:
              tensorboard: {every_batches: 5, histograms: false, images: false, samples: 4}
              mlflow: {experiment: digits, run_name: first, tags: {owner: me, round: 2}, every_batches: 0}
            """).tracking
        #expect(c.tensorboard.enabled && c.tensorboard.everyBatches == 5 && !c.tensorboard.histograms && !c.tensorboard.images)
        #expect(c.tensorboard.samples == 4)
        #expect(c.mlflow.experiment == "digits" && c.mlflow.runName == "first" && c.mlflow.tags == ["owner": "me", "round": "2"])
        #expect(c.mlflow.everyBatches == 0)
        #expect(try !ExperimentConfig.parse(base + "tracking: {tensorboard: false, mlflow: false}\n").tracking.tensorboard.enabled)
        #expect(configError(base + "tracking: {mlflow: {experiment: \"\"}}\n")?.contains("tracking.mlflow.experiment: expected a non-empty") == true)
        #expect(configError(base + "tracking: {mlflow: {tags: {a: [1]}}}\n")?.contains("tracking.mlflow.tags.a: expected a string, got a list") == true)

        // Where MLflow records: --mlflow-dir, else MLFLOW_TRACKING_URI (unless the config says no), else nowhere.
        let on = TrackingConfig.MLflowSettings()
        var off = on
        off.enabled = false
        var o = TrainOptions()
        o.environment = [:]
        #expect(try RunTracking.mlflowStore(on, options: o) == nil)
        o.environment = ["MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"]
        #expect(try RunTracking.mlflowStore(on, options: o)?.1 == "http://127.0.0.1:5000")
        #expect(try RunTracking.mlflowStore(off, options: o) == nil)
        o.mlflowDirectory = "/tmp/ember-mlruns"
        #expect(try RunTracking.mlflowStore(on, options: o)?.1 == "/tmp/ember-mlruns")
        #expect(try RunTracking.mlflowStore(off, options: o)?.1 == "/tmp/ember-mlruns")
        o.mlflowDirectory = nil
        o.environment = ["MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"]
        #expect(throws: CLIError.self) { try RunTracking.mlflowStore(on, options: o) }
        #expect(try TrainCommand.parse(["--mlflow-dir", "m"]).options.mlflowDirectory == "m")

        // The config as MLflow parameters.
        let flat = RunTracking.flatten(DefaultConfig.yaml)
        #expect(flat["training.optimizer.lr"] == "0.002" && flat["model.options.channels"] == "[32, 64]")
        #expect(flat["training.callbacks.checkpoint.every_batches"] == "20" && flat["data.split.stratify"] == "true")
        #expect(RunTracking.flatten("model: {layers: [{conv2d: {out: 4, kernel: 3}}, relu]}")["model.layers"] == "[{conv2d: {out: 4, kernel: 3}}, relu]")
    }
}

/// The last row of a run's history.csv, by column (`loss`, `val_accuracy`, `lr`, ...).
func historyRow(_ dir: URL) throws -> [String: Double] {
    let lines = try String(contentsOf: dir.appendingPathComponent("history.csv"), encoding: .utf8).split(separator: "\n")
    let header = lines[0].split(separator: ",").map(String.init), row = lines[lines.count - 1].split(separator: ",", omittingEmptySubsequences: false)
    var out: [String: Double] = [:]
    for (k, v) in zip(header, row) where k != "epoch" { out[k] = Double(v) }
    return out
}

/// argv[1]: an event folder. Reads it with TensorBoard's EventAccumulator; decodes the images with Pillow.
let tensorboardScript = #"""
import json, os, sys, io, glob
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util
from PIL import Image
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0, "histograms": 0, "images": 0})
ea.Reload()
tags = ea.Tags()
out = {"files": [os.path.basename(f) for f in glob.glob(os.path.join(sys.argv[1], "*"))], "scalars_legacy": tags["scalars"],
       "scalars": {}, "plugins": sorted({ea.SummaryMetadata(t).plugin_data.plugin_name for t in tags["tensors"]}),
       "histograms": {}, "images": {}}
for t in tags["tensors"]:
    out["scalars"][t] = [[e.step, float(tensor_util.make_ndarray(e.tensor_proto))] for e in ea.Tensors(t)]
for t in tags["histograms"]:
    out["histograms"][t] = [{k: repr(v) for k, v in [("step", e.step), ("num", e.histogram_value.num), ("min", e.histogram_value.min),
                             ("max", e.histogram_value.max), ("sum", e.histogram_value.sum)]} for e in ea.Histograms(t)]
for t in tags["images"]:
    rows = []
    for e in ea.Images(t):
        im = Image.open(io.BytesIO(e.encoded_image_string)); im.load()
        rows.append({"step": e.step, "width": e.width, "height": e.height, "mode": im.mode, "size": list(im.size)})
    out["images"][t] = rows
json.dump(out, open(os.environ["OUT_PATH"], "w"))
"""#

/// argv[1]: tracking URI, argv[2]: run id, argv[3]: the run directory. Reads the run with MLflow's own client and
/// downloads its artifacts, comparing each with the run directory's file of the same name.
let mlflowScript = #"""
import json, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"   # file stores are refused without it since mlflow 3.13
from mlflow.tracking import MlflowClient
uri, run_id, run_dir = sys.argv[1], sys.argv[2], sys.argv[3]
c = MlflowClient(tracking_uri=uri)
r = c.get_run(run_id)
exp = c.get_experiment(r.info.experiment_id)
def walk(path=None):
    out = []
    for a in c.list_artifacts(run_id, path):
        out += walk(a.path) if a.is_dir else [[a.path, a.file_size]]
    return out
arts = walk()
dst = os.path.join(os.path.dirname(os.environ["OUT_PATH"]), "artifacts")
os.makedirs(dst)
local = c.download_artifacts(run_id, "", dst_path=dst)
same = {p: open(os.path.join(local, p), "rb").read() == open(os.path.join(run_dir, os.path.basename(p)), "rb").read()
        for p, _ in arts}
# repr() strings: exact doubles
history = {k: [[str(m.step), repr(m.value)] for m in c.get_metric_history(run_id, k)] for k in r.data.metrics}
json.dump({"status": r.info.status, "run_name": r.info.run_name, "experiment": exp.name, "artifact_uri": r.info.artifact_uri,
           "params": r.data.params, "tags": r.data.tags, "history": history, "artifacts": arts, "same": same},
          open(os.environ["OUT_PATH"], "w"))
"""#

/// argv[1]: tracking URI, argv[2]: experiment name, argv[3]: an event folder. Every run of the experiment (status,
/// tags, the steps of batch/loss) and the steps TensorBoard's EventAccumulator sees in the folder.
let resumeScript = #"""
import json, os, sys, glob
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
c = MlflowClient(tracking_uri=sys.argv[1])
exp = c.get_experiment_by_name(sys.argv[2])
runs = {}
for r in c.search_runs([exp.experiment_id]):
    runs[r.info.run_id] = {"status": r.info.status, "tags": r.data.tags,
                           "batch_steps": [m.step for m in c.get_metric_history(r.info.run_id, "batch/loss")]}
ea = EventAccumulator(sys.argv[3], size_guidance={"tensors": 0})
ea.Reload()
json.dump({"runs": runs, "tb_files": len(glob.glob(os.path.join(sys.argv[3], "events.out.tfevents.*"))),
           "tb_batch_steps": [e.step for e in ea.Tensors("batch/loss")],
           "tb_epoch_steps": [e.step for e in ea.Tensors("epoch/loss")]}, open(os.environ["OUT_PATH"], "w"))
"""#
