import Foundation
import Testing
@testable import EmberData

/// Images stay bytes through the dataset and the loader until the model's first op converts them.
@Suite struct ImageBytesTests {
    static func images(_ n: Int = 10) -> ImageDataset {
        ImageDataset(pixels: (0..<(n * 2 * 3 * 3)).map { UInt8(($0 * 37) % 256) }, labels: (0..<n).map { Int32($0 % 4) },
                     imageShape: [2, 3, 3], classNames: ["a", "b", "c", "d"])
    }

    @Test func examplesAndBatchesAreBytes() {
        let floats = Self.images(), bytes = floats.bytes()
        #expect(floats.pixelFormat == .float32 && bytes.pixelFormat == .uint8)
        let (x, y) = bytes[3]
        #expect(x.dtype == .uint8 && x.shape == [2, 3, 3] && y.toArray(Int64.self) == [3])
        #expect(x.toArray(UInt8.self) == Array(bytes.pixels[(3 * 18)..<(4 * 18)]))
        let (bx, by) = bytes.batch(at: [7, 0, 3])!
        #expect(bx.dtype == .uint8 && bx.shape == [3, 2, 3, 3] && by.toArray(Int64.self) == [3, 0, 3])
        let want: [UInt8] = [7, 0, 3].flatMap { (i: Int) -> [UInt8] in Array(bytes.pixels[(i * 18)..<((i + 1) * 18)]) }
        #expect(bx.toArray(UInt8.self) == want)
        // the float path is unchanged, and converting the bytes as a model's first op gives it bit for bit
        let (fx, _) = floats.batch(at: [7, 0, 3])!
        #expect(fx.dtype == .float32)
        let converted = bx.cast(.float32) * Double(bytes.scale)
        #expect(converted.toArray(Float.self).map(\.bitPattern) == fx.toArray(Float.self).map(\.bitPattern))
        #expect((floats[3].input.toArray(Float.self)) == (x.cast(.float32) * Double(floats.scale)).toArray(Float.self))
    }

    @Test func loaderHandsOutByteBatchesForAnyWorkerCount() throws {
        let data = Self.images(10).bytes()
        let reference = Array(DataLoader(Self.images(10), batchSize: 4, shuffle: true, rng: RandomState(seed: 9), workers: 0))
        for workers in [0, 2] {
            let loader = DataLoader(data, batchSize: 4, shuffle: true, rng: RandomState(seed: 9), workers: workers)
            let batches = Array(loader)
            #expect(batches.map(\.input.shape) == [[4, 2, 3, 3], [4, 2, 3, 3], [2, 2, 3, 3]])
            for (b, r) in zip(batches, reference) {
                #expect(b.input.dtype == .uint8)
                #expect(b.target.toArray(Int64.self) == r.target.toArray(Int64.self))
                #expect((b.input.cast(.float32) * Double(data.scale)).toArray(Float.self) == r.input.toArray(Float.self))
            }
        }
        // through a split (Subset keeps the fast path) and the per-example path (stacked bytes)
        var rng = RandomState(seed: 1)
        let (train, _) = data.split(validation: 0.2, rng: &rng)
        let first = Array(DataLoader(train, batchSize: 3, workers: 0))[0]
        #expect(first.input.dtype == .uint8 && first.input.shape == [3, 2, 3, 3])
        let stacked = Array(DataLoader(data, batchSize: 3, workers: 0, transform: { e, _ in e }))[0]
        #expect(stacked.input.dtype == .uint8 && stacked.input.toArray(UInt8.self) == data.batch(at: [0, 1, 2])!.input.toArray(UInt8.self))
    }
}
