"""Golden figures for EmberMetrics' forecasting measures (ForecastMetrics), computed independently with NumPy.

Formulas (Hyndman & Koehler 2006; Hyndman & Athanasopoulos, Forecasting: Principles and Practice, 3rd ed., 5.8):
  MAE = mean|e|, RMSE = sqrt(mean e^2), MAPE = 100 mean|e/y|, sMAPE = 100 mean 2|e|/(|y|+|f|),
  MASE = MAE / mean_{t>=m}|y_t - y_{t-m}| over the training part; naive: last value; seasonal naive: the same season
  of the last full season before the origin.
Run: python scripts/golden/make_forecast_golden.py > Tests/EmberMetricsTests/Fixtures/forecast_golden.json
"""
import json
import numpy as np

rng = np.random.RandomState(7)
n, m, h = 60, 12, 6
t = np.arange(n)
series = 100 + 0.8 * t + 10 * np.sin(2 * np.pi * t / m) + rng.normal(0, 2, n)
train_end = 40
origins = [40, 43, 46, 48, 54]
actuals = np.stack([series[o:o + h] for o in origins])
forecasts = actuals + rng.normal(0, 3, actuals.shape)


def scores(y, f, scale):
    e = y - f
    return {
        "mae": float(np.mean(np.abs(e))),
        "rmse": float(np.sqrt(np.mean(e ** 2))),
        "mape": float(100 * np.mean(np.abs(e / y))),
        "smape": float(100 * np.mean(2 * np.abs(e) / (np.abs(y) + np.abs(f)))),
        "mase": float(np.mean(np.abs(e)) / scale),
    }


train = series[:train_end]
scale_m = float(np.mean(np.abs(train[m:] - train[:-m])))
scale_1 = float(np.mean(np.abs(np.diff(train))))
naive = np.stack([np.repeat(series[o - 1], h) for o in origins])
# Seasonal naive: step o+k takes the value m steps back, or 2m for k >= m, ...: series[o + k - m * (k // m + 1)].
snaive = np.stack([[series[o + k - m * (k // m + 1)] for k in range(h)] for o in origins])
# A horizon longer than the season reaches two seasons back.
long_snaive = [float(series[50 + k - 4 * (k // 4 + 1)]) for k in range(9)]

print(json.dumps({
    "series": series.tolist(), "season": m, "horizon": h, "train_end": train_end, "origins": origins,
    "forecasts": forecasts.tolist(),
    "scale_season": scale_m, "scale_1": scale_1,
    "model": scores(actuals, forecasts, scale_m),
    "model_scale_1": scores(actuals, forecasts, scale_1),
    "naive": naive.tolist(), "naive_scores": scores(actuals, naive, scale_m),
    "seasonal_naive": snaive.tolist(), "seasonal_naive_scores": scores(actuals, snaive, scale_m),
    "long_seasonal_naive_origin50_season4_horizon9": long_snaive,
}))
