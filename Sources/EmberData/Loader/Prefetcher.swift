import Foundation

/// Produces the batches of one epoch on background threads, ahead of the consumer, and hands them out in order.
///
/// Batch `i` is a pure function of `i` (the loader derives its examples and random streams from the epoch plan), so
/// workers may finish out of order: results wait in a small reorder buffer until their turn. At most `depth`
/// batches are claimed beyond the last one handed out, which bounds memory. Cancelling (when the consumer stops
/// iterating early) lets the workers exit after their current batch.
final class Prefetcher<Batch: Sendable>: @unchecked Sendable {
    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var ready: [Int: Batch] = [:]
    private var claimed = 0
    private var delivered = 0
    private var cancelled = false

    private let total: Int
    private let depth: Int
    private let produce: @Sendable (Int) -> Batch

    /// Starts `workers` threads producing batches `0 ..< total` with `produce`, at most `depth` ahead.
    init(total: Int, workers: Int, depth: Int, produce: @escaping @Sendable (Int) -> Batch) {
        precondition(workers >= 1 && depth >= 1, "Prefetcher: workers and depth must be at least 1")
        self.total = total
        self.depth = depth
        self.produce = produce
        for _ in 0..<Swift.min(workers, total) {
            Thread { [self] in self.work() }.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !cancelled && claimed < total && claimed >= delivered + depth { condition.wait() }
            if cancelled || claimed >= total {
                condition.unlock()
                return
            }
            let i = claimed
            claimed += 1
            condition.unlock()

            let batch = produce(i)

            condition.lock()
            if !cancelled { ready[i] = batch }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next batch in order (waiting for it if needed), or nil after the last.
    func next() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard delivered < total else { return nil }
        while ready[delivered] == nil { condition.wait() }
        let batch = ready.removeValue(forKey: delivered)
        delivered += 1
        condition.broadcast()
        return batch
    }

    /// Stops the workers after their current batch and drops anything produced.
    func cancel() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// One pass over an epoch's batches: on the caller's thread (no workers) or through a `Prefetcher`.
/// Dropping it (for example by leaving a `for` loop early) cancels its workers.
final class EpochRun<Batch: Sendable> {
    private let prefetcher: Prefetcher<Batch>?
    private let produce: @Sendable (Int) -> Batch
    private let total: Int
    private var index = 0

    init(total: Int, workers: Int, depth: Int, produce: @escaping @Sendable (Int) -> Batch) {
        self.total = total
        self.produce = produce
        prefetcher = workers > 0 && total > 0 ? Prefetcher(total: total, workers: workers, depth: depth, produce: produce) : nil
    }

    deinit { prefetcher?.cancel() }

    func next() -> Batch? {
        if let prefetcher { return prefetcher.next() }
        guard index < total else { return nil }
        defer { index += 1 }
        return produce(index)
    }
}
