import EmberCore

/// Sliding windows over a time series for forecasting: each example is `inputLength` consecutive steps and the
/// `horizon` steps that follow them.
///
/// For a series `s` of shape `[T]` or `[T, features]`, window `i` starts at `t = i * stride` and is
///
/// ```
/// input  = s[t ..< t + inputLength]                          // [inputLength] or [inputLength, features]
/// target = s[t + inputLength ..< t + inputLength + horizon]   // [horizon]     or [horizon, targetFeatures]
/// ```
///
/// so there are `(T - inputLength - horizon) / stride + 1` windows (none when the series is too short). Windows are
/// views of the one series: nothing is copied until a batch is stacked.
///
/// ```swift
/// let windows = SlidingWindows(series: co2, inputLength: 52, horizon: 4, stride: 1)
/// for (x, y) in DataLoader(windows, batchSize: 64, shuffle: true) { ... }   // x: [64, 52], y: [64, 4]
/// ```
public struct SlidingWindows: Dataset {
    /// One example: past steps and the steps to predict.
    public typealias Element = (input: Tensor, target: Tensor)

    /// The whole series, time along the first axis.
    public let series: Tensor
    /// Steps in each input window.
    public let inputLength: Int
    /// Steps to predict after each input window.
    public let horizon: Int
    /// Steps between the starts of consecutive windows.
    public let stride: Int
    /// For a `[T, features]` series: the feature columns that form the target (all by default).
    public let targetFeatures: [Int]?

    /// Windows over `series` (`[T]` or `[T, features]`).
    public init(series: Tensor, inputLength: Int, horizon: Int = 1, stride: Int = 1, targetFeatures: [Int]? = nil) {
        precondition(series.rank == 1 || series.rank == 2, "SlidingWindows: series must be [T] or [T, features], got \(series.shape)")
        precondition(inputLength >= 1 && horizon >= 0 && stride >= 1,
                     "SlidingWindows: need inputLength >= 1, horizon >= 0, stride >= 1 (got \(inputLength), \(horizon), \(stride))")
        if let f = targetFeatures {
            precondition(series.rank == 2 && f.allSatisfy { $0 >= 0 && $0 < series.shape[1] },
                         "SlidingWindows: targetFeatures \(f) need a [T, features] series with those columns, got \(series.shape)")
        }
        self.series = series.contiguous()
        self.inputLength = inputLength
        self.horizon = horizon
        self.stride = stride
        self.targetFeatures = targetFeatures
    }

    /// Number of windows.
    public var count: Int {
        let span = series.shape[0] - inputLength - horizon
        return span < 0 ? 0 : span / stride + 1
    }

    /// Window `index`.
    public subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "SlidingWindows: index \(index) is out of range for \(count) windows")
        let t = index * stride
        let input = series[t..<(t + inputLength)]
        var target = series[(t + inputLength)..<(t + inputLength + horizon)]
        if let f = targetFeatures {
            target = target.indexSelect(axis: 1, index: Tensor(f.map { Int64($0) }))
        }
        return (input, target)
    }
}
