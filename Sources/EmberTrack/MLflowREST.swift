import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Records runs on an MLflow tracking server through its REST API (`/api/2.0/mlflow/...`), and uploads
/// artifacts through the server's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`, which
/// `mlflow server` offers with `--serve-artifacts`, the default).
///
/// Credentials come from `MLFLOW_TRACKING_TOKEN` (bearer) or `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`
/// (basic), as in MLflow's own client. Requests time out after `timeout` seconds and are retried `retries` times
/// on connection errors, HTTP 429 and 5xx.
public final class MLflowRESTStore: MLflowStore {
    /// The server's base URL, e.g. `http://127.0.0.1:5000`.
    public let baseURL: URL
    /// Seconds before one request is abandoned.
    public var timeout: TimeInterval
    /// Extra attempts after a transient failure.
    public var retries: Int
    private let session: URLSession
    private let authorization: String?

    /// A client for the server at `trackingURI` (`http://` or `https://`).
    public init(trackingURI: String, timeout: TimeInterval = 30, retries: Int = 3,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var s = trackingURI
        while s.hasSuffix("/") { s.removeLast() }
        guard let url = URL(string: s), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw TrackingError.unsupportedURI(trackingURI)
        }
        baseURL = url
        self.timeout = timeout
        self.retries = retries
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout * 4
        session = URLSession(configuration: config)
        if let token = environment["MLFLOW_TRACKING_TOKEN"], !token.isEmpty {
            authorization = "Bearer " + token
        } else if let user = environment["MLFLOW_TRACKING_USERNAME"], let pass = environment["MLFLOW_TRACKING_PASSWORD"] {
            authorization = "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
    }

    deinit { session.finishTasksAndInvalidate() }

    // MARK: MLflowStore

    public func experimentID(named name: String) throws -> String {
        struct Got: Decodable { struct E: Decodable { var experiment_id: String; var lifecycle_stage: String? }; var experiment: E }
        struct Created: Decodable { var experiment_id: String }
        var q = URLComponents(url: api("experiments/get-by-name"), resolvingAgainstBaseURL: false)!
        q.queryItems = [URLQueryItem(name: "experiment_name", value: name)]
        for attempt in 0..<2 {
            let (status, body) = try send(method: "GET", url: q.url!, body: nil, contentType: nil, allow404: true)
            if status != 404 {
                let got: Got = try decode(body, from: q.url!)
                if got.experiment.lifecycle_stage == "deleted" {
                    throw TrackingError.server(url: q.url!.absoluteString, status: status,
                                               message: "experiment '\(name)' is deleted; restore it or pick another name")
                }
                return got.experiment.experiment_id
            }
            if attempt > 0 { break }
            struct Create: Encodable { var name: String }
            let url = api("experiments/create")
            let (cs, cbody) = try send(method: "POST", url: url, body: try json(Create(name: name)),
                                       contentType: "application/json", allow404: false, allowConflict: true)
            if cs < 300 { return try (decode(cbody, from: url) as Created).experiment_id }
            // Created by someone else in between: look it up again.
        }
        throw TrackingError.server(url: q.url!.absoluteString, status: 404, message: "experiment '\(name)' not found and could not be created")
    }

    public func createRun(experimentID: String, runName: String, startTime: Int64, tags: [String: String]) throws -> MLflowRunInfo {
        struct Create: Encodable { var experiment_id: String; var start_time: Int64; var run_name: String; var tags: [Tag] }
        struct Reply: Decodable {
            struct Run: Decodable { struct Info: Decodable { var run_id: String; var experiment_id: String; var artifact_uri: String? }; var info: Info }
            var run: Run
        }
        let url = api("runs/create")
        let req = Create(experiment_id: experimentID, start_time: startTime, run_name: runName,
                         tags: tags.sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value) })
        let (_, body) = try send(method: "POST", url: url, body: try json(req), contentType: "application/json")
        let info: Reply = try decode(body, from: url)
        return MLflowRunInfo(runID: info.run.info.run_id, experimentID: info.run.info.experiment_id,
                             artifactURI: info.run.info.artifact_uri ?? "", runName: runName)
    }

    public func logBatch(run: MLflowRunInfo, metrics: [MLflowMetric], params: [String: String], tags: [String: String]) throws {
        struct Batch: Encodable { var run_id: String; var metrics: [MLflowMetric]; var params: [Tag]; var tags: [Tag] }
        let b = Batch(run_id: run.runID, metrics: metrics,
                      params: params.sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value) },
                      tags: tags.sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value) })
        _ = try send(method: "POST", url: api("runs/log-batch"), body: try json(b), contentType: "application/json")
    }

    public func logArtifact(run: MLflowRunInfo, data: Data, path: String) throws {
        let uri = run.artifactURI
        if uri.hasPrefix("file:") {
            // A server without --serve-artifacts whose artifact root is on this machine: write it directly.
            guard let root = URL(string: uri), root.isFileURL else { throw TrackingError.unsupportedURI(uri) }
            try MLflowFileStore.writeFile(data, to: root.appendingPathComponent(path))
            return
        }
        guard uri.hasPrefix("mlflow-artifacts:") else { throw TrackingError.unsupportedURI(uri) }
        // mlflow-artifacts:/<path> or mlflow-artifacts://host:port/<path>: the path is relative to the proxy root.
        var rest = String(uri.dropFirst("mlflow-artifacts:".count))
        if rest.hasPrefix("//") {
            rest.removeFirst(2)
            rest = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? ""
        }
        let segments = (rest.split(separator: "/").map(String.init) + path.split(separator: "/").map(String.init))
        let encoded = segments.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? $0 }
        guard let url = URL(string: baseURL.absoluteString + "/api/2.0/mlflow-artifacts/artifacts/" + encoded.joined(separator: "/")) else {
            throw TrackingError.unsupportedURI(uri + "/" + path)
        }
        _ = try send(method: "PUT", url: url, body: data, contentType: "application/octet-stream")
    }

    public func updateRun(run: MLflowRunInfo, status: MLflowRunStatus, endTime: Int64) throws {
        struct Update: Encodable { var run_id: String; var status: String; var end_time: Int64 }
        _ = try send(method: "POST", url: api("runs/update"),
                     body: try json(Update(run_id: run.runID, status: status.name, end_time: endTime)),
                     contentType: "application/json")
    }

    // MARK: HTTP

    struct Tag: Encodable { var key: String; var value: String }

    func api(_ endpoint: String) -> URL { baseURL.appendingPathComponent("api/2.0/mlflow/" + endpoint) }

    func json<T: Encodable>(_ value: T) throws -> Data {
        let enc = JSONEncoder()
        // Protobuf's JSON mapping accepts these strings for non-finite doubles.
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do { return try enc.encode(value) } catch { throw TrackingError.invalidArgument("MLflow: cannot encode request: \(error)") }
    }

    func decode<T: Decodable>(_ data: Data, from url: URL) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw TrackingError.server(url: url.absoluteString, status: 200,
                                       message: "unexpected reply (\(error)): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    /// Sends one request, retrying transient failures; returns the status and body of a successful reply.
    func send(method: String, url: URL, body: Data?, contentType: String?, allow404: Bool = false,
              allowConflict: Bool = false) throws -> (Int, Data) {
        var req = URLRequest(url: url, timeoutInterval: timeout)
        req.httpMethod = method
        req.httpBody = body
        if let contentType { req.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let authorization { req.setValue(authorization, forHTTPHeaderField: "Authorization") }
        req.setValue("ember-track", forHTTPHeaderField: "User-Agent")
        var lastError = TrackingError.server(url: url.absoluteString, status: 0, message: "no attempt made")
        for attempt in 0...Swift.max(0, retries) {
            if attempt > 0 { Thread.sleep(forTimeInterval: Swift.min(0.25 * Double(1 << attempt), 4)) }
            let (status, data, failure) = perform(req)
            if let failure {
                lastError = .server(url: url.absoluteString, status: 0, message: failure)
                continue
            }
            if (200..<300).contains(status) || (allow404 && status == 404) { return (status, data) }
            let message = Self.errorMessage(data)
            lastError = .server(url: url.absoluteString, status: status, message: message)
            if allowConflict && message.hasPrefix("RESOURCE_ALREADY_EXISTS") { return (status, data) }
            if status != 429 && status < 500 { break }
        }
        throw lastError
    }

    /// "ERROR_CODE: message" from MLflow's JSON error body, or the raw body.
    static func errorMessage(_ data: Data) -> String {
        if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let code = obj["error_code"] as? String ?? "ERROR"
            return "\(code): \(obj["message"] as? String ?? "")"
        }
        return String(decoding: data.prefix(500), as: UTF8.self)
    }

    private final class Reply: @unchecked Sendable {
        var status = 0, data = Data(), failure: String?
    }

    /// One blocking request; returns (status, body, transport error).
    private func perform(_ req: URLRequest) -> (Int, Data, String?) {
        let reply = Reply()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: req) { data, response, error in
            if let error { reply.failure = error.localizedDescription }
            reply.status = (response as? HTTPURLResponse)?.statusCode ?? 0
            reply.data = data ?? Data()
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            _ = done.wait(timeout: .now() + 5)
            return (0, Data(), "no reply within \(Int(timeout)) s")
        }
        if reply.failure == nil && reply.status == 0 { return (0, Data(), "no HTTP response") }
        return (reply.status, reply.data, reply.failure)
    }
}
