import Foundation

/// Point-forecast accuracy over a set of forecasts (every step of every forecast counts once), in the series'
/// original units.
///
/// With errors e = y - ŷ over all n forecast steps:
///
/// | name | formula |
/// |---|---|
/// | MAE | mean \|e\| |
/// | RMSE | sqrt(mean e²) |
/// | MAPE | 100 · mean \|e\| / \|y\| (NaN when some y is 0) |
/// | sMAPE | 100 · mean 2\|e\| / (\|y\| + \|ŷ\|), a term with y = ŷ = 0 counting 0 (Hyndman & Koehler's, 0..200) |
/// | MASE | MAE / scale, scale = mean over the training part of \|y_t - y_{t-m}\| (the in-sample error of the seasonal naive forecast with season m; m = 1: naive) |
///
/// MASE below 1 means the forecasts beat the in-sample seasonal naive forecast on average.
public struct ForecastScores: Sendable, Equatable, Codable {
    /// Mean absolute error.
    public var mae: Double
    /// Root mean squared error.
    public var rmse: Double
    /// Mean absolute percentage error, in percent.
    public var mape: Double
    /// Symmetric mean absolute percentage error, in percent (0..200).
    public var smape: Double
    /// Mean absolute scaled error.
    public var mase: Double

    /// The scores by name, in the order above.
    public var named: [(String, Double)] { [("mae", mae), ("rmse", rmse), ("mape", mape), ("smape", smape), ("mase", mase)] }
}

/// Forecast accuracy measures and the naive and seasonal naive baselines every forecasting report should show.
public enum ForecastMetrics {
    /// Scores of `forecasts` against `actuals` (the same number of steps in each pair), with MASE scaled by `scale`
    /// (see `maseScale`).
    /// Precondition: as many forecasts as actuals, each pair of equal length, at least one step in all.
    public static func scores(actuals: [[Double]], forecasts: [[Double]], scale: Double) -> ForecastScores {
        precondition(actuals.count == forecasts.count && zip(actuals, forecasts).allSatisfy { $0.count == $1.count },
                     "ForecastMetrics.scores: \(forecasts.count) forecasts do not pair with \(actuals.count) actuals step for step")
        let y = actuals.flatMap { $0 }, f = forecasts.flatMap { $0 }
        precondition(!y.isEmpty, "ForecastMetrics.scores: no forecast steps")
        let n = Double(y.count)
        var abs = 0.0, sq = 0.0, pct = 0.0, spct = 0.0
        for (a, p) in zip(y, f) {
            let e = a - p
            abs += Swift.abs(e)
            sq += e * e
            pct += a == 0 ? .nan : Swift.abs(e) / Swift.abs(a)
            let d = Swift.abs(a) + Swift.abs(p)
            spct += d == 0 ? 0 : 2 * Swift.abs(e) / d
        }
        let mae = abs / n
        return ForecastScores(mae: mae, rmse: (sq / n).squareRoot(), mape: 100 * pct / n, smape: 100 * spct / n,
                              mase: scale > 0 ? mae / scale : .nan)
    }

    /// MASE's scale: the mean absolute difference between training values `season` steps apart (NaN when the
    /// training part has `season` values or fewer).
    public static func maseScale(training: [Double], season: Int) -> Double {
        precondition(season >= 1, "ForecastMetrics.maseScale: season must be at least 1, got \(season)")
        guard training.count > season else { return .nan }
        var s = 0.0
        for t in season..<training.count { s += Swift.abs(training[t] - training[t - season]) }
        return s / Double(training.count - season)
    }

    /// The naive forecast from `origin`: the last value before it, repeated `horizon` times.
    public static func naive(_ series: [Double], origin: Int, horizon: Int) -> [Double] {
        precondition(origin >= 1 && origin <= series.count, "ForecastMetrics.naive: origin \(origin) needs history in a series of \(series.count)")
        return Array(repeating: series[origin - 1], count: horizon)
    }

    /// The seasonal naive forecast from `origin`: step `origin + k` gets the value of the same season in the last
    /// season before `origin` (`series[origin + k - season * (k / season + 1)]`).
    public static func seasonalNaive(_ series: [Double], origin: Int, horizon: Int, season: Int) -> [Double] {
        precondition(season >= 1 && origin >= season && origin <= series.count,
                     "ForecastMetrics.seasonalNaive: origin \(origin) needs a full season (\(season)) of history in a series of \(series.count)")
        return (0..<horizon).map { k in series[origin + k - season * (k / season + 1)] }
    }
}
