import EmberCLI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Settings of `ember serve`.
public struct ServeConfiguration: Sendable {
    /// Run directories to serve (each becomes `/v2/models/{name}`).
    public var modelPaths: [String]
    /// The address to listen on (default 127.0.0.1; `--sagemaker` defaults to 0.0.0.0 as the container contract needs).
    public var host = "127.0.0.1"
    /// The port (0: any free port; the chosen one is printed).
    public var port = 8080
    /// Dynamic batching, queue bound and request timeout.
    public var batching = BatchingOptions()
    /// The largest request body accepted (413 past it).
    public var maxBodyBytes = 16 << 20
    /// Whether SIGTERM/SIGINT shut down gracefully and SIGHUP reloads the models (the command line's setting;
    /// in-process tests leave signals alone).
    public var handleSignals = false
    /// A test hook: hold every batch back until graceful shutdown begins (so a test can send SIGTERM while a request
    /// is certainly in flight). `ember serve` sets it from the environment variable `EMBER_SERVE_TEST_HOLD_BATCHES=1`;
    /// never set it in production.
    public var holdBatchesUntilShutdown = false
    /// A test hook: a gate that holds batches back while closed (see ``BatchGate``); nil in production.
    public var gate: BatchGate? = nil

    /// A configuration serving `modelPaths` on 127.0.0.1:8080.
    public init(modelPaths: [String]) { self.modelPaths = modelPaths }
}

/// The `ember serve` HTTP server: the Open Inference Protocol (KServe v2) REST endpoints, SageMaker's `/ping` and
/// `/invocations`, Prometheus `/metrics` and a page per model at `/`.
///
/// Built on Hummingbird 2 (on SwiftNIO) rather than SwiftNIO directly: Hummingbird brings routing with path
/// parameters, bounded body collection, HTTP/1.1 keep-alive and pipelining, and graceful shutdown through
/// swift-service-lifecycle (stop accepting, let in-flight requests finish), which is the part that is easy to get
/// wrong by hand. The one hot endpoint, `POST /v2/models/{name}/infer`, is answered by ``InferFastPath`` on the
/// connection's event loop instead (same answers; see there why).
///
/// Inference runs on one ``Batcher`` thread per model, off the event loops.
public final class EmberServer: Sendable {
    /// The settings.
    public let configuration: ServeConfiguration
    /// The models.
    public let registry: ModelRegistry
    /// The metrics.
    public let metrics: ServeMetrics
    let logger: Logger
    private let running = RunningGroup()

    /// Loads the models (failing early, before anything listens, on a directory that holds none).
    public init(configuration: ServeConfiguration, logger: Logger = Logger(label: "ember.serve")) throws {
        guard !configuration.modelPaths.isEmpty else { throw ServeError(400, "no run directory to serve") }
        self.logger = logger
        let metrics = ServeMetrics()
        self.metrics = metrics
        var configuration = configuration
        if configuration.holdBatchesUntilShutdown && configuration.gate == nil { configuration.gate = BatchGate(open: false) }
        self.configuration = configuration
        registry = try ModelRegistry(paths: configuration.modelPaths, options: configuration.batching, observer: metrics, gate: configuration.gate, logger: logger,
                                     onLoad: { metrics.modelLoaded($0) })
    }

    /// Serves until cancelled or (with `handleSignals`) until SIGTERM/SIGINT; `onRunning` gets the bound port.
    /// Returns after in-flight requests were answered and the batchers drained.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router(context: ServeContext.self)
        routes(router)
        let logger = self.logger
        let app = Application(router: router,
                              server: .http1(configuration: .init(additionalChannelHandlers: [HangupDetector(), InferFastPath(server: self)])),
                              configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ember"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                              logger: logger)
        var services: [any Service] = [app]
        if configuration.handleSignals { services.append(ReloadOnHangup(registry: registry, logger: logger)) }
        if configuration.holdBatchesUntilShutdown, let gate = configuration.gate { services.append(OpenGateOnShutdown(gate: gate)) }
        let group = ServiceGroup(configuration: .init(services: services,
                                                      gracefulShutdownSignals: configuration.handleSignals ? [.sigterm, .sigint] : [],
                                                      logger: logger))
        defer { registry.finish() }
        running.set(group)
        try await group.run()
        logger.info("server stopped")
    }

    /// Shuts down as SIGTERM does: stop accepting, answer the requests in flight, then `run` returns.
    public func shutdown() async {
        await running.get()?.triggerGracefulShutdown()
    }

    // MARK: routes

    func routes(_ router: Router<ServeContext>) {
        router.get("/") { _, _ in self.html(Page.html(models: self.registry.models)) }
        router.get("/v2/health/live") { _, _ in self.json(.object([("live", .bool(true))])) }
        router.get("/v2/health/ready") { _, _ in self.json(.object([("ready", .bool(true))])) }
        router.get("/v2") { _, _ in
            self.json(.object([("name", .string("ember")), ("version", .string(Self.version)),
                               ("extensions", .array([.string("binary_tensor_data"), .string("model_repository_metadata")]))]))
        }
        for prefix in ["/v2/models/:model", "/v2/models/:model/versions/:version"] {
            router.get(RouterPath(prefix)) { _, context in
                await self.answer("metadata", context) { model in self.json(InferenceProtocol.metadata(model)) }
            }
            router.get(RouterPath(prefix + "/ready")) { _, context in
                await self.answer("ready", context) { model in self.json(.object([("name", .string(model.name)), ("ready", .bool(true))])) }
            }
            router.post(RouterPath(prefix + "/infer")) { request, context in
                await self.answer("infer", context) { model in try await self.infer(request, model: model, channel: context.channel) }
            }
        }
        router.get("/ping") { _, _ in Response(status: .ok) }
        router.post("/invocations") { request, context in
            await self.answer("invocations", context, model: self.registry.names.first) { model in try await self.invocations(request, model: model, channel: context.channel) }
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.render())))
        }
    }

    /// The version string of `GET /v2`.
    static let version = "1"

    /// Runs `body` for the model named in the path (or `model`), turning every error into a JSON error response,
    /// and records the request's metrics and log line.
    func answer(_ endpoint: String, _ context: ServeContext, model fixed: String? = nil,
                _ body: (ServedModel) async throws -> Response) async -> Response {
        let start = ContinuousClock.now
        let name = fixed ?? context.parameters.get("model") ?? ""
        var response: Response
        do {
            if let v = context.parameters.get("version"), v != "1" {
                throw ServeError(404, "model \(jsonQuotedString(name)) has only version \"1\", not \(jsonQuotedString(v))")
            }
            let model = try registry.model(name)
            response = try await body(model)
        } catch {
            response = errorAnswer(error, endpoint: endpoint, model: name).response
        }
        record(endpoint, model: name, status: Int(response.status.code), since: start)
        return response
    }

    /// The error answer for anything a request's handling threw: a ``ServeError`` as it is, Hummingbird's body limit
    /// as 413, anything else as a logged 500 that tells the client nothing internal.
    func errorAnswer(_ error: any Error, endpoint: String, model name: String) -> Answer {
        switch error {
        case let e as ServeError:
            return Answer(e)
        case let e as HTTPError:
            let status = Int(e.status.code)
            return Answer(ServeError(status, status == 413 ? "the request body is larger than the limit of \(configuration.maxBodyBytes) bytes"
                                                 : (e.body ?? e.status.reasonPhrase)))
        default:
            logger.error("request failed", metadata: ["endpoint": .string(endpoint), "model": .string(name), "error": .string("\(error)")])
            return Answer(ServeError(500, "internal error while answering this request"))
        }
    }

    /// Records an answered request in the metrics and the log.
    func record(_ endpoint: String, model name: String, status: Int, since start: ContinuousClock.Instant) {
        let seconds = (ContinuousClock.now - start).seconds
        let known = registry.serves(name) ? name : "(unknown)"
        metrics.request(model: known, endpoint: endpoint, status: status, seconds: seconds)
        logger.info("request", metadata: ["endpoint": .string(endpoint), "model": .string(name), "status": .stringConvertible(status),
                                          "ms": .string(String(format: "%.2f", seconds * 1000))])
    }

    /// The body, or 413 when it is longer than the limit (checked on `Content-Length` first, then while reading).
    func body(_ request: Request) async throws -> [UInt8] {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw ServeError(413, "the request body of \(length) bytes is larger than the limit of \(limit) bytes")
        }
        var buffer = try await request.body.collect(upTo: limit)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    static let headerLength = HTTPField.Name("Inference-Header-Content-Length")!
    static let retryAfter = HTTPField.Name("Retry-After")!

    func infer(_ request: Request, model: ServedModel, channel: (any Channel)? = nil) async throws -> Response {
        let bytes = try await body(request)
        let headerLength = try Self.inferenceHeaderLength(request.headers)
        let r = try await registry.predict(model.name, clientGone: Self.clientGone(channel)) { model in
            let decoded = try InferenceProtocol.decode(bytes, headerLength: headerLength, model: model)
            return (decoded, decoded.values, decoded.count)
        }
        return Answer(InferenceProtocol.encode(r.predictions, request: r.input, model: r.model)).response
    }

    /// The `Inference-Header-Content-Length` header's value (nil when absent), or a 400 naming it.
    static func inferenceHeaderLength(_ headers: HTTPFields) throws -> Int? {
        guard let h = headers[Self.headerLength] else { return nil }
        guard let n = Int(h.trimmingCharacters(in: .whitespaces)) else {
            throw ServeError.badRequest("Inference-Header-Content-Length", "expected a number of bytes, got \(jsonQuotedString(h))")
        }
        return n
    }

    func invocations(_ request: Request, model: ServedModel, channel: (any Channel)? = nil) async throws -> Response {
        let bytes = try await body(request)
        let contentType = request.headers[.contentType]
        let r = try await registry.predict(model.name, clientGone: Self.clientGone(channel)) { model in
            let decoded = try SageMaker.decode(bytes, contentType: contentType, model: model)
            return ((), decoded.values, decoded.count)
        }
        let (text, type) = SageMaker.encode(r.predictions, model: r.model, accept: request.headers[.accept])
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Whether the client behind `channel` hung up (see ``HangupDetector``).
    static func clientGone(_ channel: (any Channel)?) -> (@Sendable () -> Bool)? {
        channel.map { HangupDetector.hungUp($0) }
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: value.rendered(pretty: false))))
    }

    func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

}

/// An answer before it is written: status, headers and body. The routes hand it to Hummingbird as a `Response`;
/// the infer fast path (``InferFastPath``) writes it as HTTP parts itself.
struct Answer {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    /// A JSON error body `{"error": "..."}` with the error's status (and `Retry-After` when it has one).
    init(_ e: ServeError) {
        status = HTTPResponse.Status(code: e.status)
        headers = [.contentType: "application/json"]
        if let r = e.retryAfter { headers[EmberServer.retryAfter] = String(r) }
        body = ByteBuffer(string: e.body)
    }

    /// An inference response: JSON, or JSON and binary tensor data (`Inference-Header-Content-Length`).
    init(_ encoded: InferenceProtocol.Response) {
        status = .ok
        headers = [.contentType: "application/json"]
        if let n = encoded.headerLength {
            headers[.contentType] = "application/octet-stream"
            headers[EmberServer.headerLength] = String(n)
        }
        body = ByteBuffer(bytes: encoded.body)
    }

    /// The answer as Hummingbird's response.
    var response: Response { Response(status: status, headers: headers, body: .init(byteBuffer: body)) }
}

/// The request context: Hummingbird's basic context plus the connection, so that a request whose client hung up can
/// leave the batch queue.
public struct ServeContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    public let channel: any Channel

    /// A context for a request arriving on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Opens the test gate when graceful shutdown begins (``ServeConfiguration/holdBatchesUntilShutdown``).
struct OpenGateOnShutdown: Service {
    let gate: BatchGate

    func run() async throws {
        try? await gracefulShutdown()
        gate.open()
    }
}

/// The running service group, for ``EmberServer/shutdown()``.
private final class RunningGroup: @unchecked Sendable {
    private let lock = NSLock()
    private var group: ServiceGroup?
    func set(_ g: ServiceGroup) { lock.withLock { group = g } }
    func get() -> ServiceGroup? { lock.withLock { group } }
}

/// Reloads every model on SIGHUP, until graceful shutdown.
struct ReloadOnHangup: Service {
    let registry: ModelRegistry
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading models")
            let registry = self.registry
            // Loading reads files and rebuilds networks: off the cooperative pool.
            let n = await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
                DispatchQueue.global().async { c.resume(returning: registry.reload()) }
            }
            logger.info("SIGHUP: reload done", metadata: ["reloaded": .stringConvertible(n)])
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
