import EmberIO
import Foundation

/// Writes MLflow's file-store layout (`mlruns/`) with plain file I/O, for runs without a tracking server
/// (`--mlflow-dir DIR`). MLflow reads it with `MlflowClient(tracking_uri="file:DIR")` or
/// `mlflow ui --backend-store-uri DIR`; since MLflow 3.13 that needs `MLFLOW_ALLOW_FILE_STORE=true`, or a one-time
/// `mlflow migrate-filestore --source DIR --target sqlite:///mlflow.db`.
///
/// Layout: `DIR/<experiment id>/meta.yaml`, `DIR/<experiment id>/<run id>/{meta.yaml, params/, metrics/, tags/, artifacts/}`;
/// a metric file holds lines `<timestamp ms> <value> <step>`; a `/` in a key makes sub-folders.
public final class MLflowFileStore: MLflowStore {
    /// The store's root folder (absolute).
    public let root: URL

    /// A file store rooted at `root` (created on first use).
    public init(root: URL) {
        self.root = URL(fileURLWithPath: root.standardizedFileURL.path, isDirectory: true)
    }

    // MARK: experiments

    public func experimentID(named name: String) throws -> String {
        try ensureExperiment(id: "0", name: "Default")
        let existing = try experiments()
        if let hit = existing.first(where: { $0.name == name }) { return hit.id }
        var next = (existing.compactMap { Int($0.id) }.max() ?? 0) + 1
        for _ in 0..<1000 {
            let id = String(next)
            let dir = root.appendingPathComponent(id)
            // mkdir without intermediates fails if another writer took this id first.
            if (try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)) != nil {
                try writeExperimentMeta(id: id, name: name)
                return id
            }
            next += 1
        }
        throw TrackingError.io(path: root.path, reason: "could not allocate an experiment id")
    }

    /// (id, name) of every experiment in the store.
    func experiments() throws -> [(id: String, name: String)] {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        var out: [(String, String)] = []
        for e in entries.sorted() where !e.hasPrefix(".") {
            let meta = root.appendingPathComponent(e).appendingPathComponent("meta.yaml")
            guard let text = try? String(contentsOf: meta, encoding: .utf8) else { continue }
            let fields = Self.parseYAML(text)
            if fields["lifecycle_stage"] == "deleted" { continue }
            if let n = fields["name"] { out.append((fields["experiment_id"] ?? e, n)) }
        }
        return out
    }

    func ensureExperiment(id: String, name: String) throws {
        let meta = root.appendingPathComponent(id).appendingPathComponent("meta.yaml")
        if FileManager.default.fileExists(atPath: meta.path) { return }
        try writeExperimentMeta(id: id, name: name)
    }

    func writeExperimentMeta(id: String, name: String) throws {
        let now = MLflow.now()
        let dir = root.appendingPathComponent(id, isDirectory: true)
        let text = """
            artifact_location: \(Self.quote(dir.absoluteString.trimmingSuffix("/")))
            creation_time: \(now)
            experiment_id: \(Self.quote(id))
            last_update_time: \(now)
            lifecycle_stage: active
            name: \(Self.quote(name))

            """
        try Self.writeFile(Data(text.utf8), to: dir.appendingPathComponent("meta.yaml"))
    }

    // MARK: runs

    public func createRun(experimentID: String, runName: String, startTime: Int64, tags: [String: String]) throws -> MLflowRunInfo {
        let runID = MLflow.newRunID()
        let expDir = root.appendingPathComponent(experimentID, isDirectory: true)
        let expMeta = (try? String(contentsOf: expDir.appendingPathComponent("meta.yaml"), encoding: .utf8)).map(Self.parseYAML) ?? [:]
        let location = expMeta["artifact_location"].flatMap { $0.hasPrefix("file:") ? $0 : nil }
            ?? expDir.absoluteString.trimmingSuffix("/")
        let run = MLflowRunInfo(runID: runID, experimentID: experimentID,
                                artifactURI: location + "/" + runID + "/artifacts", runName: runName)
        let dir = runDirectory(run)
        let fm = FileManager.default
        do {
            for sub in ["metrics", "params", "tags", "artifacts"] {
                try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
        } catch {
            throw TrackingError.io(path: dir.path, reason: "cannot create run folder: \(error.localizedDescription)")
        }
        let user = ProcessInfo.processInfo.environment["USER"] ?? "ember"
        let text = """
            artifact_uri: \(Self.quote(run.artifactURI))
            end_time: null
            entry_point_name: ''
            experiment_id: \(Self.quote(experimentID))
            lifecycle_stage: active
            run_id: \(Self.quote(runID))
            run_name: \(Self.quote(runName))
            source_name: ''
            source_type: 4
            source_version: ''
            start_time: \(startTime)
            status: \(MLflowRunStatus.running.rawValue)
            tags: []
            user_id: \(Self.quote(user))

            """
        try Self.writeFile(Data(text.utf8), to: dir.appendingPathComponent("meta.yaml"))
        try logBatch(run: run, metrics: [], params: [:], tags: tags.merging(["mlflow.runName": runName]) { a, _ in a })
        return run
    }

    public func logBatch(run: MLflowRunInfo, metrics: [MLflowMetric], params: [String: String], tags: [String: String]) throws {
        let dir = runDirectory(run)
        for (k, v) in params.sorted(by: { $0.key < $1.key }) {
            let url = dir.appendingPathComponent("params").appendingPathComponent(MLflow.sanitizedKey(k))
            if let old = try? String(contentsOf: url, encoding: .utf8) {
                guard old == v else {
                    throw TrackingError.invalidArgument("MLflow param '\(k)' already logged with value '\(old)', cannot change it to '\(v)'")
                }
                continue
            }
            try Self.writeFile(Data(v.utf8), to: url)
        }
        for (k, v) in tags.sorted(by: { $0.key < $1.key }) {
            try Self.writeFile(Data(v.utf8), to: dir.appendingPathComponent("tags").appendingPathComponent(MLflow.sanitizedKey(k)))
        }
        var byKey: [String: String] = [:]
        var order: [String] = []
        for m in metrics {
            let k = MLflow.sanitizedKey(m.key)
            if byKey[k] == nil { order.append(k) }
            byKey[k, default: ""] += "\(m.timestamp) \(Self.format(m.value)) \(m.step)\n"
        }
        for k in order { try Self.append(Data(byKey[k]!.utf8), to: dir.appendingPathComponent("metrics").appendingPathComponent(k)) }
    }

    public func logArtifact(run: MLflowRunInfo, data: Data, path: String) throws {
        let clean = MLflowRun.cleanPath(path)
        guard !clean.isEmpty else { throw TrackingError.invalidArgument("MLflow artifact path '\(path)' is empty") }
        guard let base = URL(string: run.artifactURI), base.isFileURL else { throw TrackingError.unsupportedURI(run.artifactURI) }
        try Self.writeFile(data, to: base.appendingPathComponent(clean))
    }

    public func updateRun(run: MLflowRunInfo, status: MLflowRunStatus, endTime: Int64) throws {
        let url = runDirectory(run).appendingPathComponent("meta.yaml")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw TrackingError.io(path: url.path, reason: "cannot read run metadata")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("status:") { return "status: \(status.rawValue)" }
            if line.hasPrefix("end_time:") { return "end_time: \(endTime)" }
            return String(line)
        }
        try Self.writeFile(Data(lines.joined(separator: "\n").utf8), to: url)
    }

    /// The folder of one run.
    public func runDirectory(_ run: MLflowRunInfo) -> URL {
        root.appendingPathComponent(run.experimentID, isDirectory: true).appendingPathComponent(run.runID, isDirectory: true)
    }

    // MARK: file helpers

    /// Writes `data` to `url` atomically, creating folders.
    static func writeFile(_ data: Data, to url: URL) throws {
        do { try AtomicFile.write(data, to: url) } catch {
            throw TrackingError.io(path: url.path, reason: "\(error)")
        }
    }

    /// Appends `data` to `url`, creating it and its folders.
    static func append(_ data: Data, to url: URL) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !fm.fileExists(atPath: url.path) { _ = fm.createFile(atPath: url.path, contents: nil) }
            let h = try FileHandle(forWritingTo: url)
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: data)
        } catch {
            throw TrackingError.io(path: url.path, reason: "cannot append: \(error.localizedDescription)")
        }
    }

    /// A YAML single-quoted scalar.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    /// Doubles as Python's `float()` reads them.
    static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return "\(v)"
    }

    /// Top-level `key: value` pairs of a flat YAML mapping (enough for MLflow's meta.yaml files).
    static func parseYAML(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix(" ") && !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            var v = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if v.count >= 2, v.hasPrefix("'"), v.hasSuffix("'") {
                v = String(v.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
            } else if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") {
                v = String(v.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
            }
            out[key] = v
        }
        return out
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
