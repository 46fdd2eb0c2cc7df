import Foundation

/// A multi-step forecaster on one CSV column: chronological parts, scaling fitted on the training part, windows of
/// `window` steps forecasting `horizon` steps, and test metrics beside the naive and seasonal naive baselines.
struct ForecastJob: SequenceJob {
    let spec: SequenceModelSpec
    let model: Module
    let trainer: Trainer
    let batches: any BatchSource
    let extraCallbacks: [Callback] = []
    let source: String
    let sizes: (train: Int, validation: Int, test: Int)
    var tokenizer: CharTokenizer? { nil }
    let seriesSettings: SequenceModelFile.SeriesSettings?
    let forecaster: SeriesForecaster
    let series: TimeSeries
    let parts: ForecastParts
    let scaled: [Double]
    let settings: SequenceModelFile.SeriesSettings
    let requested: [String]

    init(config: ExperimentConfig, data: SeriesDataConfig, model m: SequenceModelConfig, console: Console) throws {
        series = try TimeSeries(csv: data.path, column: data.column, date: data.date, missing: data.missing)
        let n = series.count
        let nVal = SeriesDataConfig.steps(data.validation, of: n), nTest = SeriesDataConfig.steps(data.test, of: n)
        func fail(_ path: String, _ message: String) -> ConfigError { ConfigError(path: path, message: message, file: config.file) }
        guard nVal + nTest < n else { throw fail("data.split", "holds out \(nVal) + \(nTest) of the \(n) steps of \(data.path)") }
        parts = series.chronologicalParts(validation: nVal, test: nTest, window: data.window, horizon: data.horizon)
        guard !parts.train.isEmpty else {
            throw fail("data.window", "the training part (\(parts.trainEnd) steps) is too short for a window of \(data.window) and a horizon of \(data.horizon)")
        }
        guard !parts.test.isEmpty else {
            throw fail("data.split.test", "the test part (\(nTest) steps) is shorter than the horizon (\(data.horizon)): no forecast fits in it")
        }
        guard data.season == 1 || parts.test.allSatisfy({ $0 >= data.season }) else {
            throw fail("data.season", "a season of \(data.season) needs that much history before every test forecast")
        }
        var scaler = data.scaling
        try scaler.fit(Array(series.values[..<parts.trainEnd]), source: data.path)
        scaled = try scaler.transform(series.values, source: data.path)
        settings = .init(column: data.column, window: data.window, horizon: data.horizon, season: data.season, scaler: scaler)
        seriesSettings = settings
        source = data.path + " (\(data.column))"
        sizes = (parts.train.count, parts.validation.count, parts.test.count)
        requested = config.evaluation.metrics ?? SequenceMetricName.series
        spec = SequenceModelSpec(kind: .forecaster, cell: m.cell, inputs: 1, embedding: nil, hidden: m.hidden, layers: m.layers,
                                 dropout: m.dropout, outputs: data.horizon, relative: m.relative)
        if let problem = spec.validate() { throw ConfigError(path: "model.options", message: problem, file: config.file) }
        let t = config.training
        let f = SeriesForecaster(spec, generator: Generator(seed: t.seed))
        forecaster = f
        model = f
        let windows = SlidingWindows(series: Tensor(scaled.map { Float($0) }), inputLength: data.window, horizon: data.horizon)
        let train = windows.subset(parts.train.map(parts.windowIndex))
        batches = DataLoader(train, batchSize: t.batchSize, shuffle: true, rng: RandomState(seed: t.seed).split(1), workers: 0)
        let optimizer = TrainingSetup.optimizer(t.optimizer, f.parameters)
        let loss = (t.loss ?? .mse).function, clip = t.clipGradNorm, params = f.parameters
        let step: TrainingStep = { batch, _ in
            optimizer.zeroGrad()
            let l = loss(f(batch.input), batch.target)
            l.backward()
            if let clip { clipGradNorm(params, maxNorm: clip) }
            optimizer.step()
            return ["loss": l.item()]
        }
        trainer = Trainer(models: ["model": f], optimizers: ["optim": optimizer],
                          validationStep: { batch, _ in ["loss": loss(f(batch.input), batch.target).item()] }, step: step)
        validation = parts.validation.isEmpty ? nil : ValidationWindows(data: windows.subset(parts.validation.map(parts.windowIndex)))
        console.line("data: \(source) - \(n) steps; train \(parts.trainEnd), validation \(nVal), test \(nTest) steps; "
                     + "\(sizes.train) / \(sizes.validation) / \(sizes.test) forecasts of \(data.horizon) steps from \(data.window)")
    }

    /// The validation windows (one batch), when the series has a validation part.
    let validation: (any BatchSource)?

    /// Forecasts in the original units for the windows starting at `origins`.
    func forecasts(_ origins: [Int]) -> [[Double]] {
        guard !origins.isEmpty else { return [] }
        let w = settings.window
        let x = Tensor(origins.flatMap { o in scaled[(o - w)..<o].map { Float($0) } }, shape: [origins.count, w])
        forecaster.eval()
        let out = withoutGrad { forecaster(x) }.cast(.float64).toArray(Double.self)
        let h = settings.horizon
        return (0..<origins.count).map { settings.scaler.inverse(Array(out[($0 * h)..<(($0 + 1) * h)])) }
    }

    func evaluate() throws -> (JSONValue, String) {
        let values = series.values, h = settings.horizon, m = settings.season
        let scale = ForecastMetrics.maseScale(training: Array(values[..<parts.trainEnd]), season: m)
        func report(_ name: String, _ origins: [Int]) -> (JSONValue, [String])? {
            guard !origins.isEmpty else { return nil }
            let actual = origins.map { Array(values[$0..<($0 + h)]) }
            let model = ForecastMetrics.scores(actuals: actual, forecasts: forecasts(origins), scale: scale)
            let naive = ForecastMetrics.scores(actuals: actual, forecasts: origins.map { ForecastMetrics.naive(values, origin: $0, horizon: h) },
                                               scale: scale)
            var rows: [(String, ForecastScores)] = [("model", model), ("naive", naive)]
            if m > 1, origins.allSatisfy({ $0 >= m }) {
                rows.append(("seasonal_naive", ForecastMetrics.scores(
                    actuals: actual, forecasts: origins.map { ForecastMetrics.seasonalNaive(values, origin: $0, horizon: h, season: m) }, scale: scale)))
            }
            func object(_ s: ForecastScores) -> JSONValue {
                .object(s.named.filter { requested.contains($0.0) }.map { ($0.0, .number($0.1)) })
            }
            var kv: [(String, JSONValue)] = [("split", .string(name)), ("forecasts", .number(Double(origins.count))),
                                             ("horizon", .number(Double(h))), ("season", .number(Double(m))),
                                             ("first_forecast_step", .string(series.dates?[origins[0]] ?? "\(origins[0])"))]
            for (label, s) in rows { kv.append((label, object(s))) }
            let best = rows.dropFirst().min { $0.1.mae < $1.1.mae }!
            kv.append(("beats_baselines", .bool(rows.dropFirst().allSatisfy { model.mae < $0.1.mae })))
            var lines = ["\(name) (\(origins.count) forecasts of \(h) steps from \(series.dates?[origins[0]] ?? "step \(origins[0])"); "
                         + "MASE scaled by the \(m > 1 ? "seasonal (\(m)) naive" : "naive") in-sample error):"]
            let shown = requested
            lines.append("  " + "".padding(toLength: 16, withPad: " ", startingAt: 0)
                         + shown.map { $0.uppercased().padding(toLength: 11, withPad: " ", startingAt: 0) }.joined())
            for (label, s) in rows {
                let named = Dictionary(uniqueKeysWithValues: s.named)
                lines.append("  " + label.replacingOccurrences(of: "_", with: " ").padding(toLength: 16, withPad: " ", startingAt: 0)
                             + shown.map { String(format: "%-11.4g", named[$0]!) }.joined())
            }
            lines.append(model.mae < best.1.mae
                         ? "  the model beats the baselines (MAE \(String(format: "%.4g", model.mae)) vs \(best.0.replacingOccurrences(of: "_", with: " ")) \(String(format: "%.4g", best.1.mae)))"
                         : "  the model does NOT beat the \(best.0.replacingOccurrences(of: "_", with: " ")) baseline (MAE \(String(format: "%.4g", model.mae)) vs \(String(format: "%.4g", best.1.mae)))")
            return (.object(kv), lines)
        }
        guard let (test, testLines) = report("test", parts.test) else { throw CLIError("no test forecasts") }
        guard case .object(var kv) = test else { return (test, "") }
        var lines = testLines
        if let (val, valLines) = report("validation", parts.validation) {
            kv.append(("validation", val))
            lines = valLines + lines
        }
        return (.object(kv), lines.joined(separator: "\n"))
    }
}

/// A subset of windows as a one-epoch batch source (validation).
struct ValidationWindows: BatchSource {
    let data: Subset<SlidingWindows>
    var batchesPerEpoch: Int { 1 }
    func batches(epoch: Int) -> AnySequence<(input: Tensor, target: Tensor)> {
        let items = (0..<data.count).map { data[$0] }
        return AnySequence([(stack(items.map(\.input)), stack(items.map(\.target)))])
    }
}
