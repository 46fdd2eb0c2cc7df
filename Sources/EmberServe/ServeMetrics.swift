import Foundation
import Prometheus

/// The server's Prometheus metrics (swift-prometheus), served at `/metrics` in the text exposition format:
///
/// - `ember_requests_total{model, endpoint, status}`: requests answered, by model, endpoint and HTTP status.
/// - `ember_request_duration_seconds{model, endpoint}`: latency histogram, request read to response written.
/// - `ember_batch_size{model}`: examples per forward pass; `ember_batch_requests{model}`: requests per pass.
/// - `ember_batch_duration_seconds{model}`: forward pass time.
/// - `ember_queue_depth{model}`: requests waiting now.
/// - `ember_model_load_seconds{model}`: how long the model now serving took to load;
///   `ember_model_loads_total{model}`: loads and reloads.
public final class ServeMetrics: BatchObserver, @unchecked Sendable {
    /// The registry the metrics live in.
    public let registry = PrometheusCollectorRegistry()

    private static let latencyBuckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        .map { Duration.nanoseconds(Int64($0 * 1e9)) }
    private static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ember", metricName: metric, unitName: unit, helpText: help)
    }

    /// Empty metrics.
    public init() {}

    // The metric objects by label values, made once: the registry's make* calls hash the labels and take its lock
    // each time (a few percent of a small request's CPU).
    private struct RequestKey: Hashable { let model: String, endpoint: String, status: Int }
    private struct ModelKey: Hashable { let model: String, endpoint: String }
    private let lock = NSLock()
    private var counters: [RequestKey: Counter] = [:]
    private var latencies: [ModelKey: DurationHistogram] = [:]
    private var depths: [String: Gauge] = [:]
    private var batches: [String: (ValueHistogram, ValueHistogram, DurationHistogram)] = [:]

    private func cached<K: Hashable, V>(_ table: ReferenceWritableKeyPath<ServeMetrics, [K: V]>, _ key: K, _ make: () -> V) -> V {
        lock.lock()
        defer { lock.unlock() }
        if let v = self[keyPath: table][key] { return v }
        let v = make()
        self[keyPath: table][key] = v
        return v
    }

    /// Counts one answered request and its latency.
    public func request(model: String, endpoint: String, status: Int, seconds: Double) {
        cached(\.counters, RequestKey(model: model, endpoint: endpoint, status: status)) {
            registry.makeCounter(descriptor: Self.name("requests", "total", "Requests answered, by model, endpoint and HTTP status"),
                                 labels: [("model", model), ("endpoint", endpoint), ("status", String(status))])
        }.increment()
        cached(\.latencies, ModelKey(model: model, endpoint: endpoint)) {
            registry.makeDurationHistogram(descriptor: Self.name("request_duration", "seconds", "Request latency, body read to response"),
                                           labels: [("model", model), ("endpoint", endpoint)], buckets: Self.latencyBuckets)
        }.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Records a model (re)load.
    public func modelLoaded(_ model: ServedModel) {
        registry.makeGauge(descriptor: Self.name("model_load", "seconds", "Seconds the serving model took to load"), labels: [("model", model.name)])
            .set(model.loadSeconds)
        registry.makeCounter(descriptor: Self.name("model_loads", "total", "Model loads and reloads"), labels: [("model", model.name)]).increment()
    }

    /// See ``BatchObserver``.
    public func batchRan(model: String, requests: Int, examples: Int, seconds: Double) {
        let (size, count, duration) = cached(\.batches, model) {
            (registry.makeValueHistogram(descriptor: Self.name("batch_size", "", "Examples per forward pass"), labels: [("model", model)],
                                         buckets: Self.batchBuckets),
             registry.makeValueHistogram(descriptor: Self.name("batch_requests", "", "Requests per forward pass"), labels: [("model", model)],
                                         buckets: Self.batchBuckets),
             registry.makeDurationHistogram(descriptor: Self.name("batch_duration", "seconds", "Forward pass time per batch"),
                                            labels: [("model", model)], buckets: Self.latencyBuckets))
        }
        size.record(Double(examples))
        count.record(Double(requests))
        duration.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// See ``BatchObserver``.
    public func queueDepth(model: String, depth: Int) {
        cached(\.depths, model) {
            registry.makeGauge(descriptor: Self.name("queue_depth", "", "Requests waiting for a batch"), labels: [("model", model)])
        }.set(Double(depth))
    }

    /// The exposition text.
    public func render() -> String { registry.emitToString() }
}
