import Foundation
import Synchronization

/// A small pool of worker threads that spin briefly between jobs, then sleep.
///
/// Kernels here last tens to hundreds of microseconds; waking a sleeping thread (GCD's `concurrentPerform` on
/// Linux) costs about as much, which erased the gain of splitting them. Like OpenMP runtimes, workers spin for a
/// short while after each job so the next one starts within a microsecond, and block on a condition variable when
/// the process goes quiet. Chunk c of a job always runs the same slice of work: results never depend on which
/// thread ran it. A job submitted while another runs (nested or concurrent callers) runs on the caller alone.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Swift.max(0, Threading.defaultCount() - 1))

    let workers: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var job: ((Int) -> Void)?
    private var chunks = 0
    /// Spin iterations before a worker sleeps (~tens of microseconds).
    private let spinLimit = 20_000

    init(workers: Int) {
        self.workers = workers
        for w in 0..<workers {
            let t = Thread { [unowned self] in self.workerLoop(index: w + 1) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var g = generation.load(ordering: .acquiring)
            while g == seen {
                spins += 1
                if spins > spinLimit {
                    condition.lock()
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    condition.unlock()
                    spins = 0
                }
                g = generation.load(ordering: .acquiring)
            }
            seen = g
            if index < chunks, let job { job(index) }
            remaining.subtract(1, ordering: .acquiringAndReleasing)
        }
    }

    /// Runs body(0..<count) with chunk 0 on the caller and the rest on workers; returns when all are done.
    /// Returns false (running nothing) when the pool cannot take the job: too many chunks, or already busy.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard count - 1 <= workers, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        withoutActuallyEscaping(body) { b in
            job = b
            chunks = count
            remaining.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            condition.lock()
            condition.broadcast()
            condition.unlock()
            b(0)
            while remaining.load(ordering: .acquiring) > 0 { }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }
}
