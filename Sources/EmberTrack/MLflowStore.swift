import Foundation

/// One metric value of an MLflow run: `key` at `step`, logged at `timestamp` (milliseconds since 1970).
public struct MLflowMetric: Sendable, Equatable, Codable {
    /// The metric's name (`/` groups metrics in the UI).
    public var key: String
    /// The value (NaN and infinities are allowed).
    public var value: Double
    /// Milliseconds since 1970.
    public var timestamp: Int64
    /// The step (Ember logs the global optimizer step or the epoch index).
    public var step: Int64

    /// A metric value, stamped now unless told otherwise.
    public init(key: String, value: Double, timestamp: Int64 = MLflow.now(), step: Int64 = 0) {
        self.key = key; self.value = value; self.timestamp = timestamp; self.step = step
    }
}

/// The status of an MLflow run (the numbers are those of MLflow's `RunStatus` enum).
public enum MLflowRunStatus: Int, Sendable, CaseIterable {
    case running = 1, scheduled = 2, finished = 3, failed = 4, killed = 5

    /// The name MLflow's REST API uses ("RUNNING", "FINISHED", ...).
    public var name: String {
        switch self {
        case .running: return "RUNNING"
        case .scheduled: return "SCHEDULED"
        case .finished: return "FINISHED"
        case .failed: return "FAILED"
        case .killed: return "KILLED"
        }
    }
}

/// What a store returns for a newly created run.
public struct MLflowRunInfo: Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var runID: String
    /// The experiment the run belongs to.
    public var experimentID: String
    /// Where the run's artifacts live (`mlflow-artifacts:/...` on a server with `--serve-artifacts`, `file://...` in a file store).
    public var artifactURI: String
    /// The run's display name.
    public var runName: String
}

/// Where MLflow runs are recorded: a tracking server (`MLflowRESTStore`) or a local file store (`MLflowFileStore`).
/// `MLflowRun` and `MLflowLogger` work with either.
public protocol MLflowStore: AnyObject {
    /// The id of the experiment called `name`, created when it does not exist.
    func experimentID(named name: String) throws -> String
    /// Starts a run (status RUNNING) in an experiment.
    func createRun(experimentID: String, runName: String, startTime: Int64, tags: [String: String]) throws -> MLflowRunInfo
    /// Logs metrics, parameters and tags of a run in one call.
    func logBatch(run: MLflowRunInfo, metrics: [MLflowMetric], params: [String: String], tags: [String: String]) throws
    /// Stores `data` as the artifact at relative path `path` (e.g. `model/model.safetensors`).
    func logArtifact(run: MLflowRunInfo, data: Data, path: String) throws
    /// Sets the run's final status and end time.
    func updateRun(run: MLflowRunInfo, status: MLflowRunStatus, endTime: Int64) throws
}

/// Helpers shared by the MLflow stores.
public enum MLflow {
    /// Milliseconds since 1970, MLflow's timestamp unit.
    public static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// A store for `trackingURI`: `http(s)://` gives the REST client, `file:` or a plain path the file store.
    /// - Throws: `TrackingError.unsupportedURI` for other schemes (e.g. `sqlite:`, `databricks`).
    public static func store(trackingURI: String) throws -> any MLflowStore {
        if trackingURI.hasPrefix("http://") || trackingURI.hasPrefix("https://") {
            return try MLflowRESTStore(trackingURI: trackingURI)
        }
        if trackingURI.hasPrefix("file:") {
            guard let url = URL(string: trackingURI), url.isFileURL else { throw TrackingError.unsupportedURI(trackingURI) }
            return MLflowFileStore(root: url)
        }
        if !trackingURI.contains(":") { return MLflowFileStore(root: URL(fileURLWithPath: trackingURI)) }
        throw TrackingError.unsupportedURI(trackingURI)
    }

    /// The store named by `MLFLOW_TRACKING_URI` when set, else a file store in `directory` (the `--mlflow-dir`
    /// option); `nil` when neither is given.
    public static func store(directory: URL? = nil,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (any MLflowStore)? {
        if let uri = environment["MLFLOW_TRACKING_URI"], !uri.isEmpty { return try store(trackingURI: uri) }
        return directory.map { MLflowFileStore(root: $0) }
    }

    /// MLflow accepts metric, parameter and tag names of letters, digits, `_ - . / space` (a `/` makes a
    /// sub-folder in file stores); anything else becomes `_`. Leading `/` and `..` segments are removed.
    public static func sanitizedKey(_ key: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./ ")
        let mapped = String(key.map { allowed.contains($0) ? $0 : "_" })
        let parts = mapped.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != ".." && $0 != "." }
        let joined = parts.joined(separator: "/")
        return joined.isEmpty ? "_" : String(joined.prefix(250))
    }

    /// A run id: 32 lowercase hex digits, as MLflow makes them.
    static func newRunID() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
}

/// An active MLflow run: buffers metrics and sends them in batches; logs parameters, tags and artifacts.
///
/// ```swift
/// let run = try MLflowRun(store: MLflowFileStore(root: URL(fileURLWithPath: "mlruns")), experiment: "demo")
/// try run.logParams(["lr": "0.001"])
/// try run.logMetric("loss", 0.5, step: 1)
/// try run.logArtifact(file: URL(fileURLWithPath: "model.safetensors"))
/// try run.end()
/// ```
public final class MLflowRun {
    /// The store the run is recorded in.
    public let store: any MLflowStore
    /// The run's ids and artifact location.
    public let info: MLflowRunInfo
    /// Metrics are sent once this many are buffered (MLflow's log-batch limit is 1000).
    public var batchSize = 500
    /// Whether `end` has been called.
    public private(set) var ended = false
    private var pending: [MLflowMetric] = []

    /// Starts a run in the experiment `experiment` (created if missing).
    public init(store: any MLflowStore, experiment: String, runName: String? = nil, tags: [String: String] = [:]) throws {
        self.store = store
        let id = try store.experimentID(named: experiment)
        let name = runName ?? "ember-" + String(MLflow.newRunID().prefix(8))
        var allTags = ["mlflow.runName": name, "mlflow.source.type": "LOCAL",
                       "mlflow.source.name": ProcessInfo.processInfo.processName]
        if let user = ProcessInfo.processInfo.environment["USER"] { allTags["mlflow.user"] = user }
        for (k, v) in tags { allTags[MLflow.sanitizedKey(k)] = v }
        info = try store.createRun(experimentID: id, runName: name, startTime: MLflow.now(), tags: allTags)
    }

    /// Logs parameters (strings; MLflow refuses to change a parameter's value once logged).
    public func logParams(_ params: [String: String]) throws {
        var clean: [String: String] = [:]
        for (k, v) in params { clean[MLflow.sanitizedKey(k)] = String(v.prefix(6000)) }
        for chunk in clean.sorted(by: { $0.key < $1.key }).chunked(100) {
            try store.logBatch(run: info, metrics: [], params: Dictionary(uniqueKeysWithValues: chunk.map { ($0.key, $0.value) }), tags: [:])
        }
    }

    /// Sets tags (may be changed later).
    public func setTags(_ tags: [String: String]) throws {
        var clean: [String: String] = [:]
        for (k, v) in tags { clean[MLflow.sanitizedKey(k)] = v }
        for chunk in clean.sorted(by: { $0.key < $1.key }).chunked(100) {
            try store.logBatch(run: info, metrics: [], params: [:], tags: Dictionary(uniqueKeysWithValues: chunk.map { ($0.key, $0.value) }))
        }
    }

    /// Buffers one metric value; sent when the buffer is full, on `flush()` and on `end()`.
    public func logMetric(_ key: String, _ value: Double, step: Int, timestamp: Int64 = MLflow.now()) throws {
        pending.append(MLflowMetric(key: MLflow.sanitizedKey(key), value: value, timestamp: timestamp, step: Int64(step)))
        if pending.count >= batchSize { try flush() }
    }

    /// Buffers several metrics at one step.
    public func logMetrics(_ metrics: [String: Double], step: Int) throws {
        let t = MLflow.now()
        for (k, v) in metrics.sorted(by: { $0.key < $1.key }) { try logMetric(k, v, step: step, timestamp: t) }
    }

    /// Sends the buffered metrics.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        for chunk in pending.chunked(Swift.min(Swift.max(batchSize, 1), 1000)) {
            try store.logBatch(run: info, metrics: Array(chunk), params: [:], tags: [:])
        }
        pending.removeAll()
    }

    /// Uploads bytes as an artifact at relative path `path`.
    public func logArtifact(data: Data, path: String) throws {
        try store.logArtifact(run: info, data: data, path: Self.cleanPath(path))
    }

    /// Uploads a file as an artifact, under `artifactPath` (a folder inside the run's artifacts; default: top level).
    public func logArtifact(file: URL, artifactPath: String? = nil) throws {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw TrackingError.io(path: file.path, reason: "cannot read artifact: \(error.localizedDescription)")
        }
        let name = file.lastPathComponent
        try logArtifact(data: data, path: artifactPath.map { $0 + "/" + name } ?? name)
    }

    /// Uploads every regular file under `directory`, keeping relative paths, under `artifactPath` (default: the
    /// folder's name).
    public func logArtifacts(directory: URL, artifactPath: String? = nil) throws {
        let base = directory.standardizedFileURL.resolvingSymlinksInPath()
        let prefix = artifactPath ?? base.lastPathComponent
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw TrackingError.io(path: directory.path, reason: "cannot list folder")
        }
        var files: [URL] = []
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            files.append(url.standardizedFileURL.resolvingSymlinksInPath())
        }
        for f in files.sorted(by: { $0.path < $1.path }) {
            let rel = String(f.path.dropFirst(base.path.count + 1))
            let folder = (rel as NSString).deletingLastPathComponent
            try logArtifact(file: f, artifactPath: folder.isEmpty ? prefix : prefix + "/" + folder)
        }
    }

    /// Flushes metrics and marks the run ended with `status`. Calling it again does nothing.
    public func end(status: MLflowRunStatus = .finished) throws {
        guard !ended else { return }
        try flush()
        try store.updateRun(run: info, status: status, endTime: MLflow.now())
        ended = true
    }

    static func cleanPath(_ p: String) -> String {
        p.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." && $0 != ".." }.joined(separator: "/")
    }
}

extension Collection {
    func chunked(_ n: Int) -> [SubSequence] {
        precondition(n > 0)
        var out: [SubSequence] = [], i = startIndex
        while i != endIndex {
            let j = index(i, offsetBy: n, limitedBy: endIndex) ?? endIndex
            out.append(self[i..<j])
            i = j
        }
        return out
    }
}
