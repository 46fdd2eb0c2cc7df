import EmberCLI
import Foundation

/// Dynamic batching settings.
public struct BatchingOptions: Sendable, Equatable {
    /// The most examples run together in one forward pass (a single larger request still runs, alone).
    public var maxBatch = 64
    /// How long the first queued request waits for others before its batch runs.
    public var maxDelay: Double = 0.005
    /// The most requests waiting per model; past it requests get 429 with `Retry-After`.
    public var maxQueue = 256
    /// How long a request may wait for its answer (queue plus inference) before it gets 504.
    public var requestTimeout: Double = 30

    /// The defaults: batches of up to 64, 5 ms delay, 256 queued requests, 30 s timeout.
    public init() {}
}

/// Observes batches, for metrics and logs.
public protocol BatchObserver: Sendable {
    /// A batch of `examples` examples from `requests` requests ran on `model` in `seconds`.
    func batchRan(model: String, requests: Int, examples: Int, seconds: Double)
    /// The number of requests waiting for `model` changed.
    func queueDepth(model: String, depth: Int)
}

/// Queues requests for one model and runs them together: a request waits at most `maxDelay` for others, up to
/// `maxBatch` examples, then one forward pass answers all of them.
///
/// The forward passes run on the batcher's own thread, never on the server's event loops or Swift's cooperative
/// thread pool, so a long batch does not stall request handling. The queue is bounded (``ServeError`` 429 when it
/// is full) and each request has a deadline (504 when it passes, whether the request was still queued or running).
/// ``finish()`` lets the queue drain and then ends the thread: a model replaced on reload answers every request it
/// accepted.
public final class Batcher: @unchecked Sendable {
    /// The model it runs.
    public let model: ServedModel
    /// Its settings.
    public let options: BatchingOptions
    private let observer: (any BatchObserver)?
    private let condition = NSCondition()
    private var queue: [Pending] = []      // guarded by `condition`
    private var queuedExamples = 0          // guarded by `condition`
    private var stopping = false            // guarded by `condition`
    private var running: [Pending] = []     // guarded by `condition`: the batch being computed
    private let finished = DispatchSemaphore(value: 0)
    private let timer: any DispatchSourceTimer

    /// A batcher for `model`; its thread starts at once.
    public init(model: ServedModel, options: BatchingOptions, observer: (any BatchObserver)? = nil) {
        self.model = model
        self.options = options
        self.observer = observer
        timer = DispatchSource.makeTimerSource(queue: .global())
        let tick = Swift.min(Swift.max(options.requestTimeout / 20, 0.001), 0.1)
        timer.schedule(deadline: .now() + tick, repeating: tick, leeway: .milliseconds(1))
        timer.setEventHandler { [weak self] in self?.expire() }
        timer.resume()
        let thread = Thread { [self] in self.loop() }
        thread.name = "ember-batch-\(model.name)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Predictions for `count` raw examples (`values` holds `count * featureCount` floats).
    /// - Throws: ``ServeError`` 429 when the queue is full, 503 when the batcher is shutting down, 504 past the
    ///   deadline, 500 when the model fails.
    public func predict(_ values: [Float], count: Int) async throws -> [Prediction] {
        let pending = Pending(values: values, count: count, deadline: Date().addingTimeInterval(options.requestTimeout))
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[Prediction], any Error>) in
            pending.set(c)
            condition.lock()
            if stopping {
                condition.unlock()
                pending.complete(.failure(ServeError(503, "model \(jsonQuotedString(model.name)) is shutting down", retryAfter: 1)))
                return
            }
            if queue.count >= options.maxQueue {
                condition.unlock()
                pending.complete(.failure(ServeError(429, "model \(jsonQuotedString(model.name)): \(options.maxQueue) requests are already waiting; "
                                                     + "try again shortly", retryAfter: 1)))
                return
            }
            queue.append(pending)
            queuedExamples += count
            // Gauge updates under the lock, so that they land in order.
            observer?.queueDepth(model: model.name, depth: queue.count)
            condition.signal()
            condition.unlock()
        }
    }

    /// Answers 504 to every request past its deadline, queued or running. Called by one repeating timer per
    /// batcher (a timer per request would hold tens of thousands of timers under load).
    private func expire() {
        let now = Date()
        condition.lock()
        let late = (queue + running).filter { $0.deadline <= now }
        if !late.isEmpty {
            queue.removeAll { $0.deadline <= now }
            queuedExamples = queue.reduce(0) { $0 + $1.count }
        }
        if !late.isEmpty { observer?.queueDepth(model: model.name, depth: queue.count) }
        condition.unlock()
        guard !late.isEmpty else { return }
        let e = ServeError(504, "no answer within the request timeout of \(formatSeconds(options.requestTimeout))")
        for p in late { p.complete(.failure(e)) }
    }

    /// Stops taking requests, answers those already queued, then ends the thread; returns when it has.
    public func finish() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        finished.wait()
    }

    /// Requests waiting now.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }


    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                timer.cancel()
                finished.signal()
                return
            }
            // Wait for more requests: up to maxDelay after the first one arrived, or until the batch is full.
            let until = queue[0].arrival.addingTimeInterval(options.maxDelay)
            while queuedExamples < options.maxBatch && !stopping && !queue.isEmpty && Date() < until {
                _ = condition.wait(until: until)
            }
            var batch: [Pending] = []
            var examples = 0
            while let next = queue.first, batch.isEmpty || examples + next.count <= options.maxBatch {
                batch.append(queue.removeFirst())
                examples += next.count
                queuedExamples -= next.count
            }
            running = batch
            observer?.queueDepth(model: model.name, depth: queue.count)
            condition.unlock()
            run(batch.filter { !$0.isDone })
            condition.lock()
            running = []
            condition.unlock()
        }
    }

    private func run(_ batch: [Pending]) {
        guard !batch.isEmpty else { return }
        let start = Date()
        let examples = batch.reduce(0) { $0 + $1.count }
        var values: [Float] = []
        values.reserveCapacity(examples * model.featureCount)
        for p in batch { values.append(contentsOf: p.values) }
        do {
            let predictions = try model.predict(values, count: examples)
            var offset = 0
            for p in batch {
                var mine = Array(predictions[offset..<(offset + p.count)])
                for i in mine.indices { mine[i].index = i }
                offset += p.count
                p.complete(.success(mine))
            }
        } catch {
            let e = ServeError(500, "model \(jsonQuotedString(model.name)) failed on this input: \(error)")
            for p in batch { p.complete(.failure(e)) }
        }
        observer?.batchRan(model: model.name, requests: batch.count, examples: examples, seconds: Date().timeIntervalSince(start))
    }
}

/// One queued request: its inputs and the continuation that receives its answer exactly once.
final class Pending: @unchecked Sendable {
    let values: [Float]
    let count: Int
    let arrival = Date()
    let deadline: Date
    private let lock = NSLock()
    private var continuation: CheckedContinuation<[Prediction], any Error>?
    private var done = false

    init(values: [Float], count: Int, deadline: Date) {
        self.values = values
        self.count = count
        self.deadline = deadline
    }

    func set(_ c: CheckedContinuation<[Prediction], any Error>) {
        lock.lock()
        continuation = c
        lock.unlock()
    }

    var isDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return done
    }

    /// Resumes the waiting request; false when it was already answered (a timeout raced the batch).
    @discardableResult
    func complete(_ result: Result<[Prediction], any Error>) -> Bool {
        lock.lock()
        guard !done, let c = continuation else { lock.unlock(); return false }
        done = true
        continuation = nil
        lock.unlock()
        c.resume(with: result)
        return true
    }
}

/// `0.5 s`, `30 s`, `250 ms`.
func formatSeconds(_ s: Double) -> String {
    s < 1 ? "\(Int((s * 1000).rounded())) ms" : (s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s))
}
