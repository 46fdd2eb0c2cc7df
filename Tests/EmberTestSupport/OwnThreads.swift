import Foundation

/// Runs `body` on a new thread of its own, never on a Dispatch worker or the Swift concurrency pool.
///
/// For work that blocks (waiting on a child process, reading a pipe to its end): on Linux, Dispatch's global
/// concurrent queues and the cooperative pool each have about one thread per core, so on a 2-core machine two
/// such waits elsewhere in the test process could stall everything else queued there, in-process servers included.
public func onOwnThread(_ body: @escaping @Sendable () -> Void) {
    let t = Thread { body() }
    t.stackSize = 1 << 22
    t.start()
}

/// Runs blocking `body` on a thread of its own and awaits its result without holding a pool thread meanwhile.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        onOwnThread { c.resume(with: Result { try body() }) }
    }
}

/// A task executor with threads of its own (default 4): tasks that prefer it (`Task(executorPreference:)`,
/// `withTaskExecutorPreference`) and their child tasks keep running however busy the cooperative pool and
/// Dispatch's workers are with other tests' synchronous work.
public final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    /// The shared instance the test targets use.
    public static let shared = DedicatedExecutor(threads: 4)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    public init(threads: Int) {
        for _ in 0..<threads { onOwnThread { [unowned self] in self.work() } }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
