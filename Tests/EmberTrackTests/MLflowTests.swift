import EmberCore
import EmberIO
import EmberNN
import EmberTrain
import Foundation
import Testing
import EmberTestSupport
@testable import EmberTrack

/// Trains the tiny classifier for 3 epochs of 4 batches with `logger`, saving the model as an artifact.
func trainWithMLflow(_ logger: MLflowLogger, scratch: URL) throws -> History {
    let (x, y) = quadrantImages(n: 48, seed: 11)
    let model = tinyClassifier(seed: 12)
    let trainer = Trainer(model, optimizer: Adam(model.parameters, lr: 0.05), loss: .crossEntropy, metrics: [.accuracy])
    let notes = scratch.appendingPathComponent("report")
    try FileManager.default.createDirectory(at: notes.appendingPathComponent("sub"), withIntermediateDirectories: true)
    try "hello from ember".write(to: notes.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
    try "nested".write(to: notes.appendingPathComponent("sub/deep.txt"), atomically: true, encoding: .utf8)
    logger.params = ["batch_size": "12", "seed": "11"]
    logger.tags = ["purpose": "test"]
    logger.artifacts = [notes]
    logger.endRunOnTrainEnd = false
    let history = try trainer.fit(TensorBatches(inputs: x, targets: y, batchSize: 12, seed: 13),
                                  validation: TensorBatches(inputs: x, targets: y, batchSize: 48, shuffle: false),
                                  epochs: 3, callbacks: [logger])
    // After fit, as `ember train` does: save the model, upload it, end the run.
    let modelURL = scratch.appendingPathComponent("model.safetensors")
    try SafeTensors.write(model.stateDict(), to: modelURL)
    try logger.logArtifact(modelURL, artifactPath: "model")
    try logger.endRun()
    return history
}

/// The assertions shared by the server and file-store tests, on what MLflow's client read back.
func checkRun(_ out: [String: Any], history: History, runID: String, runName: String, experiment: String) {
    #expect((out["status"] as? String) == "FINISHED")
    #expect((out["run_name"] as? String) == runName)
    #expect((out["experiment"] as? String) == experiment)
    let params = out["params"] as? [String: String] ?? [:]
    #expect(params["lr"] == "0.05" && params["epochs"] == "3" && params["batches_per_epoch"] == "4")
    #expect(params["batch_size"] == "12" && params["seed"] == "11" && params["optimizer"] == "Adam")
    let parameterCount = 16 * 8 + 8 + 8 * 3 + 3
    #expect(params["parameters"] == String(parameterCount))
    #expect(params["metrics"] == "accuracy")
    let tags = out["tags"] as? [String: String] ?? [:]
    #expect(tags["framework"] == "ember" && tags["purpose"] == "test" && tags["mlflow.runName"] == runName)
    let hist = out["history"] as? [String: Any] ?? [:]
    for key in ["loss", "accuracy", "val_loss", "val_accuracy", "lr"] {
        let got = array(hist[key])
        #expect(got.map { Int($0[0]) } == [0, 1, 2], "\(key) steps")
        #expect(got.map { $0[1] } == history[key], "\(key): \(got) vs \(history[key] ?? [])")
    }
    let batchLoss = array(hist["batch/loss"])
    #expect(batchLoss.map { Int($0[0]) } == Array(1...12))
    #expect(array(hist["batch/accuracy"]).count == 12)
    let arts = (out["artifacts"] as? [[Any]] ?? []).compactMap { $0.first as? String }.sorted()
    #expect(arts == ["model/model.safetensors", "report/notes.txt", "report/sub/deep.txt"])
    let content = out["content"] as? [String: String] ?? [:]
    #expect(content["report/notes.txt"] == "hello from ember" && content["report/sub/deep.txt"] == "nested")
    #expect((out["search"] as? [String]) == [runID])
    let start = (out["start"] as? NSNumber)?.int64Value ?? 0, end = (out["end"] as? NSNumber)?.int64Value ?? 0
    #expect(start > 1_600_000_000_000 && end >= start)
}

@Suite struct MLflowTests {
    @Test(needs(trackPython != nil, skipMessage))
    func serverRunReadBackByMLflowClient() throws {
        let server = try MLflowServer.start()
        defer { server.stop() }
        let scratch = tempDirectory("mlflow-rest")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Picked from MLFLOW_TRACKING_URI, as the CLI does.
        let logger = try #require(try MLflowLogger(experiment: "ember-rest", runName: "tiny-rest", mlflowDirectory: nil,
                                                   environment: ["MLFLOW_TRACKING_URI": server.uri]))
        #expect(logger.store is MLflowRESTStore)
        let history = try trainWithMLflow(logger, scratch: scratch)
        let run = try #require(logger.run)
        // A second run lands in the same experiment; changing a logged param is refused by the server.
        let again = try MLflowRun(store: logger.store, experiment: "ember-rest", runName: "second")
        #expect(again.info.experimentID == run.info.experimentID)
        try again.logParams(["lr": "1"])
        #expect(throws: TrackingError.self) { try again.logParams(["lr": "2"]) }
        try again.logMetric("odd", .nan, step: 0)  // sent as "NaN"/"Infinity", which the server's JSON parser takes
        try again.logMetric("odd", .infinity, step: 1)
        try again.end(status: .killed)

        let out = try runPythonJSON(PythonScripts.mlflow, [server.uri, run.info.runID], timeout: 300)
        checkRun(out, history: history, runID: run.info.runID, runName: "tiny-rest", experiment: "ember-rest")
        #expect(run.info.artifactURI.hasPrefix("mlflow-artifacts:/"))
    }

    @Test(needs(trackPython != nil, skipMessage))
    func fileStoreRunReadBackByMLflowClient() throws {
        let scratch = tempDirectory("mlflow-files")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("mlruns")
        let logger = try #require(try MLflowLogger(experiment: "ember-files", runName: "tiny-files", mlflowDirectory: root,
                                                   environment: [:]))
        #expect(logger.store is MLflowFileStore)
        let history = try trainWithMLflow(logger, scratch: scratch)
        let run = try #require(logger.run)
        let again = try MLflowRun(store: logger.store, experiment: "ember-files")
        #expect(again.info.experimentID == run.info.experimentID && again.info.experimentID == "1")
        try again.end(status: .failed)

        let out = try runPythonJSON(PythonScripts.mlflow, ["file:" + root.path, run.info.runID], timeout: 300)
        checkRun(out, history: history, runID: run.info.runID, runName: "tiny-files", experiment: "ember-files")
    }

    @Test func storeSelection() throws {
        #expect(try MLflow.store(directory: nil, environment: [:]) == nil)
        let dir = URL(fileURLWithPath: "/tmp/x-mlruns")
        #expect((try MLflow.store(directory: dir, environment: [:]) as? MLflowFileStore)?.root.path == "/tmp/x-mlruns")
        #expect(try MLflow.store(directory: dir, environment: ["MLFLOW_TRACKING_URI": "http://127.0.0.1:5000/"]) is MLflowRESTStore)
        #expect(try MLflow.store(trackingURI: "file:///tmp/m") is MLflowFileStore)
        #expect(throws: TrackingError.self) { try MLflow.store(trackingURI: "sqlite:///mlflow.db") }
        #expect(MLflow.sanitizedKey("val acc@top-5/../x") == "val acc_top-5/x")
        #expect(MLflow.sanitizedKey("/a//b/") == "a/b")
    }

    @Test func fileStoreLayout() throws {
        let root = tempDirectory("mlflow-layout")
        defer { try? FileManager.default.removeItem(at: root) }
        let run = try MLflowRun(store: MLflowFileStore(root: root), experiment: "it's \"quoted\"", runName: "r1")
        try run.logMetric("train/loss", 0.5, step: 1, timestamp: 1000)
        try run.logMetric("train/loss", .nan, step: 2, timestamp: 1001)
        try run.end()
        let dir = root.appendingPathComponent("1").appendingPathComponent(run.info.runID)
        #expect(try String(contentsOf: dir.appendingPathComponent("metrics/train/loss"), encoding: .utf8) == "1000 0.5 1\n1001 nan 2\n")
        let meta = MLflowFileStore.parseYAML(try String(contentsOf: dir.appendingPathComponent("meta.yaml"), encoding: .utf8))
        #expect(meta["status"] == "3" && meta["run_id"] == run.info.runID && meta["experiment_id"] == "1")
        let exp = MLflowFileStore.parseYAML(try String(contentsOf: root.appendingPathComponent("1/meta.yaml"), encoding: .utf8))
        #expect(exp["name"] == "it's \"quoted\"")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("0/meta.yaml").path))
        #expect(try MLflowFileStore(root: root).experimentID(named: "it's \"quoted\"") == "1")
    }
}
