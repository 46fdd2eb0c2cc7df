import Foundation

/// The backend new tensors are created on when none is named (`Tensor.zeros([3])`, `Tensor([1, 2])`, random
/// creation): the CPU backend, or the innermost `DefaultBackend.with(_:_:)` scope's. Ops allocate their results on
/// their operands' backend whatever this says.
public enum DefaultBackend {
    @TaskLocal static var scoped: (any Backend)? = nil

    /// The process-wide default: `EMBER_BACKEND=reference` runs everything on the `ReferenceBackend` (to check a
    /// result against the oracle, or run a test suite on it); otherwise the CPU backend.
    static let process: any Backend = {
        switch ProcessInfo.processInfo.environment["EMBER_BACKEND"]?.lowercased() {
        case nil, "", "cpu": return CPUBackend.shared
        case "reference": return ReferenceBackend.shared
        case let other?: fatalError("EMBER_BACKEND=\(other): unknown backend; expected cpu or reference")
        }
    }()

    /// The backend creation functions use here.
    public static var current: any Backend { scoped ?? process }

    /// Runs `body` with tensors created on `backend` by default (this task and code it calls synchronously only):
    /// e.g. a test suite run on the `ReferenceBackend`.
    @discardableResult
    public static func with<R>(_ backend: any Backend, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(backend) { try body() }
    }
}
