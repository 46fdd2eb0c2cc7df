import ArgumentParser
import EmberCLI
import Foundation
import Logging

/// `ember serve RUN_DIR [RUN_DIR ...]`: serves trained runs over HTTP (Open Inference Protocol, SageMaker, metrics,
/// a page per model).
public struct ServeCommand: AsyncParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve trained models over HTTP: Open Inference Protocol (KServe v2), SageMaker /invocations, /metrics and a page at /.",
        discussion: """
            Each run directory becomes /v2/models/NAME (NAME: the run's name). Inputs are raw examples as `ember predict` \
            takes them; the saved preparation is applied. A request that finds its model idle runs at once; requests that \
            arrive while a batch runs are batched together (up to --max-batch examples; with --max-delay-ms above 0, such a \
            partial batch waits for more until its oldest request has waited that long). \
            SIGTERM or Ctrl-C stops accepting connections, answers the requests in flight and exits 0; SIGHUP reloads every \
            model from its directory without dropping requests. With --sagemaker the model comes from $SM_MODEL_DIR (default \
            /opt/ml/model) and the server listens on 0.0.0.0:8080, as SageMaker's container contract asks.
            """)

    /// Run directories.
    @Argument(help: "Run directories written by `ember train` (with --sagemaker: none, $SM_MODEL_DIR or /opt/ml/model is served).")
    public var models: [String] = []

    /// Host.
    @Option(help: "Address to listen on (default 127.0.0.1; 0.0.0.0 with --sagemaker).")
    public var host: String?

    /// Port.
    @Option(help: "Port to listen on (0: any free port, printed at start).")
    public var port = 8080

    /// SageMaker mode.
    @Flag(help: "SageMaker's inference container contract: serve $SM_MODEL_DIR (or /opt/ml/model) on 0.0.0.0:8080.")
    public var sagemaker = false

    /// Batch size limit.
    @Option(help: "Most examples run together in one forward pass.")
    public var maxBatch = 64

    /// Batch delay.
    @Option(help: "Under load: most milliseconds a partial batch waits for more requests (counted from its oldest request; default 0: a batch runs with what is queued when the model is free). A request that finds the model idle never waits.")
    public var maxDelayMs = 0.0

    /// Queue limit.
    @Option(help: "Most requests waiting per model; more get HTTP 429 with Retry-After.")
    public var maxQueue = 256

    /// Timeout.
    @Option(help: "Milliseconds a request may take (queue and inference) before it gets HTTP 504.")
    public var timeoutMs = 30_000.0

    /// Body limit.
    @Option(help: "Largest request body in bytes; larger ones get HTTP 413.")
    public var maxBodyBytes = 16 << 20

    /// Kernel threads per batch.
    @Option(help: "Threads Ember's kernels use for one batch (default: EMBER_NUM_THREADS, else half the cores, at least 1: the HTTP event loops and the clients need the others).")
    public var threads: Int?

    /// Log level.
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    public var logLevel = "info"

    /// Log format.
    @Option(help: "Log format: json (one object per line) or text.")
    public var logFormat = "json"

    /// In-process measurement instead of serving.
    @Option(help: ArgumentHelp("Measure in-process batched inference instead of serving: run each model for this many seconds in batches of --max-batch (no HTTP, same code as a served batch), print examples per second and exit.", valueName: "seconds"))
    public var measureInference: Double?

    /// Parsed from the command line.
    public init() {}

    /// Checks the options' numbers.
    public func validate() throws {
        guard (1...65536).contains(maxBatch) else { throw ValidationError("--max-batch must be in 1...65536, got \(maxBatch)") }
        guard maxDelayMs.isFinite, (0...60_000).contains(maxDelayMs) else { throw ValidationError("--max-delay-ms must be in 0...60000, got \(maxDelayMs)") }
        guard (1...1_000_000).contains(maxQueue) else { throw ValidationError("--max-queue must be in 1...1000000, got \(maxQueue)") }
        guard timeoutMs.isFinite, timeoutMs > 0, timeoutMs <= 3_600_000 else { throw ValidationError("--timeout-ms must be in (0, 3600000], got \(timeoutMs)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024, got \(maxBodyBytes)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical, got \(logLevel)") }
        guard ["json", "text"].contains(logFormat) else { throw ValidationError("--log-format must be json or text, got \(logFormat)") }
        if let t = threads { guard (1...256).contains(t) else { throw ValidationError("--threads must be in 1...256, got \(t)") } }
        if let m = measureInference { guard m.isFinite, m > 0, m <= 3600 else { throw ValidationError("--measure-inference must be in (0, 3600] seconds, got \(m)") } }
        guard sagemaker || !models.isEmpty else { throw ValidationError("give at least one run directory (or --sagemaker)") }
    }

    /// Runs the server until SIGTERM/SIGINT.
    public func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var h: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var paths = models
        if sagemaker {
            // SageMaker starts the container as `docker run IMAGE serve`: an ENTRYPOINT of `ember serve --sagemaker`
            // then sees a stray `serve`, which is ignored unless it is a directory.
            paths = paths.filter { $0 != "serve" || FileManager.default.fileExists(atPath: $0) }
            if paths.isEmpty {
                let env = ProcessInfo.processInfo.environment["SM_MODEL_DIR"]
                paths = [env.flatMap { $0.isEmpty ? nil : $0 } ?? SageMaker.defaultModelDirectory]
            }
        }
        var config = ServeConfiguration(modelPaths: paths)
        config.host = host ?? (sagemaker ? "0.0.0.0" : "127.0.0.1")
        config.port = port
        config.batching.maxBatch = maxBatch
        config.batching.maxDelay = maxDelayMs / 1000
        config.batching.maxQueue = maxQueue
        config.batching.requestTimeout = timeoutMs / 1000
        config.batching.threads = Self.kernelThreads(threads)
        config.maxBodyBytes = maxBodyBytes
        config.handleSignals = true
        // Test hook (the SIGTERM test): hold every batch until graceful shutdown begins.
        config.holdBatchesUntilShutdown = ProcessInfo.processInfo.environment["EMBER_SERVE_TEST_HOLD_BATCHES"] == "1"
        if let seconds = measureInference {
            do {
                for path in paths { try Self.measure(ServedModel(path: path), batch: maxBatch, seconds: seconds, threads: Self.kernelThreads(threads)) }
            } catch {
                FileHandle.standardError.write(Data("ember: error: \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        let server: EmberServer
        do {
            server = try EmberServer(configuration: config)
        } catch {
            FileHandle.standardError.write(Data("ember: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let names = server.registry.names
        let host = config.host
        do {
            try await server.run { port in
                // One plain line on stdout, for people and for scripts that started it with --port 0.
                FileHandle.standardOutput.write(Data("ember serve: listening on http://\(host):\(port) (models: \(names.joined(separator: ", ")))\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("ember: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The kernel threads per batch: `--threads`, else nil (the process-wide setting) when `EMBER_NUM_THREADS` is
    /// set, else half the cores. On a 2-core machine under load, 2 kernel threads served ~10% fewer requests than 1
    /// (the kernel pool's workers spin and compete with the event loops).
    static func kernelThreads(_ option: Int?) -> Int? {
        if let option { return option }
        if ProcessInfo.processInfo.environment["EMBER_NUM_THREADS"] != nil { return nil }
        return Swift.max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    }

    /// Runs `model` on batches of `batch` raw examples (values spread over the model's input range) for `seconds`
    /// after a short warm-up, through ``ServedModel/predict(_:count:)`` as the batcher does; prints one line.
    static func measure(_ model: ServedModel, batch: Int, seconds: Double, threads: Int?) throws {
        var rng = UInt64(0x9E37_79B9_7F4A_7C15)
        let top = Float(model.pixelMax)
        let values = (0..<(batch * model.featureCount)).map { _ -> Float in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(rng >> 40) / Float(1 << 24)
            return model.byteImages || model.pixelMax > 1 ? (u * top).rounded() : u
        }
        let warm = Date().addingTimeInterval(Swift.min(1, seconds / 5))
        while Date() < warm { _ = try model.predict(values, count: batch, threads: threads) }
        let start = Date()
        var examples = 0
        while Date().timeIntervalSince(start) < seconds {
            _ = try model.predict(values, count: batch, threads: threads)
            examples += batch
        }
        let elapsed = Date().timeIntervalSince(start)
        print("ember serve --measure-inference: \(model.name): \(examples) examples in batches of \(batch) on \(threads ?? Threading.threads) threads in "
              + String(format: "%.2f s: %.0f examples/s", elapsed, Double(examples) / elapsed))
    }
}
