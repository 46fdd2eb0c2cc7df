import EmberCore
import Foundation
import Testing
@testable import EmberData

/// Class folders of PNG and JPEG files, as users keep them.
@Suite struct ImageFolderTests {
    /// `root/<class>/...` with `perClass` images each (one in a nested folder), a stray text file and, if asked, a
    /// damaged PNG in class "b".
    func makeFolder(_ dir: TempDir, perClass: Int = 4, damaged: Bool = false) throws -> String {
        let root = dir.path + "/train"
        for (k, name) in ["b", "a", "c"].enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/\(name)/nested", withIntermediateDirectories: true)
            for i in 0..<perClass {
                let w = 6 + i, h = 5 + k   // sizes differ: the dataset resizes
                let px = (0..<(w * h * 3)).map { UInt8(($0 * (k + 3) + i * 11) % 256) }
                let image = try RasterImage(width: w, height: h, channels: 3, pixels: px)
                let sub = i == 0 ? "nested/" : ""
                dir.write("train/\(name)/\(sub)img\(i).png", try image.pngData())
            }
        }
        dir.write("train/a/readme.txt", text: "not an image")
        dir.write("train/.hidden", text: "ignored")
        if damaged { dir.write("train/b/broken.png", Array(try RasterImage(width: 4, height: 4, channels: 1).pngData().prefix(30))) }
        return root
    }

    @Test func classesFilesAndExamples() throws {
        let dir = TempDir()
        let root = try makeFolder(dir)
        let data = try ImageFolder(root, size: (height: 8, width: 10))
        #expect(data.classNames == ["a", "b", "c"])
        #expect(data.count == 12 && data.classCounts == [4, 4, 4])
        #expect(data.files[0].hasSuffix("a/img1.png") && data.files[3].hasSuffix("a/nested/img0.png"))
        let (x, y) = data[5]
        #expect(x.shape == [3, 8, 10] && x.dtype == .float32 && y.toArray(Int64.self) == [1])
        // The example is the file decoded, resized as Pillow does, scaled by 1/255.
        let direct = try RasterImage(contentsOf: data.files[5]).resized(width: 10, height: 8).tensor()
        #expect(x.toArray(Float.self) == direct.toArray(Float.self))
        // Gray, bytes.
        let gray = try ImageFolder(root, size: (height: 8, width: 10), channels: 1, pixelFormat: .uint8)
        let g = gray[5].input
        #expect(g.shape == [1, 8, 10] && g.dtype == .uint8)
        #expect(g.toArray(UInt8.self) == (try RasterImage(contentsOf: data.files[5]).grayscale().resized(width: 10, height: 8).pixels))
    }

    @Test func sameSizeFilesNeedNoSizeAndOthersAreNamed() throws {
        let dir = TempDir()
        let root = try makeFolder(dir)
        let e = expectDataError(.sizeMismatch) { _ = try ImageFolder(root) }
        #expect(e?.description.contains("or give a size") == true)
        let even = dir.path + "/even"
        for name in ["x", "y"] {
            try FileManager.default.createDirectory(atPath: even + "/" + name, withIntermediateDirectories: true)
            for i in 0..<2 { dir.write("even/\(name)/\(i).png", try RasterImage(width: 3, height: 2, channels: 1, fill: [UInt8(i * 9)]).pngData()) }
        }
        let data = try ImageFolder(even, channels: 1)
        #expect(data.imageShape == [1, 2, 3] && data[3].input.toArray(Float.self) == [Float](repeating: Float(9) * (1.0 / 255), count: 6))
    }

    @Test func damagedFilesAreSkippedOrFailWithTheirPath() throws {
        let dir = TempDir()
        let root = try makeFolder(dir, damaged: true)
        let data = try ImageFolder(root, size: (height: 4, width: 4))
        #expect(data.count == 12 && data.skipped.count == 1 && data.skipped[0].file.hasSuffix("b/broken.png"))
        let e = expectDataError(.corrupt) { _ = try ImageFolder(root, size: (height: 4, width: 4), onError: .fail) }
        #expect(e?.file.hasSuffix("train/b/broken.png") == true)
        // Header-only checking finds a file cut inside its header too.
        let h = try ImageFolder(root, size: (height: 4, width: 4), check: .header)
        #expect(h.skipped.count == 1)
        expectDataError(.fileNotFound) { _ = try ImageFolder(dir.path + "/nowhere") }
        try FileManager.default.createDirectory(atPath: dir.path + "/empty/cls", withIntermediateDirectories: true)
        let empty = expectDataError(.notFound) { _ = try ImageFolder(dir.path + "/empty") }
        #expect(empty?.file.hasSuffix("empty/cls") == true)
    }

    @Test func classBalancedSplitAndLoader() throws {
        let dir = TempDir()
        let root = try makeFolder(dir, perClass: 5)
        let data = try ImageFolder(root, size: (height: 6, width: 6))
        var rng = RandomState(seed: 3)
        let (train, val) = try data.split(validation: 0.2, rng: &rng)
        #expect(train.count == 12 && val.count == 3)
        #expect(Set(val.indices.map { data.labels[$0] }) == [0, 1, 2])   // one of each class held out
        // Loader batches (decoded on the worker threads) equal the in-memory copy's, with and without workers.
        let memory = data.load()
        let a = Array(DataLoader(data.bytes(), batchSize: 4, shuffle: true, rng: RandomState(seed: 1), workers: 2))
        let b = Array(DataLoader(memory.bytes(), batchSize: 4, shuffle: true, rng: RandomState(seed: 1), workers: 0))
        #expect(a.count == 4 && a.count == b.count)
        for (p, q) in zip(a, b) {
            #expect(p.input.dtype == .uint8 && p.input.shape == q.input.shape)
            #expect(p.input.toArray(UInt8.self) == q.input.toArray(UInt8.self) && p.target.toArray(Int64.self) == q.target.toArray(Int64.self))
        }
        // Augmentation as for every image dataset.
        let flipped = Array(DataLoader(data, batchSize: 15, workers: 1, transform: HorizontalFlip(p: 1).transform))[0].input
        let plain = Array(DataLoader(data, batchSize: 15, workers: 1))[0].input
        #expect(flipped.toArray(Float.self) == plain.flipped(axes: [3]).contiguous().toArray(Float.self))
    }
}
