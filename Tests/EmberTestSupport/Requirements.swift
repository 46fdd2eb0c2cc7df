// Tests that need something outside Swift (a Python with the real readers, Chromium, a dataset package, the built
// `ember` binary): locally a missing piece is a visible skip naming how to get it; in CI (`CI=true`) the test runs
// anyway and fails on the missing piece, so a CI run can never pass by skipping what it was meant to check.
import Foundation
import Testing

/// Whether this run is CI (`CI` is set to `true` or `1`, as .ci/run's environment does).
public let runningInCI: Bool = {
    let v = ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? ""
    return v == "true" || v == "1"
}()

/// A trait for a test that needs an external tool or dataset: skipped with `message` when it is missing (locally),
/// run regardless in CI, where `required(_:_:)` then fails it.
public func needs(_ available: Bool, _ message: Comment) -> ConditionTrait {
    .enabled(if: available || runningInCI, message)
}

/// A missing tool or dataset in a test.
public struct MissingRequirement: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `value`, or a thrown `MissingRequirement` with `message` (which says how to install the missing piece).
public func required<T>(_ value: T?, _ message: String) throws -> T {
    guard let value else { throw MissingRequirement(message) }
    return value
}

/// Throws `MissingRequirement(message)` unless `condition` holds.
public func require(_ condition: Bool, _ message: String) throws {
    if !condition { throw MissingRequirement(message) }
}

/// The result of `runTool`.
public struct ToolRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs an outside program to completion with a deadline: past `timeout` seconds it is killed and this throws,
/// naming the program (a hung browser or interpreter fails the test instead of hanging the suite). The deadline is
/// generous (a loaded 2-core machine); the tests never check how long anything took.
public func runTool(_ executable: String, _ arguments: [String], timeout: Double = 300,
                    environment: [String: String]? = nil, currentDirectory: URL? = nil) throws -> ToolRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    if let currentDirectory { p.currentDirectoryURL = currentDirectory }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let killed = Killed()
    let pid = p.processIdentifier
    let timer = DispatchWorkItem {
        killed.set()
        kill(pid, SIGKILL)
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
    // Read both pipes concurrently: a child that fills one pipe while we wait on the other would deadlock.
    // The stderr reader blocks for the child's whole life, so it gets a thread of its own (see `onOwnThread`).
    let errData = LockedData()
    let done = DispatchSemaphore(value: 0)
    onOwnThread { errData.set(err.fileHandleForReading.readDataToEndOfFile()); done.signal() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    p.waitUntilExit()
    timer.cancel()
    if killed.value {
        throw MissingRequirement("\(executable) did not finish within \(Int(timeout)) s and was killed")
    }
    return ToolRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: errData.value, as: UTF8.self))
}

private final class Killed: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// Checks that a child process stopped by an exit test (`#expect(processExitsWith: .failure, observing:
/// [\.standardErrorContent])`) printed `message`: precondition failures must name the op and what was wrong.
public func expectMessage(_ result: ExitTest.Result?, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let result else { return }
    let text = String(decoding: result.standardErrorContent, as: UTF8.self)
    #expect(text.contains(message), "stderr was: \(text)", sourceLocation: sourceLocation)
}

/// SplitMix64: a small seeded generator for test data and mutations, independent of Ember's own RNG (the same values
/// on every machine).
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(_ seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n (0 when n <= 0).
    public mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / 9_007_199_254_740_992.0
    }
}

/// Seeded mutations of parser inputs (SplitMix64: the same mutations on every machine).
public struct Mutator {
    public var rng: SplitMix64
    public init(state: UInt64) { rng = SplitMix64(state) }
    public mutating func next() -> UInt64 { rng.next() }
    public mutating func below(_ n: Int) -> Int { rng.below(n) }

    /// Tokens that tend to reach edge cases in the parsers.
    public static let tokens: [String] = ["\0", "\"", "'", ",", "\n", "\r\n", "-", "9223372036854775807", "-1", "0", "1e308", "nan", "inf",
                                   "[", "]", "{", "}", ": ", "- ", "&a ", "*a", "!!binary", "#", "\u{FEFF}", "\u{7F}", "18446744073709551616",
                                   "4294967295", "65536", "2.5", "null", "true", "\"type\": \"x\"", "-0", "1e-400", "}}}}", "[[[["]

    /// `input` with 1 to 4 random edits: flipped bytes, inserted tokens, deleted or duplicated ranges, truncation.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0...below(4) {
            let at = below(b.count + 1)
            switch below(6) {
            case 0: if !b.isEmpty { b[Swift.min(at, b.count - 1)] ^= UInt8(1 << below(8)) }
            case 1: b.insert(contentsOf: Array(Self.tokens[below(Self.tokens.count)].utf8), at: at)
            case 2: b.removeSubrange(at..<Swift.min(b.count, at + below(16) + 1))
            case 3: let end = Swift.min(b.count, at + below(64)); b.insert(contentsOf: b[at..<end], at: at)
            case 4: b = Array(b.prefix(at))
            default: if !b.isEmpty { b[Swift.min(at, b.count - 1)] = UInt8(truncatingIfNeeded: next()) }
            }
        }
        return b
    }
}

/// The headless browser the page and report tests drive: $CHROMIUM, else `chromium` (Debian package "chromium"),
/// `chromium-browser` or `google-chrome` on the PATH.
public let chromiumPath: String? = {
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["CHROMIUM"] { candidates.append(env) }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        for name in ["chromium", "chromium-browser", "google-chrome"] { candidates.append("\(dir)/\(name)") }
    }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()
