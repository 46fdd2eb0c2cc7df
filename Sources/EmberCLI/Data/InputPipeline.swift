import Foundation

/// How raw inputs become model inputs: flatten each example to its features, multiply by `scale`, apply the fitted
/// preparation steps, and reshape to `shape`. Saved in `model.json`, so `evaluate` and `predict` prepare new data
/// exactly as training did.
public struct InputPipeline: Codable, Equatable, Sendable {
    /// One raw example's shape (`[64]` for digits, `[1, 28, 28]` for 8-bit images).
    public var rawShape: [Int]
    /// Factor applied to the raw values first.
    public var scale: Double
    /// Fitted preparation steps, on `[examples, features]`.
    public var preparation: PreparationPipeline
    /// One example's shape as the model sees it.
    public var shape: [Int]
    /// Names of the raw features (tabular data), to pick CSV columns by name.
    public var featureNames: [String]
    /// Whether raw inputs are 8-bit pixel values.
    public var byteImages: Bool
    /// How image files become raw inputs (runs trained on `data.images`): channels, size and resize filter. Nil for
    /// other runs (and model.json files written before image folders).
    public var image: ImageInput?

    /// How an image file is turned into one raw example `[channels, height, width]` of bytes.
    public struct ImageInput: Codable, Equatable, Sendable {
        /// 1 (gray) or 3 (RGB).
        public var channels: Int
        /// Height after resizing.
        public var height: Int
        /// Width after resizing.
        public var width: Int
        /// The resize filter.
        public var filter: ResizeFilter

        /// The image file at `path` as raw values `[channels, height, width]` (0...255, float32).
        func read(_ path: String) throws -> Tensor {
            let image = try RasterImage(contentsOf: path).converted(channels: channels).resized(width: width, height: height, filter: filter)
            return image.tensor(.float32, scale: 1)
        }
    }

    /// Features per example.
    public var featureCount: Int { rawShape.reduce(1, *) }

    /// An unfitted pipeline for `data`, as `config` describes it.
    static func make(for data: RawData, config: DataConfig, file: String?) throws -> InputPipeline {
        let raw = Array(data.inputs.shape.dropFirst())
        let count = raw.reduce(1, *)
        let shape = config.shape ?? raw
        guard shape.reduce(1, *) == count else {
            throw ConfigError(path: "data.shape", message: "expected a shape of \(count) values in all (one example has \(count), shape \(raw)), got \(shape)",
                              file: file)
        }
        if !config.augmentation.isEmpty && shape.count != 3 {
            throw ConfigError(path: "data.augmentation", message: "augmentations need image inputs [channels, height, width], got \(shape) per example (set data.shape)",
                              file: file)
        }
        let image = config.images.map { _ in
            ImageInput(channels: raw[0], height: raw[1], width: raw[2], filter: config.images!.filter)
        }
        return InputPipeline(rawShape: raw, scale: config.scale ?? (data.byteImages ? 1.0 / 255 : 1),
                             preparation: PreparationPipeline(config.preparation), shape: shape,
                             featureNames: data.featureNames, byteImages: data.byteImages, image: image)
    }

    /// Fits the preparation steps on raw training inputs.
    mutating func fit(_ raw: Tensor) throws {
        guard !preparation.steps.isEmpty else { return }
        let x = try scaled(raw)
        try preparation.fit(x)
        // Steps may change the number of features (dropping or adding columns): the model takes what comes out.
        let width = try preparation.transform(x.slice(axis: 0, start: 0, end: 1)).shape[1]
        if width != featureCount {
            guard shape == [featureCount] else {
                throw CLIError("data.shape \(shape) does not fit the \(width) features the preparation steps produce")
            }
            shape = [width]
        }
    }

    private func scaled(_ raw: Tensor) throws -> Tensor {
        guard raw.rank >= 1, Array(raw.shape.dropFirst()).reduce(1, *) == featureCount else {
            throw CLIError("inputs of shape \(raw.shape) do not fit this model: expected \(featureCount) values per example (shape \(rawShape))")
        }
        let flat = raw.cast(.float32).reshaped([raw.shape[0], featureCount])
        return scale == 1 ? flat : withoutGrad { flat.affine(scale, 0) }
    }

    /// Raw inputs `[N, ...]` as model inputs `[N] + shape`.
    public func apply(_ raw: Tensor) throws -> Tensor {
        var x = try scaled(raw)
        if !preparation.steps.isEmpty { x = try preparation.transform(x).cast(.float32) }
        return x.contiguous().reshaped([raw.shape[0]] + shape)
    }

    /// One line per step, for `inspect`.
    public var steps: [String] {
        var out: [String] = []
        if let image {
            out.append("decode image files, convert to \(image.channels == 1 ? "gray" : "RGB"), resize to \(image.width)x\(image.height) (\(image.filter.rawValue))")
        }
        out.append("flatten to \(featureCount) features" + (rawShape.count > 1 ? " (raw \(rawShape))" : ""))
        if scale != 1 { out.append("scale x \(formatNumber(scale))") }
        for s in preparation.steps {
            switch s {
            case .imputer(let i): out.append("impute missing values (\(i.strategy))")
            case .standardScaler: out.append("standardize (fitted mean and std per feature)")
            case .minMaxScaler(let m): out.append("min-max scale to [\(formatNumber(m.lower)), \(formatNumber(m.upper))]")
            case .robustScaler: out.append("robust scale (fitted median and quantile range)")
            default: out.append("\(s)")
            }
        }
        if shape.count > 1 { out.append("reshape to \(shape)") }
        return out
    }
}

/// A number without trailing zeros (`0.0625`, `3`, `1e-05`).
func formatNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return String(format: "%.6g", v)
}

/// The loader transform of the config's augmentations, for `[C, H, W]` examples of `shape`.
func augmentation(_ specs: [AugmentationSpec], shape: [Int]) -> DataLoader<TensorDataset, (input: Tensor, target: Tensor)>.Transform? {
    guard !specs.isEmpty, shape.count == 3 else { return nil }
    let steps: [any Augmentation] = specs.map { s in
        switch s {
        case .randomCrop(let p): return RandomCrop(height: shape[1], width: shape[2], padding: p)
        case .horizontalFlip(let p): return HorizontalFlip(p: p)
        case .verticalFlip(let p): return VerticalFlip(p: p)
        case .rotation(let d): return RandomRotation(d)
        case .colorJitter(let b, let c): return ColorJitter(brightness: b, contrast: c)
        case .gaussianNoise(let std): return GaussianNoise(std: std)
        case .randomErasing(let p): return RandomErasing(p: p)
        }
    }
    return Compose(steps).transform
}
