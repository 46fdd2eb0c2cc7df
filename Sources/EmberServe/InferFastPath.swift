import EmberCLI
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The hot path of `ember serve`: `POST /v2/models/{name}/infer` answered on the connection's event loop.
///
/// Every other request goes through Hummingbird's router, which runs each request in a Swift task: the request
/// parts hop from the event loop to a task on the cooperative pool, the answer back from the batcher thread to that
/// task, and the response from the task to the event loop again. For an inference request those three thread hops
/// and the task machinery cost more CPU than decoding the request, while the server shares the machine's cores
/// with the forward passes (and, in the load test, with the load generator). This handler sits in each
/// connection's pipeline in front of Hummingbird: it collects an inference request's body, decodes it and queues it
/// on the model's batcher on the event loop, and writes the answer from the event loop when the batcher hands it
/// over. The answer is the same as the router's (``EmberServer/infer(_:model:channel:)``: same decoding, the same
/// errors, metrics and log line).
///
/// It takes only well-formed requests for a model the server has (path `/v2/models/{name}/infer` or
/// `.../versions/1/infer`, a `Content-Length` within the body limit); anything else, including every error about
/// the path or the body's size, passes to the router unchanged. Requests on one connection are answered in order:
/// while one is being answered (here or by the router), the next request's parts are held back, and reading pauses.
/// Graceful shutdown's "close idle connections" signal waits until an answer in flight here has been written.
final class InferFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let server: EmberServer

    /// An inference request being read here.
    private struct Inference: Sendable {
        let model: String
        let head: HTTPRequest
        let start: ContinuousClock.Instant
        var body: ByteBuffer?
    }

    private enum State {
        /// Between requests.
        case idle
        /// Reading an inference request's body.
        case collecting(Inference)
        /// An inference request is queued or running; `close`: the client asked to close after it.
        case answering(close: Bool)
        /// A request the router answers: passing its parts on until its end (`inboundDone`) and waiting for the end of
        /// its response (`outboundDone`).
        case forwarding(inboundDone: Bool, outboundDone: Bool)
    }

    private var state = State.idle
    /// Parts of requests that arrived while another was being answered (HTTP pipelining), in order.
    private var held = CircularBuffer<HTTPRequestPart>()
    /// A read that was held back while requests wait in `held`.
    private var readPending = false
    /// Graceful shutdown asked to close idle connections while an answer was in flight here.
    private var quiescePending = false

    init(server: EmberServer) { self.server = server }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if held.isEmpty && accepts(part) {
            handle(part, context: context)
        } else {
            held.append(part)
        }
    }

    /// Whether `part` can be handled now (else it waits for the request before it to be answered).
    private func accepts(_ part: HTTPRequestPart) -> Bool {
        switch state {
        case .idle, .collecting: return true
        case .answering: return false
        case .forwarding(let inboundDone, _): return !inboundDone
        }
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if let model = fastModel(head) {
                state = .collecting(Inference(model: model, head: head, start: .now, body: nil))
            } else {
                state = .forwarding(inboundDone: false, outboundDone: false)
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.collecting(var request), .body(var chunk)):
            state = .idle  // (so that the buffer below is not shared, and grows in place)
            if request.body == nil {
                request.body = chunk
            } else {
                request.body!.writeBuffer(&chunk)
            }
            state = .collecting(request)
        case (.collecting(let request), .end):
            state = .answering(close: request.head.headerFields[.connection]?.lowercased() == "close")
            answer(request, context: context)
        case (.forwarding(_, let outboundDone), .end):
            state = outboundDone ? .idle : .forwarding(inboundDone: true, outboundDone: false)
            context.fireChannelRead(wrapInboundOut(part))
        default:
            // The router's request parts, and anything out of order (which the router reports).
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// The model an inference request on this fast path is for, or nil when the router should answer it.
    private func fastModel(_ head: HTTPRequest) -> String? {
        guard head.method == .post, let path = head.path else { return nil }
        // Matched on the path's bytes (this runs for every request): "/v2/models/" NAME ("/infer" or
        // "/versions/1/infer"), then the end or a query.
        var bytes = path.utf8[...]
        guard bytes.starts(with: Self.prefix) else { return nil }
        bytes = bytes.dropFirst(Self.prefix.count)
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")), slash != bytes.startIndex else { return nil }
        let name = bytes[..<slash]
        var rest = bytes[slash...]
        if rest.starts(with: Self.version) { rest = rest.dropFirst(Self.version.count - Self.infer.count) }
        guard rest.starts(with: Self.infer) else { return nil }
        rest = rest.dropFirst(Self.infer.count)
        guard rest.isEmpty || rest.first == UInt8(ascii: "?"), !name.contains(UInt8(ascii: "%")) else { return nil }
        let model = String(decoding: name, as: UTF8.self)
        guard server.registry.serves(model), let length = head.headerFields[.contentLength].flatMap({ Int($0) }),
              length <= server.configuration.maxBodyBytes else { return nil }
        return model
    }

    private static let prefix = Array("/v2/models/".utf8), infer = Array("/infer".utf8), version = Array("/versions/1/infer".utf8)

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, isAnsweringHere {
            quiescePending = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private var isAnsweringHere: Bool {
        switch state {
        case .collecting, .answering: return true
        case .idle, .forwarding: return false
        }
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The router's response parts: its end lets the next request in.
        if case .end = unwrapOutboundIn(data), case .forwarding(let inboundDone, _) = state {
            state = inboundDone ? .idle : .forwarding(inboundDone: false, outboundDone: true)
            context.write(data, promise: promise)
            if inboundDone { resume(context: context) }
            return
        }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if held.isEmpty {
            context.read()
        } else {
            readPending = true
        }
    }

    // MARK: answering

    private func answer(_ request: Inference, context: ChannelHandlerContext) {
        let server = self.server
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        do {
            var body = request.body ?? ByteBuffer()
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            // The model serving the request now decodes and answers it (the registry hands it on across a reload).
            let headerLength = try EmberServer.inferenceHeaderLength(request.head.headerFields)
            try server.registry.submit(request.model, clientGone: HangupDetector.hungUp(context.channel)) { model in
                let decoded = try InferenceProtocol.decode(bytes, headerLength: headerLength, model: model)
                return (decoded, decoded.values, decoded.count)
            } completion: { model, decoded, result in
                loop.execute {
                    let answer: Answer
                    switch result {
                    case .success(let predictions):
                        answer = Answer(InferenceProtocol.encode(predictions, request: decoded, model: model))
                    case .failure(let error):
                        answer = server.errorAnswer(error, endpoint: "infer", model: request.model)
                    }
                    let (handler, context) = bound.value
                    handler.finish(request, answer, context: context)
                }
            }
        } catch {
            finish(request, server.errorAnswer(error, endpoint: "infer", model: request.model), context: context)
        }
    }

    /// Writes the answer, records it, and goes on with the requests held back meanwhile.
    private func finish(_ request: Inference, _ answer: Answer, context: ChannelHandlerContext) {
        guard case .answering(let close) = state else { return }
        var fields = answer.headers
        fields[.contentLength] = String(answer.body.readableBytes)
        fields[.date] = HTTPDate.now()
        fields[.server] = "ember"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: fields))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(answer.body)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        server.record("infer", model: request.model, status: answer.status.code, since: request.start)
        state = .idle
        if close {
            context.close(promise: nil)
            return
        }
        resume(context: context)
    }

    /// Handles the parts held back while a request was answered, then lets reading and a held shutdown signal go on.
    private func resume(context: ChannelHandlerContext) {
        var handled = false
        while let part = held.first, accepts(part) {
            held.removeFirst()
            handle(part, context: context)
            handled = true
        }
        // Hummingbird's side of the pipeline takes what was passed on at the end of a read.
        if handled { context.fireChannelReadComplete() }
        if held.isEmpty && readPending {
            readPending = false
            context.read()
        }
        if quiescePending && !isAnsweringHere {
            quiescePending = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }
}

/// The `Date` header's value (RFC 9110's IMF-fixdate), formatted once per second.
enum HTTPDate {
    private static let cache = NSLock()
    nonisolated(unsafe) private static var second = 0
    nonisolated(unsafe) private static var text = ""

    static func now() -> String {
        let t = time(nil)
        cache.lock()
        defer { cache.unlock() }
        if t != second || text.isEmpty {
            var tm = tm()
            var copy = t
            gmtime_r(&copy, &tm)
            var buffer = [CChar](repeating: 0, count: 64)
            let n = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &tm)
            text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            second = t
        }
        return text
    }
}
