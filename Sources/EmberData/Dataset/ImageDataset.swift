import EmberCore

/// Labelled 8-bit images held compactly in memory (one byte per pixel), converted to float tensors on read.
///
/// This is what the IDX (MNIST, Fashion-MNIST) and CIFAR readers produce. Example `i` is
/// `(input: Float [C, H, W] = pixel * scale, target: Int64 [])`; with the default scale 1/255 pixels lie in [0, 1],
/// as torchvision's `ToTensor` gives. Batches are converted straight from the bytes into `[B, C, H, W]`.
///
/// **Bytes until the model.** With `pixelFormat = .uint8` (or `bytes()`) images and batches are the bytes themselves,
/// uint8 `[C, H, W]` / `[B, C, H, W]`: a quarter of the memory and copying per batch. The model's first op converts
/// them; `x.cast(.float32) * Double(dataset.scale)` gives bit for bit the float32 batch the default format gives.
/// ```swift
/// let loader = DataLoader(try Datasets.fashionMNIST().bytes(), batchSize: 64, shuffle: true)
/// for (x, y) in loader { let logits = model(x.cast(.float32) * (1.0 / 255)); ... }
/// ```
/// Augmentations compute in float32, so with a `transform` the loader's images come out float32 in 0...255 (not
/// scaled); the same first op handles both.
public struct ImageDataset: Dataset {
    /// One example: an image and its class index.
    public typealias Element = (input: Tensor, target: Tensor)

    /// The dtype images are handed out in.
    public enum PixelFormat: Sendable, Equatable {
        /// float32, each byte times `scale` (the default).
        case float32
        /// The bytes as uint8, unscaled.
        case uint8
    }

    /// All pixels, image after image, each image channel-major (CHW).
    public let pixels: [UInt8]
    /// The class index of each image.
    public let labels: [Int32]
    /// Channels, height and width of every image.
    public let imageShape: [Int]
    /// Class names, indexed by label.
    public let classNames: [String]
    /// Factor applied to each byte when converting to Float.
    public var scale: Float
    /// The dtype of the images this dataset hands out (float32 scaled, or the bytes).
    public var pixelFormat: PixelFormat

    /// Images from `pixels` (`labels.count` images of `imageShape`, CHW) with their labels.
    public init(pixels: [UInt8], labels: [Int32], imageShape: [Int], classNames: [String], scale: Float = 1.0 / 255,
                pixelFormat: PixelFormat = .float32) {
        precondition(imageShape.count == 3, "ImageDataset: imageShape must be [channels, height, width], got \(imageShape)")
        precondition(pixels.count == labels.count * imageShape.reduce(1, *),
                     "ImageDataset: \(pixels.count) pixels do not hold \(labels.count) images of \(imageShape)")
        self.pixels = pixels
        self.labels = labels
        self.imageShape = imageShape
        self.classNames = classNames
        self.scale = scale
        self.pixelFormat = pixelFormat
    }

    /// This dataset handing out its images as uint8 bytes (see `PixelFormat.uint8`).
    public func bytes() -> ImageDataset {
        var d = self
        d.pixelFormat = .uint8
        return d
    }

    /// Number of images.
    public var count: Int { labels.count }

    private var imageSize: Int { imageShape.reduce(1, *) }

    /// Image `index` as Float [C, H, W] (uint8 with `pixelFormat = .uint8`) and its label as an Int64 scalar.
    public subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "ImageDataset: index \(index) is out of range for \(count) images")
        let n = imageSize, base = index * n, s = scale
        if pixelFormat == .uint8 {
            return (Tensor(Array(pixels[base..<(base + n)]), shape: imageShape), Tensor([Int64(labels[index])], shape: []))
        }
        let values = pixels.withUnsafeBufferPointer { p in (0..<n).map { Float(p[base + $0]) * s } }
        return (Tensor(values, shape: imageShape), Tensor([Int64(labels[index])], shape: []))
    }

    /// The images at `indices` as Float [B, C, H, W] (uint8 with `pixelFormat = .uint8`) and their labels as
    /// Int64 [B].
    public func batch(at indices: [Int]) -> Element? {
        let n = imageSize, s = scale
        if pixelFormat == .uint8 {
            var bytes = [UInt8](repeating: 0, count: indices.count * n)
            bytes.withUnsafeMutableBufferPointer { out in
                pixels.withUnsafeBufferPointer { p in
                    for (b, i) in indices.enumerated() {
                        precondition(i >= 0 && i < count, "ImageDataset: index \(i) is out of range for \(count) images")
                        out.baseAddress!.advanced(by: b * n).update(from: p.baseAddress!.advanced(by: i * n), count: n)
                    }
                }
            }
            return (Tensor(bytes, shape: [indices.count] + imageShape), Tensor(indices.map { Int64(labels[$0]) }))
        }
        var values = [Float](repeating: 0, count: indices.count * n)
        values.withUnsafeMutableBufferPointer { out in
            pixels.withUnsafeBufferPointer { p in
                for (b, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "ImageDataset: index \(i) is out of range for \(count) images")
                    let src = i * n, dst = b * n
                    for k in 0..<n { out[dst + k] = Float(p[src + k]) * s }
                }
            }
        }
        return (Tensor(values, shape: [indices.count] + imageShape), Tensor(indices.map { Int64(labels[$0]) }))
    }

    /// How many images each class has, indexed by label.
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: Swift.max(classNames.count, (labels.max().map { Int($0) + 1 }) ?? 0))
        for l in labels { c[Int(l)] += 1 }
        return c
    }

    /// The labels as Swift integers (for samplers and stratified splits).
    public var labelIndices: [Int] { labels.map { Int($0) } }
}
