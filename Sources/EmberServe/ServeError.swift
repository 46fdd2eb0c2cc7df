import EmberCLI
import Foundation

/// Why a request was refused: an HTTP status and a message for the client (never a stack trace, never a crash).
///
/// Messages name what was wrong in the request: `inputs[0].shape: expected [N, 64] or [N, 1, 8, 8], got [2, 63]`.
public struct ServeError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The HTTP status code (400, 404, 413, 415, 429, 503, 504, ...).
    public var status: Int
    /// The message sent to the client as `{"error": "..."}`.
    public var message: String
    /// Seconds the client should wait before trying again (sent as `Retry-After` with 429 and 503).
    public var retryAfter: Int?

    /// An error with a status and a message.
    public init(_ status: Int, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    /// The message.
    public var description: String { message }

    /// 400: the request is malformed (JSON, shapes, datatypes); `field` names the part of the request.
    static func badRequest(_ field: String, _ message: String) -> ServeError {
        ServeError(400, field.isEmpty ? message : "\(field): \(message)")
    }

    /// 404: no such model.
    static func noModel(_ name: String, known: [String]) -> ServeError {
        ServeError(404, "no model named \(jsonQuotedString(name)) (this server has \(known.map(jsonQuotedString).joined(separator: ", ")))")
    }

    /// The client-facing body: `{"error": "..."}` (the Open Inference Protocol's error shape).
    var body: String { JSONValue.object([("error", .string(message))]).rendered(pretty: false) }
}

/// `s` as a JSON string literal.
func jsonQuotedString(_ s: String) -> String { JSONValue.string(s).rendered(pretty: false) }
