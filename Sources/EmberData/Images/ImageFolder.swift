import Dispatch
import EmberCore
import Foundation
import Synchronization

/// Images in class folders, as users keep them and as torchvision's `ImageFolder` and Keras'
/// `image_dataset_from_directory` read them: `root/<class>/**/<image>.png|jpg`. Classes are the sub-folder names
/// sorted; files are found recursively under each, sorted by path.
///
/// Example `i` is `(input: [C, H, W], target: Int64 [])`, decoded when it is read (on the loader's worker threads),
/// converted to `channels`, resized to `size` (Pillow's bilinear by default) and scaled like `ImageDataset` (float32
/// in [0, 1], or the bytes with `pixelFormat: .uint8`). Augmentations go in the loader's `transform`, as for every
/// image dataset.
///
/// ```swift
/// let data = try ImageFolder("photos/train", size: (height: 64, width: 64))
/// var rng = RandomState(seed: 1)
/// let (train, val) = try data.split(validation: 0.2, rng: &rng)     // each class keeps its share
/// let loader = DataLoader(train, batchSize: 32, shuffle: true, workers: 2, transform: HorizontalFlip().transform)
/// ```
///
/// **Damaged files** are found when the dataset is made: every file is decoded once (`check: .decode`, the
/// default) or only its header is read (`check: .header`, faster). With `onError: .skip` they are left out and
/// listed in `skipped`; with `.fail` the first one throws its `DataError`, naming the path. A file that breaks after
/// the check (changed on disk) reads as a black image and is reported on standard error, never a crash.
public struct ImageFolder: Dataset {
    /// One example: an image and its class index.
    public typealias Element = (input: Tensor, target: Tensor)

    /// What to do with files that cannot be decoded.
    public enum ErrorPolicy: Sendable, Equatable {
        /// Leave them out; `skipped` lists them with their errors.
        case skip
        /// Throw the first one's `DataError`.
        case fail
    }

    /// How much of each file is checked when the dataset is made.
    public enum Check: Sendable, Equatable {
        /// Decode every file once (finds damage anywhere in the file).
        case decode
        /// Read each file's header only (finds files that are not images or are cut short before the pixels).
        case header
    }

    /// The folder the classes are read from.
    public let root: String
    /// Every image file, sorted by class and then by path.
    public let files: [String]
    /// The class index of each file.
    public let labels: [Int32]
    /// The class names (the sub-folder names, sorted), indexed by label.
    public let classNames: [String]
    /// The files left out by `onError: .skip`, with their errors.
    public let skipped: [DataError]
    /// The shape of every example, `[channels, height, width]`.
    public let imageShape: [Int]
    /// How images are resized to `imageShape`.
    public var filter: ResizeFilter
    /// Factor applied to each byte when converting to float32.
    public var scale: Float
    /// The dtype of the images this dataset hands out (float32 scaled, or the bytes).
    public var pixelFormat: ImageDataset.PixelFormat
    private let lateFailures = LateFailures()

    /// The image files under `root`'s class folders.
    ///
    /// - Parameters:
    ///   - root: a folder with one sub-folder per class.
    ///   - size: every image is resized to this; nil keeps the files' own size, which must then be the same for all.
    ///   - channels: 1 (gray, Pillow's luma), 3 (RGB, the default) or 4 (RGBA).
    ///   - filter: the resize filter.
    ///   - extensions: the file name extensions taken as images (lowercase, no dot); other files are ignored.
    ///   - onError: skip damaged files or fail on the first.
    ///   - check: decode every file now, or only read headers.
    ///   - pixelFormat: float32 (bytes times `scale`) or the uint8 bytes.
    /// - Throws: `DataError` naming the folder when it is missing or holds no class folder with images, or naming the
    ///   file (with `onError: .fail`) that cannot be decoded, or whose size differs when `size` is nil.
    public init(_ root: String, size: (height: Int, width: Int)? = nil, channels: Int = 3, filter: ResizeFilter = .bilinear,
                extensions: Set<String> = ImageFormat.fileExtensions, onError: ErrorPolicy = .skip, check: Check = .decode,
                pixelFormat: ImageDataset.PixelFormat = .float32, scale: Float = 1.0 / 255) throws {
        precondition([1, 3, 4].contains(channels), "ImageFolder: channels must be 1, 3 or 4, got \(channels)")
        if let size { precondition(size.height > 0 && size.width > 0, "ImageFolder: size must be positive, got \(size)") }
        let (classNames, found) = try Self.scan(root, extensions: Set(extensions.map { $0.lowercased() }))
        // Check every file (both cores), keeping the order.
        let results = Mutex([Int: Result<[Int], DataError>]())
        let paths = found.map(\.path)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let r: Result<[Int], DataError>   // [height, width]
            do {
                if check == .decode {
                    let image = try RasterImage(contentsOf: paths[i])
                    r = .success([image.height, image.width])
                } else {
                    let header = try RasterImage.header(contentsOf: paths[i])
                    r = .success([header.height, header.width])
                }
            } catch let e as DataError {
                r = .failure(e)
            } catch {
                r = .failure(DataError(.io, file: paths[i], expected: "an image file", found: "\(error)"))
            }
            results.withLock { $0[i] = r }
        }
        let checked = results.withLock { $0 }
        var files: [String] = [], labels: [Int32] = [], skipped: [DataError] = []
        var firstSize: (path: String, height: Int, width: Int)?
        for (i, f) in found.enumerated() {
            switch checked[i]! {
            case .failure(let e):
                if onError == .fail { throw e }
                skipped.append(e)
            case .success(let hw):
                if size == nil {
                    if let s = firstSize, s.height != hw[0] || s.width != hw[1] {
                        throw DataError(.sizeMismatch, file: f.path, expected: "\(s.width)x\(s.height) pixels like \(s.path) (or give a size to resize to)",
                                        found: "\(hw[1])x\(hw[0])")
                    }
                    if firstSize == nil { firstSize = (f.path, hw[0], hw[1]) }
                }
                files.append(f.path)
                labels.append(Int32(f.label))
            }
        }
        guard !files.isEmpty else {
            throw DataError(.notFound, file: root, expected: "readable images in its class folders",
                            found: skipped.isEmpty ? "none" : "\(skipped.count) damaged files, e.g. \(skipped[0])")
        }
        self.root = root
        self.files = files
        self.labels = labels
        self.classNames = classNames
        self.skipped = skipped
        let (h, w) = size.map { ($0.height, $0.width) } ?? (firstSize!.height, firstSize!.width)
        imageShape = [channels, h, w]
        self.filter = filter
        self.scale = scale
        self.pixelFormat = pixelFormat
    }

    /// Class folders (sorted) and the image files under each (recursively, sorted by path).
    static func scan(_ root: String, extensions: Set<String>) throws -> (classes: [String], files: [(path: String, label: Int)]) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDir) else {
            throw DataError(.fileNotFound, file: root, expected: "a folder with one sub-folder of images per class")
        }
        guard isDir.boolValue else { throw DataError(.badHeader, file: root, expected: "a folder with one sub-folder of images per class", found: "a file") }
        let rootURL = URL(fileURLWithPath: root)
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: root) } catch {
            throw DataError(.io, file: root, expected: "a readable folder", found: "\(error.localizedDescription)")
        }
        let classes = entries.filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: rootURL.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }.sorted()
        var files: [(String, Int)] = []
        var kept: [String] = []
        for name in classes {
            let dir = rootURL.appendingPathComponent(name)
            var paths: [String] = []
            if let walker = fm.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) {
                for case let url as URL in walker where extensions.contains(url.pathExtension.lowercased()) {
                    if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { paths.append(url.path) }
                }
            }
            // torchvision keeps classes without images (an empty class is a mistake we would rather name).
            guard !paths.isEmpty else {
                throw DataError(.notFound, file: dir.path, expected: "images (\(extensions.sorted().joined(separator: ", "))) in class folder '\(name)'",
                                found: "none")
            }
            let label = kept.count
            kept.append(name)
            files += paths.sorted().map { ($0, label) }
        }
        guard !kept.isEmpty else {
            throw DataError(.notFound, file: root, expected: "one sub-folder of images per class", found: "no sub-folders")
        }
        return (kept, files)
    }

    /// Number of images.
    public var count: Int { files.count }

    /// The decoded image at `index`, converted and resized to `imageShape` (before `pixelFormat` and `scale`).
    public func image(at index: Int) -> RasterImage {
        precondition(index >= 0 && index < count, "ImageFolder: index \(index) is out of range for \(count) images")
        let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
        do {
            let image = try RasterImage(contentsOf: files[index])
            return image.converted(channels: c).resized(width: w, height: h, filter: filter)
        } catch {
            lateFailures.report(files[index], error)
            return RasterImage(width: w, height: h, channels: c)
        }
    }

    /// Image `index` as `[C, H, W]` (float32 scaled, or uint8) and its label as an Int64 scalar.
    public subscript(index: Int) -> Element {
        (image(at: index).tensor(pixelFormat, scale: scale), Tensor([Int64(labels[index])], shape: []))
    }

    /// This dataset handing out its images as uint8 bytes.
    public func bytes() -> ImageFolder {
        var d = self
        d.pixelFormat = .uint8
        return d
    }

    /// A seeded split that keeps each class folder's share in both parts (at least one image of every class in
    /// each); `validation` is the fraction held out.
    /// - Throws: `PreparationError.tooFewSamples` when a class has fewer than 2 images or a part would miss a class.
    public func split(validation fraction: Double, rng: inout RandomState) throws -> (train: Subset<ImageFolder>, validation: Subset<ImageFolder>) {
        let (tr, va) = try Splits.trainTest(count: count, testFraction: fraction, stratifyBy: labelIndices, rng: &rng)
        return (Subset(self, indices: tr), Subset(self, indices: va))
    }

    /// Every image decoded into memory as an `ImageDataset` (same order, labels and classes), decoding on both cores.
    public func load() -> ImageDataset {
        let n = imageShape.reduce(1, *)
        var pixels = [UInt8](repeating: 0, count: count * n)
        pixels.withUnsafeMutableBufferPointer { out in
            let base = UnsafeSendablePointer(out.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: count) { i in
                let planar = image(at: i).planarPixels
                planar.withUnsafeBufferPointer { base.pointer.advanced(by: i * n).update(from: $0.baseAddress!, count: n) }
            }
        }
        return ImageDataset(pixels: pixels, labels: labels, imageShape: imageShape, classNames: classNames, scale: scale,
                            pixelFormat: pixelFormat)
    }

    /// How many images each class has, indexed by label.
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: classNames.count)
        for l in labels { c[Int(l)] += 1 }
        return c
    }

    /// The labels as Swift integers (for samplers and stratified splits).
    public var labelIndices: [Int] { labels.map { Int($0) } }

    /// Files that failed to decode after the check (changed on disk since), in the order met.
    public var failuresAfterCheck: [String] { lateFailures.paths }
}

/// Files that could not be decoded when read (after the dataset's check), each reported once on standard error.
private final class LateFailures: Sendable {
    private let seen = Mutex([String]())

    func report(_ path: String, _ error: any Error) {
        let first = seen.withLock { s -> Bool in
            if s.contains(path) { return false }
            s.append(path)
            return true
        }
        if first { FileHandle.standardError.write(Data("ImageFolder: \(error); reading it as a black image\n".utf8)) }
    }

    var paths: [String] { seen.withLock { $0 } }
}

/// A raw pointer handed to concurrent workers that write disjoint ranges.
private struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    init(_ p: UnsafeMutablePointer<UInt8>) { pointer = p }
}
