import EmberCLI
import Foundation

/// Dynamic batching settings.
///
/// A request that finds its model idle (no batch running, nothing queued) runs at once, alone: an idle server adds
/// no batching delay. Requests that arrive while a batch runs wait in the queue; when the model is free again they
/// run together, up to ``maxBatch`` examples. With ``maxDelay`` above 0, if fewer than ``maxBatch`` examples are
/// waiting then, the batch waits for more until its oldest request has been queued ``maxDelay`` (it never waits when
/// that time has already passed). This is Triton's `max_queue_delay_microseconds` applied only under load, and as
/// Triton's it defaults to 0.
public struct BatchingOptions: Sendable, Equatable {
    /// The most examples run together in one forward pass (a single larger request still runs, alone).
    public var maxBatch = 64
    /// How long a partial batch that formed while the model was busy may wait for more requests, counted from its
    /// oldest request's arrival (default 0: it runs with what is queued). Never applies to a request that finds the
    /// model idle. Waiting trades latency for larger batches; it does not raise throughput under steady load, and
    /// with clients that wait for their answer before sending again it lowers it (the CPU idles while batches wait).
    public var maxDelay: Double = 0
    /// The most requests waiting per model; past it requests get 429 with `Retry-After`.
    public var maxQueue = 256
    /// How long a request may wait for its answer (queue plus inference) before it gets 504.
    public var requestTimeout: Double = 30
    /// Threads Ember's kernels use for one batch; nil: the process-wide setting (`EMBER_NUM_THREADS`, default all
    /// cores). The server's event loops need CPU too: see `ember serve --threads`.
    public var threads: Int? = nil

    /// The defaults: batches of up to 64, no delay, 256 queued requests, 30 s timeout.
    public init() {}
}

/// Observes batches, for metrics and logs.
public protocol BatchObserver: Sendable {
    /// A batch of `examples` examples from `requests` requests ran on `model` in `seconds`.
    func batchRan(model: String, requests: Int, examples: Int, seconds: Double)
    /// The number of requests waiting for `model` changed.
    func queueDepth(model: String, depth: Int)
}

/// A test hook that holds batches back: while it is closed, no batcher sharing it takes a batch from its queue
/// (requests stay queued, visible in `ember_queue_depth`, and still expire, get 429 past the queue bound, or are
/// dropped when their client leaves). Tests use it instead of waiting on timing; a server has none unless
/// ``ServeConfiguration/holdBatchesUntilShutdown`` is set (the `EMBER_SERVE_TEST_HOLD_BATCHES=1` environment
/// variable of `ember serve`, which the SIGTERM test sets) or a test passes one in.
public final class BatchGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen: Bool
    private var watchers: [() -> Void] = []

    /// A gate, closed unless `open`.
    public init(open: Bool = false) { isOpen = open }

    /// Lets batches run (now and from now on).
    public func open() {
        condition.lock()
        isOpen = true
        let w = watchers
        condition.broadcast()
        condition.unlock()
        for f in w { f() }
    }

    /// Whether batches may run.
    var opened: Bool { condition.withLock { isOpen } }

    /// Calls `wake` when the gate opens (a batcher waits on its own condition and re-checks ``opened``).
    func watch(_ wake: @escaping () -> Void) { condition.withLock { watchers.append(wake) } }
}

/// Queues requests for one model and runs them together (see ``BatchingOptions`` for when a batch runs).
///
/// The forward passes run on the batcher's own thread, never on the server's event loops or Swift's cooperative
/// thread pool, so a long batch does not stall request handling. The queue is bounded (``ServeError`` 429 when it
/// is full) and each request has a deadline (504 when it passes, whether the request was still queued or running).
/// A queued request whose deadline passed, or whose client went away (its connection closed), leaves the queue
/// and is never computed. ``finish()`` lets the queue drain and then ends the thread: a model replaced on reload
/// answers every request it accepted.
public final class Batcher: @unchecked Sendable {
    /// The model it runs.
    public let model: ServedModel
    /// Its settings.
    public let options: BatchingOptions
    private let observer: (any BatchObserver)?
    private let gate: BatchGate?
    private let condition = NSCondition()
    private var queue: [Pending] = []      // guarded by `condition`
    private var queuedExamples = 0          // guarded by `condition`
    private var stopping = false            // guarded by `condition`
    private var running: [Pending] = []     // guarded by `condition`: the batch being computed
    // Guarded by `condition`: a batch is being computed and its answers are not yet handed out. Cleared before the
    // answers go out, so a client's next request (sent after its answer) always finds the model idle.
    private var busy = false
    private let finished = DispatchSemaphore(value: 0)
    private let timer: any DispatchSourceTimer

    /// A batcher for `model`; its thread starts at once. A closed `gate` holds its batches back (tests only).
    public init(model: ServedModel, options: BatchingOptions, observer: (any BatchObserver)? = nil, gate: BatchGate? = nil) {
        self.model = model
        self.options = options
        self.observer = observer
        self.gate = gate
        timer = DispatchSource.makeTimerSource(queue: .global())
        let tick = Swift.min(Swift.max(options.requestTimeout / 20, 0.001), 0.1)
        timer.schedule(deadline: .now() + tick, repeating: tick, leeway: .milliseconds(1))
        timer.setEventHandler { [weak self] in self?.sweep() }
        timer.resume()
        gate?.watch { [weak self] in self?.wake() }
        let thread = Thread { [self] in self.loop() }
        thread.name = "ember-batch-\(model.name)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Predictions for `count` raw examples (`values` holds `count * featureCount` floats). `clientGone` tells
    /// whether the client stopped waiting (its connection closed); such a request leaves the queue uncomputed.
    /// - Throws: ``ServeError`` 429 when the queue is full, 503 when the batcher is shutting down, 504 past the
    ///   deadline, 499 when the client went away, 500 when the model fails.
    public func predict(_ values: [Float], count: Int, clientGone: (@Sendable () -> Bool)? = nil) async throws -> [Prediction] {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[Prediction], any Error>) in
            submit(values, count: count, clientGone: clientGone) { c.resume(with: $0) }
        }
    }

    /// Queues `count` raw examples and calls `completion` exactly once with their predictions or the error
    /// ``predict(_:count:clientGone:)`` would throw. It is called on the batcher's thread (answers), its timer's
    /// (504, 499) or the caller's (429, 503 at once): keep it short and hand the answer to the thread that writes it.
    public func submit(_ values: [Float], count: Int, clientGone: (@Sendable () -> Bool)? = nil,
                       completion: @escaping @Sendable (Result<[Prediction], any Error>) -> Void) {
        if !enqueue(values, count: count, clientGone: clientGone, completion: completion) {
            completion(.failure(Self.shuttingDown(model.name)))
        }
    }

    /// The 503 a stopping batcher answers.
    static func shuttingDown(_ name: String) -> ServeError {
        ServeError(503, "model \(jsonQuotedString(name)) is shutting down", retryAfter: 1)
    }

    /// ``submit(_:count:clientGone:completion:)``, except that a stopping batcher returns false at once and never
    /// calls `completion`: the caller may hand the request to the batcher that replaced this one.
    func enqueue(_ values: [Float], count: Int, clientGone: (@Sendable () -> Bool)?,
                 completion: @escaping @Sendable (Result<[Prediction], any Error>) -> Void) -> Bool {
        let pending = Pending(values: values, count: count, deadline: Date().addingTimeInterval(options.requestTimeout),
                              clientGone: clientGone, completion: completion)
        condition.lock()
        if stopping {
            condition.unlock()
            return false
        }
        if queue.count >= options.maxQueue {
            condition.unlock()
            pending.complete(.failure(ServeError(429, "model \(jsonQuotedString(model.name)): \(options.maxQueue) requests are already waiting; "
                                                 + "try again shortly", retryAfter: 1)))
            return true
        }
        pending.arrivedBusy = busy || !queue.isEmpty
        queue.append(pending)
        queuedExamples += count
        // Gauge updates under the lock, so that they land in order.
        observer?.queueDepth(model: model.name, depth: queue.count)
        condition.broadcast()
        condition.unlock()
        return true
    }

    /// Answers 504 to every request past its deadline, queued or running, and drops queued requests whose client
    /// went away. Called by one repeating timer per batcher (a timer per request would hold tens of thousands of
    /// timers under load).
    private func sweep() {
        let now = Date()
        condition.lock()
        let late = (queue + running).filter { $0.deadline <= now }
        let gone = queue.filter { $0.deadline > now && $0.isClientGone }
        if !late.isEmpty || !gone.isEmpty {
            queue.removeAll { $0.deadline <= now || $0.isClientGone }
            queuedExamples = queue.reduce(0) { $0 + $1.count }
            observer?.queueDepth(model: model.name, depth: queue.count)
            condition.broadcast()
        }
        condition.unlock()
        if !late.isEmpty {
            let e = ServeError(504, "no answer within the request timeout of \(formatSeconds(options.requestTimeout))")
            for p in late { p.complete(.failure(e)) }
        }
        for p in gone { p.complete(.failure(Self.clientGoneError)) }
    }

    static let clientGoneError = ServeError(499, "the client closed the connection before its batch ran")

    private func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Stops taking requests, answers those already queued, then ends the thread; returns when it has. Calling it
    /// again (or from several threads) returns once the thread has ended.
    public func finish() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        finished.wait()
        finished.signal()   // for the next caller
    }

    /// Whether ``finish()`` was called: the batcher takes no more requests.
    var isStopping: Bool { condition.withLock { stopping } }

    /// Requests waiting now.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Waits (blocking the calling thread) until `depth` requests are queued, at most `timeout` seconds; whether
    /// they were. For tests, with a ``BatchGate``: it replaces sleeping for requests to arrive.
    func waitUntilQueued(_ depth: Int, timeout: Double) -> Bool {
        let until = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while queue.count != depth {
            if !condition.wait(until: until) { return queue.count == depth }
        }
        return true
    }

    private func loop() {
        while true {
            condition.lock()
            while (queue.isEmpty || gate?.opened == false) && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                timer.cancel()
                finished.signal()
                return
            }
            // Requests that queued up while the model was busy may wait for company: until the oldest has waited
            // maxDelay, or the batch is full. A request that found the model idle runs at once. (Decided when the
            // request arrived, not here: the batcher thread may be descheduled between handing out a batch's answers
            // and coming back, and a client's next request arriving in that gap found an idle model.)
            if options.maxDelay > 0 && queue[0].arrivedBusy {
                let until = queue[0].arrival.addingTimeInterval(options.maxDelay)
                while queuedExamples < options.maxBatch && !stopping && !queue.isEmpty && Date() < until {
                    _ = condition.wait(until: until)
                }
                if queue.isEmpty { condition.unlock(); continue }
            }
            var batch: [Pending] = []
            var examples = 0
            var gone: [Pending] = []
            while let next = queue.first, batch.isEmpty || examples + next.count <= options.maxBatch {
                queue.removeFirst()
                queuedExamples -= next.count
                if next.isClientGone { gone.append(next); continue }
                batch.append(next)
                examples += next.count
            }
            running = batch
            busy = true
            observer?.queueDepth(model: model.name, depth: queue.count)
            condition.unlock()
            for p in gone { p.complete(.failure(Self.clientGoneError)) }
            run(batch.filter { !$0.isDone })
            condition.lock()
            running = []
            busy = false
            condition.unlock()
        }
    }

    /// The batch's answers are computed: requests arriving from now on find the model idle.
    private func markIdle() {
        condition.lock()
        busy = false
        condition.unlock()
    }

    private func run(_ batch: [Pending]) {
        guard !batch.isEmpty else { return }
        let start = Date()
        let examples = batch.reduce(0) { $0 + $1.count }
        do {
            let predictions: [Prediction]
            if batch.count == 1 {
                predictions = try model.predict(batch[0].values, count: examples, threads: options.threads)
            } else {
                var values: [Float] = []
                values.reserveCapacity(examples * model.featureCount)
                for p in batch { values.append(contentsOf: p.values) }
                predictions = try model.predict(values, count: examples, threads: options.threads)
            }
            markIdle()
            // Counted before the answers go out: a client that reads /metrics after its answer sees its batch.
            observer?.batchRan(model: model.name, requests: batch.count, examples: examples, seconds: Date().timeIntervalSince(start))
            var offset = 0
            for p in batch {
                var mine = Array(predictions[offset..<(offset + p.count)])
                for i in mine.indices { mine[i].index = i }
                offset += p.count
                p.complete(.success(mine))
            }
        } catch {
            let e = ServeError(500, "model \(jsonQuotedString(model.name)) failed on this input: \(error)")
            markIdle()
            observer?.batchRan(model: model.name, requests: batch.count, examples: examples, seconds: Date().timeIntervalSince(start))
            for p in batch { p.complete(.failure(e)) }
        }
    }
}

/// One queued request: its inputs and the completion that receives its answer exactly once.
final class Pending: @unchecked Sendable {
    let values: [Float]
    let count: Int
    let arrival = Date()
    let deadline: Date
    /// Set under the batcher's lock when queued: whether a batch was running or requests were already waiting.
    var arrivedBusy = false
    private let clientGone: (@Sendable () -> Bool)?
    private let lock = NSLock()
    private var completion: (@Sendable (Result<[Prediction], any Error>) -> Void)?

    init(values: [Float], count: Int, deadline: Date, clientGone: (@Sendable () -> Bool)? = nil,
         completion: @escaping @Sendable (Result<[Prediction], any Error>) -> Void) {
        self.values = values
        self.count = count
        self.deadline = deadline
        self.clientGone = clientGone
        self.completion = completion
    }

    var isDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return completion == nil
    }

    /// Whether the client stopped waiting for this answer.
    var isClientGone: Bool { clientGone?() ?? false }

    /// Hands over the answer; false when it was already answered (a timeout raced the batch).
    @discardableResult
    func complete(_ result: Result<[Prediction], any Error>) -> Bool {
        lock.lock()
        guard let c = completion else { lock.unlock(); return false }
        completion = nil
        lock.unlock()
        c(result)
        return true
    }
}

/// `0.5 s`, `30 s`, `250 ms`.
func formatSeconds(_ s: Double) -> String {
    s < 1 ? "\(Int((s * 1000).rounded())) ms" : (s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s))
}
