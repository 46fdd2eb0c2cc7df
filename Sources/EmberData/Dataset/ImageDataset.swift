import EmberCore

/// Labelled 8-bit images held compactly in memory (one byte per pixel), converted to float tensors on read.
///
/// This is what the IDX (MNIST, Fashion-MNIST) and CIFAR readers produce. Example `i` is
/// `(input: Float [C, H, W] = pixel * scale, target: Int64 [])`; with the default scale 1/255 pixels lie in [0, 1],
/// as torchvision's `ToTensor` gives. Batches are converted straight from the bytes into `[B, C, H, W]`.
public struct ImageDataset: Dataset {
    /// One example: an image and its class index.
    public typealias Element = (input: Tensor, target: Tensor)

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

    /// Images from `pixels` (`labels.count` images of `imageShape`, CHW) with their labels.
    public init(pixels: [UInt8], labels: [Int32], imageShape: [Int], classNames: [String], scale: Float = 1.0 / 255) {
        precondition(imageShape.count == 3, "ImageDataset: imageShape must be [channels, height, width], got \(imageShape)")
        precondition(pixels.count == labels.count * imageShape.reduce(1, *),
                     "ImageDataset: \(pixels.count) pixels do not hold \(labels.count) images of \(imageShape)")
        self.pixels = pixels
        self.labels = labels
        self.imageShape = imageShape
        self.classNames = classNames
        self.scale = scale
    }

    /// Number of images.
    public var count: Int { labels.count }

    private var imageSize: Int { imageShape.reduce(1, *) }

    /// Image `index` as Float [C, H, W] and its label as an Int64 scalar.
    public subscript(index: Int) -> Element {
        precondition(index >= 0 && index < count, "ImageDataset: index \(index) is out of range for \(count) images")
        let n = imageSize, base = index * n, s = scale
        let values = pixels.withUnsafeBufferPointer { p in (0..<n).map { Float(p[base + $0]) * s } }
        return (Tensor(values, shape: imageShape), Tensor([Int64(labels[index])], shape: []))
    }

    /// The images at `indices` as Float [B, C, H, W] and their labels as Int64 [B].
    public func batch(at indices: [Int]) -> Element? {
        let n = imageSize, s = scale
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
