import Dispatch
import Foundation
import Synchronization

/// Threading settings for Ember's own kernels (OpenBLAS keeps its own pool; see `setBLASThreads`).
public enum Threading {
    private static let count = Atomic<Int>(Threading.defaultCount())

    static func defaultCount() -> Int {
        if let s = ProcessInfo.processInfo.environment["EMBER_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Number of threads Ember's elementwise, reduction and conv kernels split work across.
    /// Results are bit-identical for every value: work is split, never reordered.
    public static var threads: Int {
        get { count.load(ordering: .relaxed) }
        set { count.store(max(1, newValue), ordering: .relaxed) }
    }
}

extension Threading {
    private static let split = Atomic<Bool>(ProcessInfo.processInfo.environment["EMBER_GEMM_SPLIT"] != "0")

    /// Whether large GEMMs are split across Ember's threads (default) rather than left to OpenBLAS's own threads
    /// (set EMBER_GEMM_SPLIT=0 and EMBER_BLAS_THREADS=2 to compare).
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

/// Runs body(start, end) over [0, n) in up to `Threading.threads` contiguous chunks of at least `grain` items.
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
