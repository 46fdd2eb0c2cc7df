import ArgumentParser
import CBLAS
import Ember
import Foundation
import Synchronization

/// `ember bench`: speed of the core kernels, as a table or JSON lines.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Ember's kernels and workloads (build with -c release for meaningful numbers).",
        discussion: "Prints a table, or with --json one object per line: {\"workload\": NAME, \"value\": X, \"unit\": U, ...}.")

    @Flag(name: .long, help: "Print one JSON object per workload instead of a table.")
    var json = false

    @Option(name: .long, help: "Comma-separated workload names to run (default: all).")
    var only: String?

    @Option(name: .long, help: "Threads for Ember kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Threads inside each OpenBLAS call (default 1: Ember splits GEMMs across its own threads).")
    var blasThreads: Int?

    @Option(name: .long, help: "Seconds to spend timing each workload.")
    var seconds: Double = 1.0

    @Option(name: .long, help: "Run exactly this many timed calls per workload (for instruction/cycle counting with perf stat).")
    var steps: Int?

    func validate() throws {
        for (name, v) in [("threads", threads), ("blas-threads", blasThreads), ("steps", steps)] {
            if let v, !(1...4096).contains(v) { throw ValidationError("--\(name) must be an integer in 1...4096, got \(v)") }
        }
        guard seconds > 0 && seconds.isFinite else { throw ValidationError("--seconds must be a positive number, got \(seconds)") }
    }

    func run() throws {
        if let steps { fixedSteps.withLock { $0 = steps } }
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        Threading.threads = n
        _ = CPUBackend.shared
        BLAS.setThreads(blasThreads ?? 1)
        let wanted = only.map { Set($0.split(separator: ",").map(String.init)) }
        var results: [BenchResult] = []
        for w in coreWorkloads(seconds: seconds, threads: n) + trainingWorkloads(seconds: seconds, threads: n)
            + embeddingWorkloads(seconds: seconds, threads: n) where wanted == nil || wanted!.contains(w.name) {
            let r = w.run()
            results.append(r)
            if json { print(r.jsonLine) }
        }
        if let wanted {
            let known = Set((coreWorkloads(seconds: seconds, threads: n) + trainingWorkloads(seconds: seconds, threads: n)
            + embeddingWorkloads(seconds: seconds, threads: n)).map(\.name))
            let unknown = wanted.subtracting(known)
            if !unknown.isEmpty {
                throw ValidationError("unknown workload(s): \(unknown.sorted().joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))")
            }
        }
        if !json { printTable(results) }
    }

    func printTable(_ results: [BenchResult]) {
        let w = max(24, (results.map(\.name.count).max() ?? 0) + 2)
        print("workload".padding(toLength: w, withPad: " ", startingAt: 0) + "value".leftPad(12) + "  unit       notes")
        for r in results {
            let notes = r.extra.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            print(r.name.padding(toLength: w, withPad: " ", startingAt: 0) + String(format: "%12.2f", r.value) + "  "
                  + r.unit.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + notes)
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// One measured figure.
struct BenchResult {
    var name: String
    var value: Double
    var unit: String
    var extra: [String: String] = [:]

    var jsonLine: String {
        var fields = ["\"workload\": \"\(name)\"", "\"value\": \(String(format: "%.4f", value))", "\"unit\": \"\(unit)\""]
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) {
            fields.append("\"\(k)\": \(Double(v) != nil ? v : "\"\(v)\"")")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}

struct Workload {
    var name: String
    var run: () -> BenchResult
}

/// Times `body`: warm-up, then runs of about `seconds / 5` each; returns the median seconds per call.
/// When set (`--steps`), `timeMedian` runs exactly this many calls after one warm-up call.
let fixedSteps = Mutex<Int?>(nil)

func timeMedian(seconds: Double, _ body: () -> Void) -> Double {
    if let steps = fixedSteps.withLock({ $0 }) {
        body()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { body() }
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(max(steps, 1))
    }
    for _ in 0..<3 { body() }
    let probeStart = DispatchTime.now().uptimeNanoseconds
    body()
    let once = max(1e-7, Double(DispatchTime.now().uptimeNanoseconds - probeStart) / 1e9)
    let reps = max(1, Int(seconds / 5 / once))
    var samples: [Double] = []
    for _ in 0..<5 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<reps { body() }
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(reps))
    }
    return samples.sorted()[samples.count / 2]
}

func coreWorkloads(seconds: Double, threads: Int) -> [Workload] {
    var ws: [Workload] = []
    for n in [1024, 2048] {
        ws.append(Workload(name: "gemm_\(n)") {
            var rng = RandomState(seed: 1)
            let a = Tensor.normal([n, n], rng: &rng), b = Tensor.normal([n, n], rng: &rng)
            let flops = 2.0 * Double(n * n * n)
            let t = timeMedian(seconds: seconds) { _ = matmul(a, b) }
            // The same GEMM called on OpenBLAS directly with its own threads (both cores), into one reused
            // buffer, for the ratio.
            let c = Tensor.zeros([n, n])
            let blasBefore = BLAS.threads
            BLAS.setThreads(threads)
            defer { BLAS.setThreads(blasBefore) }
            let tDirect = timeMedian(seconds: seconds) {
                a.withUnsafeBufferPointer(as: Float.self) { pa in
                    b.withUnsafeBufferPointer(as: Float.self) { pb in
                        c.withUnsafeMutableBufferPointer(as: Float.self) { pc in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                                        pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                        }
                    }
                }
            }
            return BenchResult(name: "gemm_\(n)", value: flops / t / 1e9, unit: "GFLOP/s",
                               extra: ["openblas_direct": String(format: "%.1f", flops / tDirect / 1e9),
                                       "ratio_to_openblas": String(format: "%.3f", tDirect / t), "threads": "\(threads)"])
        })
    }
    ws.append(Workload(name: "add_16m") {
        var rng = RandomState(seed: 2)
        let n = 16 << 20
        let a = Tensor.normal([n], rng: &rng), b = Tensor.normal([n], rng: &rng)
        let t = timeMedian(seconds: seconds) { _ = a + b }
        return BenchResult(name: "add_16m", value: Double(3 * n * 4) / t / 1e9, unit: "GB/s",
                           extra: ["ms": String(format: "%.3f", t * 1e3), "threads": "\(threads)"])
    })
    ws.append(Workload(name: "softmax_4096x1024") {
        var rng = RandomState(seed: 3)
        let x = Tensor.normal([4096, 1024], rng: &rng)
        let t = timeMedian(seconds: seconds) { _ = x.softmax(axis: -1) }
        return BenchResult(name: "softmax_4096x1024", value: Double(2 * x.count * 4) / t / 1e9, unit: "GB/s",
                           extra: ["ms": String(format: "%.3f", t * 1e3), "threads": "\(threads)"])
    })
    ws.append(Workload(name: "attention_gpt") {
        // gpt_train's attention alone: causal scaled-dot-product attention over [16, 4, 128, 32], forward + backward.
        var rng = RandomState(seed: 6)
        let q = Tensor.normal([16, 4, 128, 32], rng: &rng), k = Tensor.normal([16, 4, 128, 32], rng: &rng)
        let v = Tensor.normal([16, 4, 128, 32], rng: &rng), g = Tensor.normal([16, 4, 128, 32], rng: &rng)
        for t in [q, k, v] { t.requiresGrad = true }
        let t = timeMedian(seconds: seconds) {
            _ = gradients(of: (scaledDotProductAttention(q, k, v, causal: true) * g).sum(), wrt: [q, k, v])
        }
        // FLOPs of the causal half (the two forward and four backward products over T*(T+1)/2 scores).
        let flops = 6.0 * 2.0 * 16 * 4 * 32 * Double(128 * 129 / 2)
        return BenchResult(name: "attention_gpt", value: t * 1e3, unit: "ms",
                           extra: ["causal_gflops": String(format: "%.1f", flops / t / 1e9), "threads": "\(threads)"])
    })
    ws.append(Workload(name: "conv2d_lenet") {
        var rng = RandomState(seed: 4)
        let x = Tensor.normal([32, 1, 28, 28], rng: &rng)
        let w = Tensor.normal([32, 1, 3, 3], std: 0.3, rng: &rng), b = Tensor.zeros([32])
        w.requiresGrad = true
        b.requiresGrad = true
        let t = timeMedian(seconds: seconds) {
            let y = conv2d(x, w, b)
            y.sum().backward()
            w.grad = nil
            b.grad = nil
        }
        return BenchResult(name: "conv2d_lenet", value: t * 1e3, unit: "ms",
                           extra: ["threads": "\(threads)", "shape": "32x1x28x28->32x26x26"])
    })
    ws.append(Workload(name: "tape_memory") {
        // 2,000 forward+backward steps of a small MLP: resident memory should stay flat.
        var rng = RandomState(seed: 5)
        let w1 = Tensor.normal([256, 784], std: 0.05, rng: &rng), w2 = Tensor.normal([10, 256], std: 0.05, rng: &rng)
        w1.requiresGrad = true
        w2.requiresGrad = true
        let x = Tensor.normal([64, 784], rng: &rng)
        func step() {
            let loss = linear(linear(x, w1).relu(), w2).logSoftmax(axis: -1).mean()
            loss.backward()
            w1.grad = nil
            w2.grad = nil
        }
        for _ in 0..<200 { step() }
        let before = residentMemoryBytes()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<2000 { step() }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / 2000
        let after = residentMemoryBytes()
        return BenchResult(name: "tape_memory", value: Double(after - before) / 1e6, unit: "MB_growth",
                           extra: ["rss_mb": String(format: "%.1f", Double(after) / 1e6), "steps": "2000",
                                   "ms_per_step": String(format: "%.3f", ms)])
    })
    return ws
}
