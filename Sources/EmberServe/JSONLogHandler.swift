import EmberCLI
import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line to standard error: `time`, `level`, `label`, `message`
/// and the metadata as string members (`{"time":"...","level":"info","message":"request","model":"digits",...}`),
/// for log collectors. `ember serve --log-format text` uses swift-log's `StreamLogHandler` instead.
public struct JSONLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// See `LogHandler`.
    public var logLevel: Logger.Level = .info
    /// See `LogHandler`.
    public var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    /// A handler for the logger `label`.
    public init(label: String) { self.label = label }

    /// See `LogHandler`.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// See `LogHandler`.
    public func log(event: LogEvent) {
        var members: [(String, JSONValue)] = [("time", .string(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date()))),
                                              ("level", .string(event.level.rawValue)), ("label", .string(label)),
                                              ("message", .string(event.message.description))]
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in all.keys.sorted() { members.append((key, .string(all[key]!.description))) }
        let line = JSONValue.object(members).rendered(pretty: false) + "\n"
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }
}
