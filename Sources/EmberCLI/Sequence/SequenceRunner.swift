import Foundation

/// What a sequence training run produced.
public struct SequenceOutcome: @unchecked Sendable {
    /// The effective config.
    public var config: ExperimentConfig
    /// Where the outputs are.
    public var runDirectory: URL
    /// The trained network (in memory).
    public var model: Module
    /// `metrics.json`'s content; nil when interrupted.
    public var metrics: JSONValue?
    /// `model.json`'s content; nil when interrupted.
    public var saved: SequenceModelFile?
    /// The training history.
    public var history: History
    /// Whether training stopped early because of an interrupt (a checkpoint was written).
    public var interrupted: Bool
    /// Seconds this invocation took.
    public var seconds: Double
}

/// `ember train` for sequence data: a character-level language model on text (`data.text`, next-token
/// cross-entropy, truncated backpropagation through time with the state carried across consecutive batches), or a
/// multi-step forecaster on a CSV series (`data.series`, chronological parts, scaling fitted on the training part,
/// naive and seasonal naive baselines in every report). Run directories, checkpoints, resume, early stopping and
/// history work as for the other models; TensorBoard/MLflow tracking is not wired for these runs yet.
public enum SequenceRunner {
    /// Runs one training invocation and writes the run directory.
    public static func run(_ o: TrainOptions, console: Console) throws -> SequenceOutcome {
        let start = Date()
        let config = try TrainRunner.loadConfig(o)
        if config.data.passages == nil, config.data.sequence == nil || config.model.sequence == nil {
            throw CLIError("\(config.file ?? "the config") is not a sequence or text experiment (data.text, data.series or data.passages)")
        }
        let dir = config.runDirectory
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        let checkpoint = dir.appendingPathComponent(SavedModel.checkpointFile)
        if o.resume {
            guard FileManager.default.fileExists(atPath: checkpoint.path) else {
                throw CLIError("nothing to resume in \(dir.path): no \(SavedModel.checkpointFile) (run without --resume to start)")
            }
            let done = try TrainRunner.checkpointEpoch(checkpoint)
            guard done <= config.training.epochs else {
                throw CLIError("\(checkpoint.path) has \(done) epochs done; to resume, training.epochs (now \(config.training.epochs)) must be at least \(done)")
            }
        }
        console.line("ember train: \(config.outputs.name)" + (o.resume ? " (resuming)" : "") + " -> \(dir.path)")
        let job: TrainingJob
        switch (config.data.sequence, config.model.sequence, config.data.passages) {
        case (.text(let t)?, let spec?, _): job = try LanguageModelJob(config: config, data: t, model: spec, console: console)
        case (.series(let s)?, let spec?, _): job = try ForecastJob(config: config, data: s, model: spec, console: console)
        case (_, _, let p?): job = try TextClassifierJob(config: config, data: p, console: console)
        default: throw CLIError("\(config.file ?? "the config") is not a sequence or text experiment")
        }
        return try train(job, config: config, options: o, start: start, console: console)
    }

    /// The shared part: run directory, lock, callbacks, `fit`, then the job's evaluation and the saved model.
    static func train(_ job: TrainingJob, config: ExperimentConfig, options o: TrainOptions, start: Date,
                      console: Console) throws -> SequenceOutcome {
        let dir = config.runDirectory, fm = FileManager.default
        let checkpoint = dir.appendingPathComponent(SavedModel.checkpointFile)
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw CLIError("run directory \(dir.path) cannot be created: \(fileSystemReason(error, path: dir.path))")
        }
        let lock = try RunDirectory.Lock(dir)
        defer { lock.release() }
        try RunDirectory.check(dir, resume: o.resume, overwrite: o.overwrite)
        AtomicFile.removeStaleTemporaries(in: dir)
        let earlierFiles = RunDirectory.manifest(dir)
        try AtomicFile.write(Data(config.document.utf8), to: dir.appendingPathComponent(SavedModel.configFile))
        console.line(job.modelSummary)

        let t = config.training
        let trainer = job.trainer
        let schedules = TrainingSetup.schedule(t.schedule, optimizer: trainer.optimizer, epochs: t.epochs,
                                               batchesPerEpoch: job.batches.batchesPerEpoch, lr: t.optimizer.lr,
                                               defaultMonitor: config.defaultMonitor)
        trainer.scheduler = schedules.epoch
        var callbacks: [Callback] = []
        if !o.quiet { callbacks.append(ProgressBar(interactive: console.interactive, output: console.write)) }
        callbacks += job.extraCallbacks
        var ownFiles = [SavedModel.configFile, SavedModel.checkpointFile, SavedModel.historyFile]
        if t.checkpoint.saveBest { ownFiles.append(SavedModel.bestCheckpointFile) }
        try RunDirectory.writeManifest(earlierFiles + ownFiles, in: dir)
        let (closing, interrupt, early) = TrainingSetup.closingCallbacks(t, schedules: schedules, defaultMonitor: config.defaultMonitor,
                                                                  directory: dir, checkpoint: checkpoint, options: o)
        callbacks += closing
        if o.handleSignals { InterruptSignal.install() }
        defer { if o.handleSignals { InterruptSignal.uninstall() } }

        let history = try trainer.fit(job.batches, validation: job.validation, epochs: t.epochs, callbacks: callbacks,
                                      resumeFrom: o.resume ? checkpoint : nil)
        var outcome = SequenceOutcome(config: config, runDirectory: dir, model: job.model, metrics: nil, saved: nil, history: history,
                                      interrupted: false, seconds: Date().timeIntervalSince(start))
        if let at = interrupt.stoppedAt {
            outcome.interrupted = true
            console.line("\nstopped in epoch \(at.epoch + 1), after batch \(at.batch) of \(job.batches.batchesPerEpoch); checkpoint written to \(checkpoint.path)")
            console.line("continue with: ember train \(o.configPath.map { $0 + " " } ?? "")--resume" + (o.runDirectory.map { " --run-dir \($0)" } ?? ""))
            return outcome
        }
        let (metrics, text, extraFiles) = try job.evaluate(history: history, directory: dir)
        let last = history.metrics.compactMapValues { $0.last }.filter { !$0.value.isNaN }
        let sizes = job.sizes
        let provenance = Provenance(
            created: ISO8601DateFormatter().string(from: Date()), dataset: job.source, trainExamples: sizes.train,
            validationExamples: sizes.validation, testExamples: sizes.test, epochs: history.epochs, steps: trainer.step, seed: t.seed,
            seconds: Date().timeIntervalSince(start), resumed: o.resume, stoppedEarly: early?.stoppedEpoch != nil, lastEpoch: last,
            configFile: config.file, host: ProcessInfo.processInfo.hostName, threads: Threading.threads)
        job.model.eval()
        let (saved, modelFiles) = try job.writeModel(to: dir, name: config.outputs.name, provenance: provenance, config: config.document)
        try AtomicFile.write(Data((metrics.rendered() + "\n").utf8), to: dir.appendingPathComponent(SavedModel.metricsFile))
        ownFiles += [SavedModel.modelFile, SavedModel.jsonFile, SavedModel.metricsFile] + modelFiles + extraFiles
        if o.resume { ownFiles += earlierFiles } else { RunDirectory.removeStale(listed: earlierFiles, keeping: ownFiles, in: dir) }
        try RunDirectory.writeManifest(ownFiles, in: dir)
        outcome.metrics = metrics
        outcome.saved = saved
        outcome.seconds = Date().timeIntervalSince(start)
        console.line(text)
        console.line(String(format: "done in %.1f s (%d epochs%@); outputs in %@/", outcome.seconds, history.epochs,
                            early?.stoppedEpoch != nil ? ", stopped early" : "", dir.path))
        return outcome
    }
}

/// One kind of training run driven by `SequenceRunner.train` (sequence models, text classifiers): its data, model
/// and trainer, its final evaluation and how it saves its model.
protocol TrainingJob {
    var model: Module { get }
    var trainer: Trainer { get }
    var batches: any BatchSource { get }
    /// Validation batches for the trainer's validation step (nil: none, or computed by a callback).
    var validation: (any BatchSource)? { get }
    var extraCallbacks: [Callback] { get }
    var source: String { get }
    var sizes: (train: Int, validation: Int, test: Int) { get }
    /// The `model:` line printed before training.
    var modelSummary: String { get }
    /// `metrics.json`, the printed summary, and the names of other files it wrote into `directory` (e.g. the report).
    func evaluate(history: History, directory: URL) throws -> (JSONValue, String, [String])
    /// Writes `model.json` and `model.safetensors` (and any file they need, whose names it returns).
    func writeModel(to directory: URL, name: String, provenance: Provenance, config: String) throws -> (SequenceModelFile?, [String])
}

/// One kind of sequence training: its data, model and trainer, and its final evaluation.
protocol SequenceJob: TrainingJob {
    var spec: SequenceModelSpec { get }
    var tokenizer: CharTokenizer? { get }
    var seriesSettings: SequenceModelFile.SeriesSettings? { get }
    /// `metrics.json` and the printed summary.
    func evaluate() throws -> (JSONValue, String)
}

extension SequenceJob {
    var modelSummary: String {
        if spec.isGPT {
            return "model: char-gpt - \(spec.layers) blocks, d_model \(spec.hidden), \(spec.heads ?? 1) heads, "
                + "context \(spec.context ?? 0), \(grouped(model.parameterCount)) parameters"
        }
        return "model: \(spec.kind == .languageModel ? "char-lstm" : "lstm-forecaster") - \(spec.cell) x \(spec.layers), "
            + "hidden \(spec.hidden), \(grouped(model.parameterCount)) parameters"
    }

    func evaluate(history: History, directory: URL) throws -> (JSONValue, String, [String]) {
        let (json, text) = try evaluate()
        return (json, text, [])
    }

    func writeModel(to directory: URL, name: String, provenance: Provenance, config: String) throws -> (SequenceModelFile?, [String]) {
        let saved = SequenceModelFile(name: name, spec: spec, tokenizer: tokenizer, series: seriesSettings, provenance: provenance, config: config)
        try saved.write(model: model, to: directory)
        return (saved, [])
    }
}

/// `StatefulTokenBatches` as `Trainer.fit` consumes them.
struct StreamBatchSource: BatchSource {
    let streams: StatefulTokenBatches
    var batchesPerEpoch: Int { streams.count }
    func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)> { AnySequence(streams.batches(epoch: epoch)) }
}

/// The recurrent state carried from one training batch to the next (truncated backpropagation through time), saved
/// in checkpoints so that a resumed run continues with the state it had.
final class CarriedState: Checkpointable {
    var state: RecurrentState?
    var checkpointKind: String { "recurrent state" }

    func checkpointState() -> CheckpointState {
        var tensors: [String: Tensor] = [:]
        if let s = state { tensors["h"] = s.h; if let c = s.c { tensors["c"] = c } }
        return CheckpointState(tensors: tensors)
    }

    func prepareRestore(from saved: CheckpointState) throws -> () -> Void {
        let h = saved.tensors["h"], c = saved.tensors["c"]
        return { [self] in state = h.map { RecurrentState(h: $0, c: c) } }
    }
}

/// ln 2, to turn nats into bits.
let ln2 = Foundation.log(2.0)

/// Mean next-token loss (nats) of `model` over `tokens`, read as `rows` consecutive streams in windows of `window`
/// with the state carried (as in training), without gradients and in evaluation mode. Returns the loss and the number
/// of tokens scored.
func streamLoss(_ model: CharLanguageModel, tokens: [Int32], rows: Int, window: Int) -> (loss: Double, tokens: Int) {
    guard tokens.count >= 2 else { return (.nan, 0) }
    var rows = Swift.max(1, rows), window = Swift.max(1, window)
    while rows > 1 && StatefulTokenBatches(tokens: tokens, batchSize: rows, window: window, shift: false).count < 4 { rows /= 2 }
    if StatefulTokenBatches(tokens: tokens, batchSize: rows, window: window, shift: false).count == 0 { window = (tokens.count - 1) / 2 }
    let streams = StatefulTokenBatches(tokens: tokens, batchSize: rows, window: Swift.max(1, window), shift: false)
    let was = model.training
    model.eval()
    defer { model.train(was) }
    var sum = 0.0, n = 0
    withoutGrad {
        var state: RecurrentState? = nil
        for (x, y) in streams.batches(epoch: 0) {
            let (logits, s) = model(x, state: state)
            state = s
            let v = logits.shape[2]
            sum += crossEntropy(logits.reshaped([-1, v]), y.reshaped([-1]), reduction: .sum).item()
            n += y.count
        }
    }
    return (n > 0 ? sum / Double(n) : .nan, n)
}

/// Mean next-token loss (nats) of a GPT over `tokens` cut into consecutive windows of `window` tokens (each scored
/// from its own start, as the model is trained; the last, shorter window too), `rows` windows per forward pass,
/// without gradients and in evaluation mode. Returns the loss and the number of tokens scored.
func windowLoss(_ model: GPT, tokens: [Int32], rows: Int, window: Int) -> (loss: Double, tokens: Int) {
    guard tokens.count >= 2 else { return (.nan, 0) }
    let window = Swift.max(1, Swift.min(window, model.config.context)), rows = Swift.max(1, rows)
    let was = model.training
    model.eval()
    defer { model.train(was) }
    var starts: [Int] = []
    var s = 0
    while s + 1 < tokens.count { starts.append(s); s += window }
    var sum = 0.0, n = 0
    withoutGrad {
        var i = 0
        while i < starts.count {
            let len = Swift.min(window, tokens.count - 1 - starts[i])
            var group: [Int] = []
            while i < starts.count && group.count < rows && Swift.min(window, tokens.count - 1 - starts[i]) == len {
                group.append(starts[i]); i += 1
            }
            let x = group.flatMap { st in tokens[st..<st + len].map { Int64($0) } }
            let y = group.flatMap { st in tokens[st + 1...st + len].map { Int64($0) } }
            let logits = model(Tensor(x, shape: [group.count, len]), cache: nil)
            sum += crossEntropy(logits.reshaped([-1, logits.shape[2]]), Tensor(y), reduction: .sum).item()
            n += y.count
        }
    }
    return (n > 0 ? sum / Double(n) : .nan, n)
}

/// The held-out loss of a language model: carried-state streams for a recurrent model, windows for a GPT.
func heldOutLoss(_ model: Module, tokens: [Int32], rows: Int, window: Int) -> (loss: Double, tokens: Int) {
    if let gpt = model as? GPT { return windowLoss(gpt, tokens: tokens, rows: rows, window: window) }
    return streamLoss(model as! CharLanguageModel, tokens: tokens, rows: rows, window: window)
}

/// Adds `val_loss` and `val_bpc` (over the whole validation text: stateful for a recurrent model, in windows for a
/// GPT) to every epoch's logs.
final class StreamValidation: Callback {
    let model: Module, tokens: [Int32], rows: Int, window: Int
    init(model: Module, tokens: [Int32], rows: Int, window: Int) {
        self.model = model; self.tokens = tokens; self.rows = rows; self.window = window
    }
    func recordEpoch(_ trainer: Trainer, epoch: Int, logs: inout [String: Double]) throws {
        let (loss, _) = heldOutLoss(model, tokens: tokens, rows: rows, window: window)
        logs["val_loss"] = loss
        logs["val_bpc"] = loss / ln2
    }
}

/// A character-level language model on text.
struct LanguageModelJob: SequenceJob {
    let spec: SequenceModelSpec
    let model: Module
    let trainer: Trainer
    let batches: any BatchSource
    let extraCallbacks: [Callback]
    let source: String
    let sizes: (train: Int, validation: Int, test: Int)
    let tokenizer: CharTokenizer?
    var seriesSettings: SequenceModelFile.SeriesSettings? { nil }
    var validation: (any BatchSource)? { nil }
    /// The recurrent model (char-lstm) or the GPT (char-gpt): exactly one is set.
    let lm: CharLanguageModel?
    let gpt: GPT?
    let validationTokens: [Int32], testTokens: [Int32]
    let rows: Int, window: Int
    let unknownHeldOut: Int
    let requested: [String]

    init(config: ExperimentConfig, data: TextDataConfig, model m: SequenceModelConfig, console: Console) throws {
        let corpus = try TextCorpus(path: data.path, pattern: data.pattern)
        var (trainText, valText, testText) = corpus.split(validation: data.validation, test: data.test)
        if let limit = data.limitTrain, trainText.unicodeScalars.count > limit {
            trainText = String(String.UnicodeScalarView(trainText.unicodeScalars.prefix(limit)))
        }
        let tok = CharTokenizer(training: trainText)
        let trainTokens = try tok.encode(trainText, source: data.path)
        validationTokens = try tok.encode(valText, unknown: .replace, source: data.path)
        testTokens = try tok.encode(testText, unknown: .replace, source: data.path)
        unknownHeldOut = (validationTokens + testTokens).reduce(0) { $0 + ($1 == CharTokenizer.unknownID ? 1 : 0) }
        let t = config.training
        rows = t.batchSize
        window = data.window
        source = data.path + (data.pattern.map { " (\($0), \(corpus.files.count) files)" } ?? "")
        sizes = (trainTokens.count, validationTokens.count, testTokens.count)
        tokenizer = tok
        requested = config.evaluation.metrics ?? SequenceMetricName.text
        let isGPT = m.preset == SequencePreset.gpt
        if isGPT {
            spec = SequenceModelSpec(kind: .languageModel, cell: "gpt", inputs: tok.count, embedding: m.dModel, hidden: m.dModel,
                                     layers: m.layers, dropout: m.dropout, outputs: tok.count, relative: nil, heads: m.heads,
                                     context: m.context, tieWeights: m.tieWeights)
            guard data.window <= m.context else {
                throw ConfigError(path: "data.window", message: "\(data.window) is longer than the GPT's context (model.options.context \(m.context))",
                                  file: config.file)
            }
        } else {
            spec = SequenceModelSpec(kind: .languageModel, cell: m.cell, inputs: tok.count, embedding: m.embedding, hidden: m.hidden,
                                     layers: m.layers, dropout: m.dropout, outputs: tok.count, relative: nil)
        }
        if let problem = spec.validate() { throw ConfigError(path: "model.options", message: problem, file: config.file) }
        let lm: CharLanguageModel? = isGPT ? nil : CharLanguageModel(spec, generator: Generator(seed: t.seed))
        let gpt: GPT? = isGPT ? GPT(spec.gptConfig, generator: Generator(seed: t.seed)) : nil
        self.lm = lm
        self.gpt = gpt
        let net: Module = lm ?? gpt!
        model = net
        // A GPT has no state to carry: it always trains on shuffled windows.
        let stateful = data.stateful && !isGPT
        let loader: any BatchSource
        if stateful {
            let s = StatefulTokenBatches(tokens: trainTokens, batchSize: t.batchSize, window: data.window, shift: true, seed: t.seed)
            loader = StreamBatchSource(streams: s)
        } else {
            loader = DataLoader(TokenWindows(tokens: trainTokens, length: data.window), batchSize: t.batchSize, shuffle: true,
                                dropLast: true, rng: RandomState(seed: t.seed).split(1), workers: 1)
        }
        guard loader.batchesPerEpoch > 0 else {
            throw ConfigError(path: "data.window", message: "the training text (\(trainTokens.count) characters) is too short for batches of "
                              + "\(t.batchSize) x \(data.window) characters; lower training.batch_size or data.window", file: config.file)
        }
        batches = loader
        let optimizer = TrainingSetup.optimizer(t.optimizer, net.parameters)
        let carried = CarriedState()
        let clip = t.clipGradNorm, params = net.parameters
        let step: TrainingStep = { batch, trainer in
            // A new epoch starts new streams; without stateful batches every window starts from zeros.
            if trainer.batch == 0 || !stateful { carried.state = nil }
            optimizer.zeroGrad()
            let logits: Tensor
            if let lm {
                let (l, s) = lm(batch.input, state: carried.state)
                logits = l
                carried.state = stateful ? s.detached() : nil
            } else {
                logits = gpt!(batch.input, cache: nil)
            }
            let loss = crossEntropy(logits.reshaped([-1, logits.shape[2]]), batch.target.reshaped([-1]))
            loss.backward()
            if let clip { clipGradNorm(params, maxNorm: clip) }
            optimizer.step()
            let v = loss.item()
            return ["loss": v, "bpc": v / ln2]
        }
        trainer = Trainer(models: ["model": net], optimizers: ["optim": optimizer], state: ["recurrent_state": carried], step: step)
        extraCallbacks = validationTokens.count >= 2
            ? [StreamValidation(model: net, tokens: validationTokens, rows: t.batchSize, window: data.window)] : []
        console.line("data: \(self.source) - \(tok.count - 1) characters in the vocabulary; train \(grouped(sizes.train)), "
                     + "validation \(grouped(sizes.validation)), test \(grouped(sizes.test)) characters"
                     + (unknownHeldOut > 0 ? " (\(unknownHeldOut) held-out characters outside the vocabulary count as unknown)" : ""))
        console.line("batches: \(batches.batchesPerEpoch) per epoch of \(t.batchSize) x \(data.window) characters"
                     + (stateful ? ", state carried across consecutive batches (truncated BPTT)" : ", shuffled windows from a zero state"))
    }

    func evaluate() throws -> (JSONValue, String) {
        let net: Module = lm ?? gpt!
        let (val, valN) = heldOutLoss(net, tokens: validationTokens, rows: rows, window: window)
        let (test, testN) = heldOutLoss(net, tokens: testTokens, rows: rows, window: window)
        func part(_ name: String, _ loss: Double, _ n: Int) -> (JSONValue, [String]) {
            var kv: [(String, JSONValue)] = [("split", .string(name)), ("tokens", .number(Double(n)))]
            var lines = ["\(name) (\(grouped(n)) characters):"]
            let values = ["loss": loss, "bpc": loss / ln2, "perplexity": Foundation.exp(loss)]
            for m in requested {
                kv.append((m, .number(values[m]!)))
                lines.append("  " + m.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%.4f", values[m]!)
                             + (m == "loss" ? " nats/char" : m == "bpc" ? " bits/char" : ""))
            }
            return (.object(kv), lines)
        }
        let (t, tl) = part("test", test, testN)
        let (v, vl) = part("validation", val, valN)
        guard case .object(var kv) = t else { return (t, "") }
        kv.append(("validation", v))
        kv.append(("unknown_characters_held_out", .number(Double(unknownHeldOut))))
        return (.object(kv), (vl + tl).joined(separator: "\n"))
    }
}
