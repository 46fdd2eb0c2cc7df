import Foundation
import Testing
import EmberTestSupport
import EmberCLI
@testable import EmberServe
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A fresh temporary directory.
func serveTemp(_ tag: String) -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-serve-\(tag)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// Copies a run's model files into `dir` (made when missing), each renamed into place, so that a server reloading
/// `dir` never reads half a file; the test may then copy another run over them.
func copyRun(_ run: String, to dir: URL) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for f in [SavedModel.modelFile, SavedModel.jsonFile] {
        let tmp = dir.appendingPathComponent(".\(f).tmp")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: run).appendingPathComponent(f), to: tmp)
        _ = rename(tmp.path, dir.appendingPathComponent(f).path)
    }
}

/// Trained runs the tests serve, made once per test process: the default digits CNN (1 epoch), a digits MLP, and a
/// small CNN on 8-bit 8x8 images (IDX files, so its input is UINT8).
struct Runs: Sendable {
    let root: URL
    let cnn: String, mlp: String, bytes: String
    /// Raw test inputs: 64 digits examples (0...16) and 64 byte images (0...255), row-major.
    let digits: [Float], images: [UInt8]

    static let shared: Runs = try! make()

    static func make() throws -> Runs {
        let root = serveTemp("runs")
        func train(_ config: String?, _ name: String, _ overrides: [String] = []) throws -> String {
            var o = TrainOptions()
            o.configPath = config
            o.runDirectory = root.appendingPathComponent(name).path
            o.overrides = ["outputs.name=\(name)", "training.epochs=1"] + overrides
            o.quiet = true
            _ = try TrainRunner.run(o, console: CapturedConsole().console)
            return o.runDirectory!
        }
        func write(_ text: String, _ file: String) throws -> String {
            let u = root.appendingPathComponent(file)
            try text.write(to: u, atomically: true, encoding: .utf8)
            return u.path
        }
        let cnn = try train(nil, "digits-cnn")
        let mlp = try train(try write("""
            data: {dataset: digits, scale: 0.0625, split: {test: 0.2, validation: 0.1}}
            model: {preset: mlp, options: {hidden: [32]}}
            training: {optimizer: {name: adam, lr: 0.01}, batch_size: 64, epochs: 1, seed: 5}
            """, "mlp.yaml"), "digits-mlp")
        // Byte images: class 0 bright top half, class 1 bright bottom half.
        var rng = SplitMix64(4)
        func images(_ n: Int) -> ([UInt8], [UInt8]) {
            var px: [UInt8] = [], labels: [UInt8] = []
            for i in 0..<n {
                let c = i % 2
                labels.append(UInt8(c))
                for y in 0..<8 { for _ in 0..<8 { px.append(UInt8((y < 4) == (c == 0) ? 180 + rng.below(70) : rng.below(60))) } }
            }
            return (px, labels)
        }
        func idx(_ values: [UInt8], _ shape: [Int], _ name: String) throws -> String {
            var b: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
            for d in shape { b += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
            let u = root.appendingPathComponent(name)
            try Data(b + values).write(to: u)
            return u.path
        }
        let (trX, trY) = images(96), (teX, _) = images(64)
        let xi = try idx(trX, [96, 8, 8], "tr-images-idx3-ubyte"), yi = try idx(trY, [96], "tr-labels-idx1-ubyte")
        _ = try idx(teX, [64, 8, 8], "te-images-idx3-ubyte")
        let bytes = try train(try write("""
            data: {train: {inputs: \(xi), targets: \(yi)}, split: {test: 0.25, validation: 0}}
            model: {layers: [{conv2d: {out: 4, kernel: 3, padding: same}}, relu, {maxpool2d: 2}, flatten, {linear: 2}]}
            training: {optimizer: {name: adam, lr: 0.02}, batch_size: 16, epochs: 3, seed: 0}
            """, "bytes.yaml"), "bytes", ["training.epochs=3"])
        let all = try Datasets.digits()
        let digits = all.inputs.slice(axis: 0, start: 0, end: 64).contiguous().cast(.float32).toArray(Float.self)
        return Runs(root: root, cnn: cnn, mlp: mlp, bytes: bytes, digits: digits, images: teX)
    }

    /// The first `n` digits examples as a CSV (no header) written to a file, for `ember predict`.
    func digitsCSV(_ n: Int) throws -> String {
        let u = root.appendingPathComponent("digits-\(n)-\(UUID().uuidString.prefix(6)).csv")
        let header = (0..<64).map { "pixel_\($0 / 8)_\($0 % 8)" }.joined(separator: ",")
        let rows = (0..<n).map { i in digits[(i * 64)..<((i + 1) * 64)].map { String(Int($0)) }.joined(separator: ",") }
        try ([header] + rows).joined(separator: "\n").appending("\n").write(to: u, atomically: true, encoding: .utf8)
        return u.path
    }
}

/// What `ember predict` answers for a file (its own code path, in-process).
func emberPredict(_ run: String, _ input: String) throws -> [Prediction] {
    try PredictRunner.run(PredictOptions(model: run, input: input), console: CapturedConsole().console)
}

/// An `ember serve` server running in this process on a free loopback port. Its tasks (and Hummingbird's
/// per-connection tasks, which inherit the preference) run on `DedicatedExecutor`'s threads: the test process's
/// cooperative pool has one thread per core, and other tests' long synchronous work could hold all of them for
/// minutes, so that a server there answered its first request after the client's 60 s timeout.
final class LiveServer: @unchecked Sendable {
    let server: EmberServer
    let port: Int
    private let task: Task<Void, any Error>
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ paths: [String], configure: (inout ServeConfiguration) -> Void = { _ in }) async throws {
        var c = ServeConfiguration(modelPaths: paths)
        c.port = 0
        configure(&c)
        let server = try EmberServer(configuration: c)
        self.server = server
        let (stream, cont) = AsyncStream<Int>.makeStream()
        task = Task(executorPreference: DedicatedExecutor.shared) { try await server.run { port in cont.yield(port); cont.finish() } }
        var it = stream.makeAsyncIterator()
        port = await it.next() ?? 0
    }

    /// Graceful shutdown (as SIGTERM), then waits for `run` to return.
    func stop() async {
        await server.shutdown()
        _ = try? await task.value
    }
}

/// A plain HTTP exchange with URLSession.
struct HTTPResult: Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
}

/// A URLSession that opens up to 64 connections to one host (the shared one stops at 6, which would serialise the
/// batching test's concurrent requests).
let wideSession: URLSession = {
    let c = URLSessionConfiguration.default
    c.httpMaximumConnectionsPerHost = 64
    return URLSession(configuration: c)
}()

func http(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:], timeout: Double = 60) async throws -> HTTPResult {
    var r = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
    r.httpMethod = method
    r.httpBody = body
    for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
    let (data, response) = try await wideSession.data(for: r)
    let h = response as! HTTPURLResponse
    var headers: [String: String] = [:]
    for (k, v) in h.allHeaderFields { headers["\(k)"] = "\(v)" }
    return HTTPResult(status: h.statusCode, headers: headers, body: data)
}

func post(_ url: String, json: String, headers: [String: String] = [:], timeout: Double = 60) async throws -> HTTPResult {
    try await http("POST", url, body: Data(json.utf8), headers: ["Content-Type": "application/json"].merging(headers) { $1 },
                   timeout: timeout)
}

/// A KServe v2 JSON inference request for one input.
func inferJSON(_ values: [Float], shape: [Int], datatype: String = "FP32") -> String {
    let data = values.map { $0 == $0.rounded() ? String(Int($0)) : "\($0)" }.joined(separator: ",")
    return #"{"inputs":[{"name":"input","shape":\#(shape),"datatype":"\#(datatype)","data":[\#(data)]}]}"#
}

/// The built `ember` executable, next to the test bundle (`swift build --build-tests` builds both).
let emberBinary: URL? = {
    let dir = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).deletingLastPathComponent()
    let candidates = [dir.appendingPathComponent("ember"), dir.deletingLastPathComponent().appendingPathComponent("ember")]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// `ember serve` as a child process in its own process group, on a port it chose (`--port 0`, read from its stdout).
final class ServeProcess: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    let log: URL, out: URL
    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts `ember serve` with `args`; `environment` adds variables to this process's environment.
    init(_ args: [String], environment extra: [String: String] = [:]) throws {
        let binary = try required(emberBinary, "the ember executable is not built next to the test bundle (`swift build --build-tests`)")
        let dir = serveTemp("proc")
        log = dir.appendingPathComponent("stderr.log")
        out = dir.appendingPathComponent("stdout.log")
        // stdout to a file of its own: spawnGroup sends both streams to one log, so wrap in sh to split them.
        let cmd = ([binary.path, "serve", "--host", "127.0.0.1", "--port", "0"] + args).map { "'\($0)'" }.joined(separator: " ")
        pid = try spawnGroup(["/bin/sh", "-c", "exec \(cmd) > '\(out.path)'"], environment: ProcessInfo.processInfo.environment.merging(extra) { $1 }, log: log)
        let logURL = log
        func logText() -> String { String(((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").suffix(4000)) }
        let deadline = Date().addingTimeInterval(120)
        var found = 0
        while Date() < deadline {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if let r = text.range(of: "http://127.0.0.1:") {
                found = Int(text[r.upperBound...].prefix { $0.isNumber }) ?? 0
                if found > 0 { break }
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw ChildFailure(description: "ember serve exited at startup: \(logText())")
            }
            usleep(50_000)
        }
        guard found > 0 else { stopGroup(pid); throw ChildFailure(description: "ember serve did not start: \(logText())") }
        port = found
    }

    var logText: String { String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(4000)) }

    /// Resident memory in KiB (VmRSS).
    var rssKiB: Int {
        let s = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for the process to exit; its exit status, or nil if it did not exit within `timeout` (then it is killed).
    func wait(timeout: Double = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                kill(-pid, SIGKILL)
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            usleep(20_000)
        }
        stopGroup(pid, grace: 1)
        return nil
    }

    func stop() { stopGroup(pid) }
}


/// A bare HTTP/1.1 client over a POSIX socket, for a client that sends a request and hangs up without reading.
final class RawHTTPClient: @unchecked Sendable {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChildFailure(description: "socket() failed: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { Glibc.close(fd); throw ChildFailure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)") }
    }

    /// Sends one request with a JSON body.
    func send(_ method: String, _ path: String, body: String) throws {
        let bytes = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ChildFailure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Sends bytes as they are (several requests at once: HTTP pipelining).
    func sendRaw(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ChildFailure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Reads until the server closes the connection (at most `timeout` seconds per read).
    func readToEnd(timeout: Int = 60) throws -> [UInt8] {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            guard n > 0 else { throw ChildFailure(description: "recv failed: errno \(errno) after \(out.count) bytes") }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Closes the connection without reading the answer.
    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit { close() }
}
