import Foundation
import Testing
@testable import EmberMetrics

/// ForecastMetrics against NumPy (scripts/golden/make_forecast_golden.py): MAE, RMSE, MAPE, sMAPE, MASE and the
/// naive and seasonal naive baselines on a fixed seasonal series.
@Suite struct ForecastGoldenTests {
    static let fixture: J = {
        let url = Bundle.module.url(forResource: "forecast_golden", withExtension: "json", subdirectory: "Fixtures")!
        return J(raw: try! JSONSerialization.jsonObject(with: Data(contentsOf: url)))
    }()

    func expectScores(_ s: ForecastScores, _ g: J) {
        for (name, v) in s.named { #expect(close(v, g[name].double), "\(name): \(v) vs NumPy \(g[name].double)") }
    }

    @Test func scoresAndScalesEqualNumPy() {
        let g = Self.fixture
        let series = g["series"].doubles, h = g["horizon"].int, m = g["season"].int, trainEnd = g["train_end"].int
        let origins = g["origins"].ints
        let actuals = origins.map { Array(series[$0..<($0 + h)]) }
        let train = Array(series[..<trainEnd])
        let scaleM = ForecastMetrics.maseScale(training: train, season: m), scale1 = ForecastMetrics.maseScale(training: train, season: 1)
        #expect(close(scaleM, g["scale_season"].double))
        #expect(close(scale1, g["scale_1"].double))
        expectScores(ForecastMetrics.scores(actuals: actuals, forecasts: g["forecasts"].matrix, scale: scaleM), g["model"])
        expectScores(ForecastMetrics.scores(actuals: actuals, forecasts: g["forecasts"].matrix, scale: scale1), g["model_scale_1"])
    }

    @Test func baselinesEqualNumPy() {
        let g = Self.fixture
        let series = g["series"].doubles, h = g["horizon"].int, m = g["season"].int, trainEnd = g["train_end"].int
        let origins = g["origins"].ints
        let naive = origins.map { ForecastMetrics.naive(series, origin: $0, horizon: h) }
        let seasonal = origins.map { ForecastMetrics.seasonalNaive(series, origin: $0, horizon: h, season: m) }
        #expect(close(naive, g["naive"].matrix))
        #expect(close(seasonal, g["seasonal_naive"].matrix))
        let actuals = origins.map { Array(series[$0..<($0 + h)]) }
        let scale = ForecastMetrics.maseScale(training: Array(series[..<trainEnd]), season: m)
        expectScores(ForecastMetrics.scores(actuals: actuals, forecasts: naive, scale: scale), g["naive_scores"])
        expectScores(ForecastMetrics.scores(actuals: actuals, forecasts: seasonal, scale: scale), g["seasonal_naive_scores"])
        #expect(close(ForecastMetrics.seasonalNaive(series, origin: 50, horizon: 9, season: 4),
                      g["long_seasonal_naive_origin50_season4_horizon9"].doubles))
    }

    @Test func edgeCases() {
        // A zero actual makes MAPE undefined (NaN) but not sMAPE; y = f = 0 counts 0 in sMAPE.
        let s = ForecastMetrics.scores(actuals: [[0, 2]], forecasts: [[0, 1]], scale: 0.5)
        #expect(s.mape.isNaN)
        #expect(close(s.smape, 100 * (0 + 2.0 / 3) / 2))
        #expect(close(s.mase, 0.5 / 0.5))
        #expect(ForecastMetrics.maseScale(training: [1, 2, 3], season: 3).isNaN)
        #expect(ForecastMetrics.scores(actuals: [[1]], forecasts: [[2]], scale: 0).mase.isNaN)
    }
}
