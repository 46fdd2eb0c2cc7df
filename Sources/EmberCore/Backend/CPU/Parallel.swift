import Dispatch
import Foundation
import Synchronization

/// Threading settings for Ember's own kernels.
///
/// Ember splits work across its own threads; OpenBLAS runs single-threaded inside each piece of a split GEMM.
/// **Results never depend on the thread count**: every split (GEMM blocks, reduction blocks, convolution tasks) is a
/// function of the problem's shape alone, and with fewer threads the same pieces run in sequence. Same seed, same data,
/// same machine and kernel variant give the same bits with 1, 2, 3 or 4 threads.
public enum Threading {
    private static let count = Atomic<Int>(Threading.defaultCount())
    @TaskLocal static var scoped: Int? = nil

    static func defaultCount() -> Int {
        if let s = ProcessInfo.processInfo.environment["EMBER_NUM_THREADS"], let n = Int(s), n > 0 { return min(n, 256) }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Number of threads Ember's kernels split work across: the innermost `withThreads` scope's value, else the
    /// process-wide setting (from `EMBER_NUM_THREADS`, default: the processor count). Setting it changes the
    /// process-wide value; prefer `withThreads` in code that runs alongside other work (tests, servers).
    public static var threads: Int {
        get { scoped ?? count.load(ordering: .relaxed) }
        set { count.store(min(max(1, newValue), 256), ordering: .relaxed) }
    }

    /// Runs `body` with Ember's kernels using `n` threads, for this task (and code it calls synchronously) only.
    @discardableResult
    public static func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(min(max(1, n), 256)) { try body() }
    }

    /// Async variant of `withThreads(_:_:)`.
    @discardableResult
    public static func withThreads<R>(_ n: Int, _ body: () async throws -> R) async rethrows -> R {
        try await $scoped.withValue(min(max(1, n), 256)) { try await body() }
    }
}

extension Threading {
    private static let split = Atomic<Bool>(ProcessInfo.processInfo.environment["EMBER_GEMM_SPLIT"] != "0")

    /// Whether large GEMMs are split into shape-determined blocks run on Ember's threads, each a single-threaded
    /// OpenBLAS call (default). Off (`EMBER_GEMM_SPLIT=0`, with `EMBER_BLAS_THREADS=N`), OpenBLAS threads GEMMs
    /// itself: for comparison only, as its results then depend on its thread count.
    public static var splitGEMM: Bool {
        get { split.load(ordering: .relaxed) }
        set { split.store(newValue, ordering: .relaxed) }
    }
}

extension Threading {
    /// Ember's spinning worker pool (default) or GCD's concurrentPerform (EMBER_POOL=0).
    static let usePool = ProcessInfo.processInfo.environment["EMBER_POOL"] != "0"
}

struct UncheckedSendable<T>: @unchecked Sendable { let value: T }

/// Runs body(i) for every i in [0, n) on up to `Threading.threads` threads, each taking the next index as it comes
/// free: a core that runs slower (a busy neighbour on a shared host) takes fewer tasks instead of holding the others at
/// the join. Only for independent tasks whose results do not depend on which thread runs them (blocks of a GEMM).
func parallelForEach(_ n: Int, _ body: (Int) -> Void) {
    let workers = min(Threading.threads, n)
    if workers <= 1 {
        for i in 0..<n { body(i) }
        return
    }
    let next = Atomic<Int>(0)
    parallelFor(workers, grain: 1) { s, e in
        for _ in s..<e {
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= n { break }
                body(i)
            }
        }
    }
}

/// Runs body(start, end) over [0, n) in up to `Threading.threads` contiguous chunks of at least `grain` items.
///
/// Only for work whose result does not depend on how [0, n) is cut (elementwise work, independent rows or tasks).
/// Work that combines values across items (sums) must cut it by shape first and give each piece to `parallelFor`
/// with `grain: 1` (see `CPUBackend.gemm` and `reduce`).
@inline(__always)
func parallelFor(_ n: Int, grain: Int, _ body: (Int, Int) -> Void) {
    let chunks = min(Threading.threads, n / max(grain, 1))
    if chunks <= 1 {
        if n > 0 { body(0, n) }
        return
    }
    if Threading.usePool && WorkerPool.shared.run(chunks, { c in body(n * c / chunks, n * (c + 1) / chunks) }) { return }
    withoutActuallyEscaping(body) { b in
        let box = UncheckedSendable(value: b)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            box.value(n * c / chunks, n * (c + 1) / chunks)
        }
    }
}
