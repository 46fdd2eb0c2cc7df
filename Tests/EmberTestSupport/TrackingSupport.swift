// Shared by the test targets that check Ember's files with the real Python tools (test targets cannot import each
// other): the interpreter with the real `tensorboard` and `mlflow` packages, child processes in their own process
// group, and a real `mlflow server` on loopback.
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Python interpreter with `tensorboard` and `mlflow` installed (see scripts/test); tests that need it are
/// skipped when `EMBER_TRACK_PYTHON` is unset.
public let trackPython: String? = {
    guard let p = ProcessInfo.processInfo.environment["EMBER_TRACK_PYTHON"], !p.isEmpty else { return nil }
    return p
}()

public let skipMessage: Comment = "EMBER_TRACK_PYTHON is unset: set it to a Python with tensorboard==2.21.0 and mlflow==3.17.2 to run the real-reader tests"

public func tempDirectory(_ tag: String) -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-track-\(tag)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

public struct ChildFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Spawns `argv` in a new process group with stdout/stderr going to `log`; returns its pid (= process group id).
public func spawnGroup(_ argv: [String], environment: [String: String], log: URL) throws -> pid_t {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attr, 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in cArgs + cEnv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
    guard rc == 0 else { throw ChildFailure(description: "posix_spawn \(argv[0]) failed: \(String(cString: strerror(rc)))") }
    return pid
}

/// Ends the process group `pid` (one this test started): SIGTERM, then SIGKILL after `grace` seconds; reaps it.
public func stopGroup(_ pid: pid_t, grace: Double = 5) {
    kill(-pid, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    var status: Int32 = 0
    while Date() < deadline {
        if waitpid(pid, &status, WNOHANG) == pid {
            kill(-pid, SIGKILL)  // children that outlived the leader
            return
        }
        usleep(50_000)
    }
    kill(-pid, SIGKILL)
    _ = waitpid(pid, &status, 0)
}

/// Runs `python script args...` with a time limit; returns stdout, or throws with stderr when it fails.
public func runPython(_ script: String, _ args: [String], environment extra: [String: String] = [:], timeout: Double = 300) throws -> String {
    guard let python = trackPython else { throw ChildFailure(description: "EMBER_TRACK_PYTHON is unset") }
    let dir = tempDirectory("py")
    defer { try? FileManager.default.removeItem(at: dir) }
    let scriptURL = dir.appendingPathComponent("check.py"), outURL = dir.appendingPathComponent("out.txt")
    try script.write(to: scriptURL, atomically: true, encoding: .utf8)
    var env = ProcessInfo.processInfo.environment
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    env["OUT_PATH"] = outURL.path
    for (k, v) in extra { env[k] = v }
    let pid = try spawnGroup([python, scriptURL.path] + args, environment: env, log: dir.appendingPathComponent("log.txt"))
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    var exited = false
    while Date() < deadline {
        if waitpid(pid, &status, WNOHANG) == pid { exited = true; break }
        usleep(20_000)
    }
    if !exited { stopGroup(pid) }
    let log = (try? String(contentsOf: dir.appendingPathComponent("log.txt"), encoding: .utf8)) ?? ""
    guard exited, status == 0 else {
        throw ChildFailure(description: "python \(exited ? "exited with status \(status)" : "timed out after \(timeout) s"):\n\(log.suffix(4000))")
    }
    return (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
}

/// The JSON object a check script wrote to OUT_PATH.
public func runPythonJSON(_ script: String, _ args: [String], environment: [String: String] = [:], timeout: Double = 300) throws -> [String: Any] {
    let text = try runPython(script, args, environment: environment, timeout: timeout)
    guard let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw ChildFailure(description: "check script wrote no JSON object: \(text.prefix(500))")
    }
    return obj
}

/// A real `mlflow server` (sqlite backend, proxied artifacts) on a free loopback port, in its own process group.
/// It is also run under `timeout`, so that it cannot outlive a crashed test run by more than a few minutes.
public final class MLflowServer {
    public let pid: pid_t, port: Int, directory: URL, log: URL
    public var uri: String { "http://127.0.0.1:\(port)" }

    /// Starts a server. A port found free can be taken by another process before the server binds it: when the
    /// server exits during startup, it is started again on another port (three tries).
    public static func start(startupTimeout: Double = 240) throws -> MLflowServer {
        var lastError: Error? = nil
        for _ in 0..<3 {
            do {
                return try MLflowServer(port: try freePort(), startupTimeout: startupTimeout)
            } catch let e as ChildFailure where e.description.contains("exited during startup") {
                lastError = e
            }
        }
        throw lastError!
    }

    init(port: Int, startupTimeout: Double) throws {
        guard let python = trackPython else { throw ChildFailure(description: "EMBER_TRACK_PYTHON is unset") }
        directory = tempDirectory("mlflow-server")
        log = directory.appendingPathComponent("server.log")
        self.port = port
        var env = ProcessInfo.processInfo.environment
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  // no background job-runner processes
        env["PYTHONWARNINGS"] = "ignore"
        let timeoutTool = ["/usr/bin/timeout", "/bin/timeout"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let server = [python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1",
                      "--backend-store-uri", "sqlite:///" + directory.appendingPathComponent("mlflow.db").path,
                      "--serve-artifacts", "--artifacts-destination", directory.appendingPathComponent("artifacts").path]
        pid = try spawnGroup((timeoutTool.map { [$0, "-k", "5", "900"] } ?? []) + server, environment: env, log: log)
        let deadline = Date().addingTimeInterval(startupTimeout)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw ChildFailure(description: "mlflow server exited during startup:\n\(logTail())")
            }
            if healthy() { return }
            usleep(250_000)
        }
        stopGroup(pid)
        throw ChildFailure(description: "mlflow server did not answer within \(startupTimeout) s:\n\(logTail())")
    }

    public func logTail() -> String { String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(3000)) }

    public func healthy() -> Bool {
        guard let url = URL(string: uri + "/health") else { return false }
        final class Box: @unchecked Sendable { var ok = false }
        let box = Box(), done = DispatchSemaphore(value: 0)
        var req = URLRequest(url: url, timeoutInterval: 2)
        req.httpMethod = "GET"
        URLSession.shared.dataTask(with: req) { _, r, _ in
            box.ok = (r as? HTTPURLResponse)?.statusCode == 200
            done.signal()
        }.resume()
        return done.wait(timeout: .now() + 3) == .success && box.ok
    }

    public func stop() {
        stopGroup(pid)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ChildFailure(description: "socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw ChildFailure(description: "cannot bind a loopback port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
