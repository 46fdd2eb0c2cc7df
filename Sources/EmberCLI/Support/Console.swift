import Foundation
import Synchronization

/// Where commands write: standard output and standard error, or buffers in tests.
public struct Console: Sendable {
    /// Writes text to the output as is.
    public var write: @Sendable (String) -> Void
    /// Writes text to the error stream as is.
    public var writeError: @Sendable (String) -> Void
    /// Whether the output is a terminal (progress bars redraw in place).
    public var interactive: Bool

    /// A console over two writers.
    public init(interactive: Bool = false, write: @escaping @Sendable (String) -> Void,
                writeError: @escaping @Sendable (String) -> Void) {
        self.write = write; self.writeError = writeError; self.interactive = interactive
    }

    /// The process's standard output and standard error.
    public static var standard: Console {
        Console(interactive: isatty(1) == 1,
                write: { FileHandle.standardOutput.write(Data($0.utf8)) },
                writeError: { FileHandle.standardError.write(Data($0.utf8)) })
    }

    /// Writes one line to the output.
    public func line(_ s: String = "") { write(s + "\n") }
}

/// A console that keeps everything written, for tests.
public final class CapturedConsole: Sendable {
    private let buffers = Mutex<(out: String, err: String)>(("", ""))
    /// An empty capture.
    public init() {}
    /// The console writing into this capture.
    public var console: Console {
        Console(write: { s in self.buffers.withLock { $0.out += s } }, writeError: { s in self.buffers.withLock { $0.err += s } })
    }
    /// Everything written to the output.
    public var output: String { buffers.withLock { $0.out } }
    /// Everything written to the error stream.
    public var errors: String { buffers.withLock { $0.err } }
}

/// Stops training cleanly on Ctrl-C (SIGINT) or `kill` (SIGTERM): the handler only raises a flag; the training
/// loop sees it after the current batch, writes a checkpoint and returns. A second signal ends the process at once.
public enum InterruptSignal {
    private static let flag = Atomic<Int32>(0)

    /// Installs the handlers for SIGINT and SIGTERM.
    public static func install() {
        flag.store(0, ordering: .relaxed)
        // A parent may have started us with these signals blocked (the mask is inherited): unblock them here.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { s in
                InterruptSignal.flag.store(s, ordering: .relaxed)
                signal(s, SIG_DFL)   // a second Ctrl-C kills
            }
        }
    }

    /// Puts back the default handlers.
    public static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// The signal received since `install()`, or 0.
    public static var received: Int32 { flag.load(ordering: .relaxed) }
}
