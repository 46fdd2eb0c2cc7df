import Foundation
import Testing
import EmberTestSupport
import EmberCLI
@testable import EmberServe

/// wrk (Debian package "wrk") for the short load test.
let wrkPath: String? = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The built `ember` binary as a child process: SIGTERM finishes in-flight requests and exits 0, SIGHUP reloads a
/// model without dropping requests, and a short bounded load (wrk, 127.0.0.1 only) gets only 2xx answers.
@Suite(.serialized, needs(emberBinary != nil, "the ember executable is not built next to the test bundle (`swift build --build-tests` builds it)"))
struct ProcessTests {
    let runs = Runs.shared

    @Test func sigtermFinishesInFlightRequestsAndExitsZero() async throws {
        // The polling below runs on threads of its own, not on the cooperative pool that other tests' synchronous
        // work can hold for minutes (the held request's client would time out before the poll saw it queued).
        try await withTaskExecutorPreference(DedicatedExecutor.shared) { try await sigtermBody() }
    }

    func sigtermBody() async throws {
        // The test hook holds every batch until graceful shutdown begins, so the request is certainly still queued
        // when SIGTERM arrives, however fast or slow the machine is. The request timeout is set far beyond the wait
        // below, so on a loaded machine the held request cannot time out (504) before the signal.
        let p = try ServeProcess([runs.mlp, "--timeout-ms", "600000"], environment: ["EMBER_SERVE_TEST_HOLD_BATCHES": "1"])
        defer { p.stop() }
        let url = p.base + "/v2/models/digits-mlp/infer"
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        #expect(try await http("GET", p.base + "/v2/health/ready").status == 200)
        // The client waits longer than the poll's deadline: the server holds this request until SIGTERM.
        async let inFlight = post(url, json: body, timeout: 600)
        // Wait until the server holds the request (its queue-depth gauge shows it), not for a fixed time: on a
        // loaded machine the request may take a while to arrive. The deadline only stops a broken server hanging.
        let deadline = Date().addingTimeInterval(300)
        var queued = false
        while !queued && Date() < deadline {
            let m = try await http("GET", p.base + "/metrics").text
            queued = m.split(separator: "\n").contains { $0.hasPrefix("ember_queue_depth{") && $0.hasSuffix(" 1") || $0.hasPrefix("ember_queue_depth{") && $0.hasSuffix(" 1.0") }
            if !queued { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(queued, "the request never reached the queue; log: \(p.logText)")
        p.signal(SIGTERM)
        let r = try await inFlight
        #expect(r.status == 200, "the in-flight request was answered: \(r.text)")
        let status = try await blocking { p.wait(timeout: 30) }
        #expect(status == 0, "exit status \(String(describing: status)); log: \(p.logText)")
        // Nothing listens any more.
        let after = try? await http("GET", p.base + "/v2/health/live", timeout: 3)
        #expect(after == nil)
        #expect(p.logText.contains("server stopped"))
    }

    @Test func sighupReloadsWithoutDroppingRequests() async throws {
        let dir = serveTemp("reload").appendingPathComponent("model")
        try copyRun(runs.mlp, to: dir)
        let p = try ServeProcess([dir.path, "--max-delay-ms", "2"])
        defer { p.stop() }
        let url = p.base + "/v2/models/digits-mlp/infer"
        let values = Array(runs.digits.prefix(4 * 64))
        let body = inferJSON(values, shape: [4, 64])
        let before = try await http("GET", p.base + "/v2/models/digits-mlp").json
        // Clients keep sending while the model is swapped (bounded: at most 3000 requests or 60 s).
        let stop = Flag()
        let answered = Counter()
        let load = Task { () -> [Int] in
            var statuses: [Int] = []
            let deadline = Date().addingTimeInterval(60)
            while !stop.value, statuses.count < 3000, Date() < deadline {
                statuses.append((try? await post(url, json: body).status) ?? -1)
                answered.increment()
            }
            return statuses
        }
        /// Waits until `n` more requests were answered (bounded by the load's own 60 s).
        func requestsAnswered(_ n: Int) async throws {
            let target = answered.value + n
            let deadline = Date().addingTimeInterval(60)
            while answered.value < target && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
        try await requestsAnswered(20)   // the old model is serving the load
        try copyRun(runs.cnn, to: dir)   // a different network (a CNN) under the same name
        p.signal(SIGHUP)
        var reloaded = false
        for _ in 0..<300 {
            let m = try await http("GET", p.base + "/metrics").text
            if m.contains(#"ember_model_loads_total{model="digits-mlp"} 2"#) { reloaded = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await requestsAnswered(20)   // the new model is serving the load
        stop.set()
        let statuses = await load.value
        #expect(reloaded, "log: \(p.logText)")
        #expect(statuses.count >= 40)
        #expect(statuses.allSatisfy { $0 == 200 }, "statuses other than 200: \(statuses.filter { $0 != 200 })")
        let after = try await http("GET", p.base + "/v2/models/digits-mlp").json
        #expect((before["parameters"] as? [String: Any])?["loaded_at"] != nil)
        let r = try await post(url, json: body)
        let probs = (r.json["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double] ?? []
        let cnn = try ServedModel(path: runs.cnn).predict(values, count: 4)
        #expect(probs.count == 40)
        for i in 0..<4 { for k in 0..<10 where probs.count == 40 { #expect(abs(probs[i * 10 + k] - cnn[i].probabilities[k]) < 1e-6) } }
        #expect(after["name"] as? String == "digits-mlp")
        #expect(((try? String(contentsOf: p.log, encoding: .utf8)) ?? "").contains("\"message\":\"model reloaded\""))
    }

    @Test(needs(wrkPath != nil, "wrk not found: install Debian's `wrk` package to run the load test"))
    func shortLoadGetsOnly2xxAndKeepsMemory() async throws {
        let wrk = try required(wrkPath, "wrk not found: install Debian's `wrk` package")
        let p = try ServeProcess([runs.mlp, "--log-level", "warning"])
        defer { p.stop() }
        let dir = serveTemp("wrk")
        let script = dir.appendingPathComponent("post.lua")
        let body = inferJSON(Array(runs.digits.prefix(64)), shape: [1, 64])
        try """
            wrk.method = "POST"
            wrk.body = '\(body)'
            wrk.headers["Content-Type"] = "application/json"
            """.write(to: script, atomically: true, encoding: .utf8)
        let url = p.base + "/v2/models/digits-mlp/infer"
        // Warm up, then measure resident memory before and after 3 s at 16 connections.
        _ = try await blocking { try runTool(wrk, ["-t1", "-c4", "-d1s", "-s", script.path, url], timeout: 60) }
        let rssBefore = p.rssKiB
        let run = try await blocking { try runTool(wrk, ["-t2", "-c16", "-d3s", "-s", script.path, url], timeout: 60) }
        let rssAfter = p.rssKiB
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("requests in"), "\(run.stdout)")
        #expect(!run.stdout.contains("Non-2xx"), "\(run.stdout)")
        #expect(!run.stdout.contains("Socket errors"), "\(run.stdout)")
        #expect(rssAfter < rssBefore + 256 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
        print("serve load test: \(run.stdout.split(separator: "\n").filter { $0.contains("Requests/sec") || $0.contains("requests in") }.joined(separator: "; ")); RSS \(rssBefore) -> \(rssAfter) KiB")
        let m = try await http("GET", p.base + "/metrics").text
        // No error answers; only 499 may appear: wrk hangs up when its time is over, and requests still queued
        // then are dropped uncomputed (their clients are gone; nobody receives the status).
        let errors = m.split(separator: "\n").filter { $0.hasPrefix("ember_requests_total{") && ($0.contains(#"status="5"#) || $0.contains(#"status="4"#)) && !$0.contains(#"status="499""#) }
        #expect(errors.isEmpty, "\(errors)")
    }
}

/// A count incremented in one task, read from another.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

/// A flag set once, read from another task.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = false
    func set() { lock.withLock { v = true } }
    var value: Bool { lock.withLock { v } }
}
