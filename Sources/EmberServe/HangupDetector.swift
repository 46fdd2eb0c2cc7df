import Foundation
import HummingbirdCore
import NIOCore

/// Notices that a client hung up: a handler in each connection's pipeline that records when the connection's input
/// closes (the client closed or half-closed its socket) or the connection goes inactive. Hummingbird allows remote
/// half-closure, so a client that hangs up while its request waits in the batch queue leaves an *active* channel
/// behind; this handler is what tells the batcher to drop the request instead of computing it.
///
/// Each detector registers itself under its channel's identity while it is in a pipeline, so that a request
/// handler can find it from the channel in its context (``HangupDetector/hungUp(_:)``).
final class HangupDetector: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny  // never unwrapped: reads pass through untouched

    private let lock = NSLock()
    private var gone = false

    private static let lock = NSLock()
    nonisolated(unsafe) private static var live: [ObjectIdentifier: HangupDetector] = [:]

    /// Whether the client hung up.
    var isGone: Bool { lock.withLock { gone } }

    private func markGone() { lock.withLock { gone = true } }

    func handlerAdded(context: ChannelHandlerContext) {
        let key = ObjectIdentifier(context.channel)
        Self.lock.withLock { Self.live[key] = self }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        markGone()
        let key = ObjectIdentifier(context.channel)
        Self.lock.withLock { if Self.live[key] === self { Self.live[key] = nil } }
    }

    func channelInactive(context: ChannelHandlerContext) {
        markGone()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { markGone() }
        context.fireUserInboundEventTriggered(event)
    }

    /// A check of whether the client behind `channel` hung up (nil when no detector watches the channel: then the
    /// channel's own `isActive` is used).
    static func hungUp(_ channel: any Channel) -> @Sendable () -> Bool {
        let detector = lock.withLock { live[ObjectIdentifier(channel)] }
        if let detector { return { detector.isGone } }
        return { !channel.isActive }
    }
}
