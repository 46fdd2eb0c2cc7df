import Foundation
import Testing
import EmberTestSupport
import EmberCLI
import Logging
@testable import EmberServe

/// The REST endpoints over a real server on 127.0.0.1 with a real HTTP client (URLSession): Open Inference Protocol,
/// SageMaker, metrics, and the errors a client gets for bad requests.
@Suite(.serialized) struct ProtocolTests {
    let runs = Runs.shared

    @Test func healthMetadataAndInferMatchEmberPredict() async throws {
        let s = try await LiveServer([runs.cnn, runs.mlp, runs.bytes])
        defer { Task { await s.stop() } }
        #expect(try await http("GET", s.base + "/v2/health/live").json["live"] as? Bool == true)
        #expect(try await http("GET", s.base + "/v2/health/ready").status == 200)
        let server = try await http("GET", s.base + "/v2").json
        #expect(server["name"] as? String == "ember")
        #expect((server["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        let meta = try await http("GET", s.base + "/v2/models/digits-cnn").json
        let input = (meta["inputs"] as? [[String: Any]])?.first
        #expect(input?["name"] as? String == "input" && input?["datatype"] as? String == "FP32" && input?["shape"] as? [Int] == [-1, 64])
        #expect((meta["outputs"] as? [[String: Any]])?.map { $0["name"] as? String } == ["probabilities", "label", "class"])
        let bmeta = try await http("GET", s.base + "/v2/models/bytes").json
        #expect((bmeta["inputs"] as? [[String: Any]])?.first?["datatype"] as? String == "UINT8")
        #expect((bmeta["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int] == [-1, 1, 8, 8])
        #expect(try await http("GET", s.base + "/v2/models/digits-mlp/ready").status == 200)
        #expect(try await http("GET", s.base + "/v2/models/digits-mlp/versions/1").status == 200)
        #expect(try await http("GET", s.base + "/v2/models/digits-mlp/versions/2").status == 404)

        // Batch of 16 through JSON, and the same rows through `ember predict`.
        let n = 16
        let expected = try emberPredict(runs.cnn, try runs.digitsCSV(n))
        let r = try await post(s.base + "/v2/models/digits-cnn/infer", json: inferJSON(Array(runs.digits.prefix(n * 64)), shape: [n, 1, 8, 8]))
        #expect(r.status == 200, "\(r.text)")
        let outputs = r.json["outputs"] as? [[String: Any]] ?? []
        let probs = outputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double] ?? []
        let labels = outputs.first { $0["name"] as? String == "label" }?["data"] as? [Int] ?? []
        let classes = outputs.first { $0["name"] as? String == "class" }?["data"] as? [String] ?? []
        #expect(labels == expected.map { $0.label! })
        #expect(classes == expected.map { $0.className! })
        #expect(probs.count == n * 10)
        for (i, p) in expected.enumerated() {
            for k in 0..<10 { #expect(abs(probs[i * 10 + k] - p.probabilities[k]) < 1e-6) }
        }
        // UINT8 byte images.
        let img = Array(runs.images.prefix(4 * 64)).map(Float.init)
        let u = try await post(s.base + "/v2/models/bytes/infer", json: inferJSON(img, shape: [4, 1, 8, 8], datatype: "UINT8"))
        #expect(u.status == 200, "\(u.text)")
        let direct = try s.server.registry.model("bytes").predict(img, count: 4)
        let ulabels = (u.json["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "label" }?["data"] as? [Int]
        #expect(ulabels == direct.map { $0.label! })
    }

    /// Requests sent back to back on one connection before any answer (HTTP pipelining) are answered in order, whether
    /// the infer fast path or the router answers them (InferFastPath holds the next request back until the answer
    /// before it is written).
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let s = try await LiveServer([runs.mlp])
        defer { Task { await s.stop() } }
        // Rows whose predicted classes differ, so that swapped answers would show.
        let model = try s.server.registry.model("digits-mlp")
        let all = try model.predict(Array(runs.digits.prefix(40 * 64)), count: 40)
        let a = 0, b = try #require(all.indices.first { all[$0].label != all[a].label })
        func infer(_ row: Int, close: Bool = false) -> String {
            let body = inferJSON(Array(runs.digits[(row * 64)..<(row * 64 + 64)]), shape: [1, 64])
            return "POST /v2/models/digits-mlp/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" + body
        }
        let metadata = "GET /v2/models/digits-mlp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        let client = try RawHTTPClient(port: s.port)
        try client.sendRaw(infer(a) + metadata + infer(b) + metadata + infer(a, close: true))
        let text = String(decoding: try await blocking { try client.readToEnd() }, as: UTF8.self)
        // Five responses, each "HTTP/1.1 200 OK ... \r\n\r\n{json}"; bodies in the order sent.
        let bodies = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.components(separatedBy: "\r\n\r\n").dropFirst().joined() }
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 6, "\(text.prefix(2000))")
        func label(_ body: String) -> Int? {
            let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
            return ((json?["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "label" }?["data"] as? [Int])?.first
        }
        func isMetadata(_ body: String) -> Bool { body.contains("\"platform\":\"ember\"") && !body.contains("model_version") }
        #expect(bodies.count == 5)
        if bodies.count == 5 {
            #expect(label(bodies[0]) == all[a].label && label(bodies[2]) == all[b].label && label(bodies[4]) == all[a].label, "\(bodies)")
            #expect(isMetadata(bodies[1]) && isMetadata(bodies[3]), "\(bodies)")
        }
    }

    @Test func binaryTensorDataExtension() async throws {
        let s = try await LiveServer([runs.mlp])
        defer { Task { await s.stop() } }
        let n = 3
        let values = Array(runs.digits.prefix(n * 64))
        var binary = Data()
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { binary.append(contentsOf: $0) } }
        let header = #"{"inputs":[{"name":"input","shape":[3,64],"datatype":"FP32","parameters":{"binary_data_size":\#(binary.count)}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}},{"name":"class","parameters":{"binary_data":false}}]}"#
        let body = Data(header.utf8) + binary
        let r = try await http("POST", s.base + "/v2/models/digits-mlp/infer", body: body,
                               headers: ["Inference-Header-Content-Length": String(header.utf8.count), "Content-Type": "application/octet-stream"])
        #expect(r.status == 200, "\(r.text)")
        let jsonLength = try #require(r.header("Inference-Header-Content-Length").flatMap { Int($0) })
        let json = try JSONSerialization.jsonObject(with: r.body.prefix(jsonLength)) as? [String: Any] ?? [:]
        let outs = json["outputs"] as? [[String: Any]] ?? []
        #expect(outs.map { $0["name"] as? String } == ["probabilities", "class"])
        let size = (outs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int
        #expect(size == n * 10 * 4 && r.body.count == jsonLength + n * 40)
        let probs: [Float] = r.body.dropFirst(jsonLength).withUnsafeBytes { raw in
            (0..<(n * 10)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        let direct = try s.server.registry.model("digits-mlp").predict(values, count: n)
        for i in 0..<n { for k in 0..<10 { #expect(abs(Double(probs[i * 10 + k]) - direct[i].probabilities[k]) < 1e-6) } }
        #expect(outs[1]["data"] as? [String] == direct.map { $0.className! })
    }

    @Test func badRequestsNameTheField() async throws {
        let s = try await LiveServer([runs.mlp]) { $0.maxBodyBytes = 4096 }
        defer { Task { await s.stop() } }
        let url = s.base + "/v2/models/digits-mlp/infer"
        let row = Array(runs.digits.prefix(64))
        let cases: [(String, Int, String)] = [
            ("{not json", 400, "not valid JSON"),
            ("[1,2]", 400, "expected a JSON object"),
            (#"{"inputs": 3}"#, 400, "inputs: expected an array"),
            (inferJSON(Array(row.prefix(63)), shape: [1, 63]), 400, "inputs[0].shape: expected [N, 64], got [1, 63]"),
            (inferJSON(row, shape: [2, 64]), 400, "inputs[0].data: shape [2, 64] holds 128 values, got 64"),
            (inferJSON(row, shape: [1, 64], datatype: "BYTES"), 400, "inputs[0].datatype: \"BYTES\" is not accepted"),
            (inferJSON(row.map { $0 + 300 }, shape: [1, 64], datatype: "UINT8"), 400, "inputs[0].data: element 0 is 300, not a UINT8"),
            (inferJSON(row, shape: [1, 64]).replacingOccurrences(of: "\"input\"", with: "\"x\""), 400, "inputs[0].name: this model's input is \"input\", got \"x\""),
            (#"{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP32","data":["a"]}]}"#, 400, "inputs[0].data: element 0 is a string"),
            (String(inferJSON(row, shape: [1, 64]).dropLast()) + #","outputs":[{"name":"logits"}]}"#, 400, "outputs[0].name: this model has no output \"logits\""),
            (String(repeating: " ", count: 5000), 413, "larger than the limit of 4096 bytes"),
        ]
        for (body, status, message) in cases {
            let r = try await post(url, json: body)
            #expect(r.status == status, "\(body.prefix(80)): \(r.text)")
            let error = r.json["error"] as? String ?? ""
            #expect(error.contains(message), "\(body.prefix(80)): \(error)")
            #expect(!r.text.contains("Swift") && !r.text.contains(".swift"), "no internals in \(r.text)")
        }
        let missing = try await post(s.base + "/v2/models/nope/infer", json: inferJSON(row, shape: [1, 64]))
        #expect(missing.status == 404 && (missing.json["error"] as? String ?? "").contains("no model named \"nope\""))
        let hdr = try await http("POST", url, body: Data("{}".utf8), headers: ["Inference-Header-Content-Length": "99"])
        #expect(hdr.status == 400 && (hdr.json["error"] as? String ?? "").contains("Inference-Header-Content-Length"))
        // The server still answers after all that.
        #expect(try await post(url, json: inferJSON(row, shape: [1, 64])).status == 200)
    }

    /// Waits (off the cooperative pool) until `n` requests are queued for `model`.
    func queued(_ s: LiveServer, _ model: String, _ n: Int) async throws -> Bool {
        let b = try s.server.registry.batcher(model)
        return try await blocking { b.waitUntilQueued(n, timeout: 60) }
    }

    /// The value of a metric line starting with `prefix` (labels included), nil when absent.
    func metric(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func idleModelAnswersWithoutWaitingForTheBatchDelay() async throws {
        // A 10-minute batch delay: a request that finds the model idle must not wait for it (the client gives up
        // after 60 s; the old batcher waited out the delay even when idle).
        let s = try await LiveServer([runs.mlp]) { $0.batching.maxDelay = 600; $0.batching.maxBatch = 1000 }
        defer { Task { await s.stop() } }
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        for _ in 0..<3 {
            let r = try await post(s.base + "/v2/models/digits-mlp/infer", json: body)
            #expect(r.status == 200, "\(r.text)")
        }
        let m = try await http("GET", s.base + "/metrics").text
        #expect(metric(m, #"ember_batch_size_count{model="digits-mlp"}"#) == 3)
    }

    @Test func fullQueueGets429() async throws {
        // The gate holds batches back, so the first request certainly waits in the queue of one.
        let gate = BatchGate()
        let s = try await LiveServer([runs.mlp]) { $0.batching.maxQueue = 1; $0.gate = gate }
        defer { Task { await s.stop() } }
        let url = s.base + "/v2/models/digits-mlp/infer"
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        async let first = post(url, json: body)
        #expect(try await queued(s, "digits-mlp", 1))
        let second = try await post(url, json: body)
        #expect(second.status == 429 && second.header("Retry-After") == "1", "\(second.text)")
        #expect((second.json["error"] as? String ?? "").contains("1 requests are already waiting"))
        gate.open()
        #expect(try await first.status == 200)
    }

    @Test func requestPastItsDeadlineGets504AndIsNeverComputed() async throws {
        let gate = BatchGate()
        let s = try await LiveServer([runs.mlp]) { $0.batching.requestTimeout = 0.2; $0.gate = gate }
        defer { Task { await s.stop() } }
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        // Held in the queue past its 200 ms deadline.
        let slow = try await post(s.base + "/v2/models/digits-mlp/infer", json: body)
        #expect(slow.status == 504 && (slow.json["error"] as? String ?? "").contains("200 ms"), "\(slow.text)")
        #expect(try s.server.registry.batcher("digits-mlp").depth == 0, "the late request left the queue")
        gate.open()
        // The next request runs; the late one never did: one forward pass of one example in all.
        #expect(try await post(s.base + "/v2/models/digits-mlp/infer", json: body).status == 200)
        let m = try await http("GET", s.base + "/metrics").text
        #expect(m.contains(#"ember_requests_total{model="digits-mlp",endpoint="infer",status="504"} 1"#), "\(m)")
        #expect(metric(m, #"ember_batch_size_count{model="digits-mlp"}"#) == 1)
        #expect(metric(m, #"ember_batch_size_sum{model="digits-mlp"}"#) == 1)
    }

    @Test func requestWhoseClientLeftIsDroppedUncomputed() async throws {
        let gate = BatchGate()
        let s = try await LiveServer([runs.mlp]) { $0.gate = gate }
        defer { Task { await s.stop() } }
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        // A client sends a request over a raw socket and hangs up while the request is queued.
        let client = try RawHTTPClient(port: s.port)
        try client.send("POST", "/v2/models/digits-mlp/infer", body: body)
        #expect(try await queued(s, "digits-mlp", 1))
        client.close()
        // The server notices the closed connection and drops the request (before any batch may run).
        #expect(try await queued(s, "digits-mlp", 0), "the abandoned request left the queue")
        gate.open()
        #expect(try await post(s.base + "/v2/models/digits-mlp/infer", json: body).status == 200)
        let m = try await http("GET", s.base + "/metrics").text
        #expect(metric(m, #"ember_batch_size_count{model="digits-mlp"}"#) == 1, "only the second request was computed: \(m)")
        #expect(metric(m, #"ember_batch_size_sum{model="digits-mlp"}"#) == 1)
        #expect(m.contains(#"ember_requests_total{model="digits-mlp",endpoint="infer",status="499"} 1"#), "\(m)")
    }

    @Test func sageMakerPingAndInvocations() async throws {
        let s = try await LiveServer([runs.mlp])
        defer { Task { await s.stop() } }
        #expect(try await http("GET", s.base + "/ping").status == 200)
        let n = 5
        let csvPath = try runs.digitsCSV(n)
        let expected = try emberPredict(runs.mlp, csvPath)
        let csv = try String(contentsOfFile: csvPath, encoding: .utf8)
        func classes(_ r: HTTPResult) -> [String] { (r.json["predictions"] as? [[String: Any]])?.compactMap { $0["class"] as? String } ?? [] }
        // CSV with its header, and without.
        let withHeader = try await http("POST", s.base + "/invocations", body: Data(csv.utf8), headers: ["Content-Type": "text/csv"])
        #expect(withHeader.status == 200, "\(withHeader.text)")
        #expect(classes(withHeader) == expected.map { $0.className! })
        let p0 = (withHeader.json["predictions"] as? [[String: Any]])?.first?["probability"] as? Double ?? 0
        #expect(abs(p0 - expected[0].probabilities[expected[0].label!]) < 1e-6)
        let rows = csv.split(separator: "\n").dropFirst().joined(separator: "\n")
        let noHeader = try await http("POST", s.base + "/invocations", body: Data(rows.utf8), headers: ["Content-Type": "text/csv", "Accept": "text/csv"])
        #expect(noHeader.status == 200 && noHeader.header("Content-Type")?.hasPrefix("text/csv") == true)
        #expect(noHeader.text.split(separator: "\n").map { String($0.split(separator: ",")[0]) } == expected.map { $0.className! })
        // JSON instances.
        let instances = (0..<n).map { i in "[" + runs.digits[(i * 64)..<((i + 1) * 64)].map { String(Int($0)) }.joined(separator: ",") + "]" }
        let j = try await post(s.base + "/invocations", json: #"{"instances": [\#(instances.joined(separator: ","))]}"#)
        #expect(classes(j) == expected.map { $0.className! })
        // .npy (float64, as NumPy writes by default).
        var npy = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (\(n), 64), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        npy.append(contentsOf: [UInt8(header.utf8.count & 255), UInt8(header.utf8.count >> 8)])
        npy.append(Data(header.utf8))
        for v in runs.digits.prefix(n * 64) { withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { npy.append(contentsOf: $0) } }
        let np = try await http("POST", s.base + "/invocations", body: npy, headers: ["Content-Type": "application/x-npy"])
        #expect(np.status == 200, "\(np.text)")
        #expect(classes(np) == expected.map { $0.className! })
        // Errors.
        let bad = try await http("POST", s.base + "/invocations", body: Data("1,2,3\n".utf8), headers: ["Content-Type": "text/csv"])
        #expect(bad.status == 400 && (bad.json["error"] as? String ?? "").contains("body, line 1: 3 values, but the model takes 64 features"))
        let word = try await http("POST", s.base + "/invocations", body: Data((rows.split(separator: "\n")[0] + "\n1," + String(repeating: "x,", count: 62) + "1\n").utf8),
                                  headers: ["Content-Type": "text/csv"])
        #expect(word.status == 400 && (word.json["error"] as? String ?? "").contains("line 2, column 2: expected a number, got \"x\""), "\(word.text)")
        let type = try await http("POST", s.base + "/invocations", body: Data("x".utf8), headers: ["Content-Type": "image/png"])
        #expect(type.status == 415)
    }

    @Test func metricsAreExposed() async throws {
        let s = try await LiveServer([runs.mlp])
        defer { Task { await s.stop() } }
        let body = inferJSON(Array(runs.digits.prefix(128)), shape: [2, 64])
        for _ in 0..<3 { _ = try await post(s.base + "/v2/models/digits-mlp/infer", json: body) }
        _ = try await post(s.base + "/v2/models/digits-mlp/infer", json: "{")
        let m = try await http("GET", s.base + "/metrics")
        #expect(m.status == 200 && m.header("Content-Type")?.hasPrefix("text/plain") == true)
        for line in [#"ember_requests_total{model="digits-mlp",endpoint="infer",status="200"} 3"#,
                     #"ember_requests_total{model="digits-mlp",endpoint="infer",status="400"} 1"#,
                     #"ember_request_duration_seconds_count{model="digits-mlp",endpoint="infer"} 4"#,
                     #"ember_batch_size_sum{model="digits-mlp"} 6.0"#, #"ember_queue_depth{model="digits-mlp"} 0"#,
                     #"ember_model_loads_total{model="digits-mlp"} 1"#, "ember_model_load_seconds{model=\"digits-mlp\"}"] {
            #expect(m.text.contains(line), "missing \(line)")
        }
    }

    @Test func batchesTogetherAndAnswersEachRequestItsOwn() async throws {
        // Eight requests queue up behind the gate (as they would behind a running batch), then run as one batch.
        let gate = BatchGate()
        let s = try await LiveServer([runs.mlp]) { $0.batching.maxBatch = 64; $0.gate = gate }
        defer { Task { await s.stop() } }
        let queuedAll = Task { try await queued(s, "digits-mlp", 8) }
        let opener = Task { if try await queuedAll.value { gate.open() } }
        let model = try s.server.registry.model("digits-mlp")
        let direct = try model.predict(Array(runs.digits.prefix(8 * 64)), count: 8)
        let results = try await withThrowingTaskGroup(of: (Int, [Int]).self) { g in
            for i in 0..<8 {
                g.addTask {
                    let r = try await post(s.base + "/v2/models/digits-mlp/infer",
                                           json: inferJSON(Array(runs.digits[(i * 64)..<((i + 1) * 64)]), shape: [1, 64]))
                    return (i, (r.json["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "label" }?["data"] as? [Int] ?? [])
                }
            }
            var out: [Int: [Int]] = [:]
            for try await (i, l) in g { out[i] = l }
            return out
        }
        try await opener.value
        #expect(try await queuedAll.value)
        for i in 0..<8 { #expect(results[i] == [direct[i].label!]) }
        // One forward pass of 8 examples from 8 requests.
        let m = try await http("GET", s.base + "/metrics").text
        #expect(metric(m, #"ember_batch_size_count{model="digits-mlp"}"#) == 1, "\(m)")
        #expect(metric(m, #"ember_batch_size_sum{model="digits-mlp"}"#) == 8)
        #expect(metric(m, #"ember_batch_requests_sum{model="digits-mlp"}"#) == 8)
    }

    @Test func requestRacingAReloadGoesToTheNewModel() async throws {
        // A reload retires the batcher between a request's lookup and its queueing (what a SIGHUP under load can do):
        // the request is decoded again for the new model and answered by it, not refused with 503.
        let dir = serveTemp("race").appendingPathComponent("model")
        try copyRun(runs.mlp, to: dir)
        let registry = try ModelRegistry(paths: [dir.path], options: BatchingOptions(), logger: Logger(label: "ember.test"))
        defer { registry.finish() }
        let old = try registry.batcher("digits-mlp")
        try copyRun(runs.cnn, to: dir)   // a different network under the same name
        let values = Array(runs.digits.prefix(3 * 64))
        let decodedFor = ModelList()
        let r = try await registry.predict("digits-mlp") { model in
            decodedFor.append(model)
            if decodedFor.count == 1 {
                #expect(registry.reload() == 1)
                let deadline = Date().addingTimeInterval(30)
                while !old.isStopping && Date() < deadline { usleep(1000) }
                #expect(old.isStopping, "the replaced batcher stops")
            }
            return ((), values, 3)
        }
        let models = decodedFor.models
        #expect(models.count == 2, "decoded once for the old model and once for the new one")
        #expect(models.first === old.model)
        #expect(models.last === r.model && r.model !== old.model)
        let cnn = try ServedModel(path: runs.cnn).predict(values, count: 3)
        #expect(r.predictions.count == 3)
        for (p, q) in zip(r.predictions, cnn) {
            #expect(p.label == q.label)
            for (a, b) in zip(p.probabilities, q.probabilities) { #expect(abs(a - b) < 1e-6) }
        }
        // Shutting down (the batcher stops and nothing replaces it) still answers 503.
        registry.finish()
        do {
            _ = try await registry.predict("digits-mlp") { _ in ((), values, 3) }
            Issue.record("a request after shutdown was answered")
        } catch let e as ServeError {
            #expect(e.status == 503)
        }
    }
}

/// Models a decode closure was handed, in order (appended from the registry's calling thread).
final class ModelList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ServedModel] = []
    func append(_ m: ServedModel) { lock.withLock { list.append(m) } }
    var count: Int { lock.withLock { list.count } }
    var models: [ServedModel] { lock.withLock { list } }
}
