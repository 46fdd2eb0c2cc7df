import Foundation
import Testing
import EmberTestSupport
@testable import EmberData

/// Seeded mutation fuzzing of the .npz (zip), CIFAR-10 and image (PNG, JPEG) readers: every mutated file must read
/// or throw `DataError`, never trap (CSV, IDX and .npy are fuzzed through the command line's reader in EmberCLITests).
@Suite struct ReaderFuzzTests {
    static let rounds = 300

    func scratch(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-fuzz-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    @Test(arguments: ["npy/stored.npz", "npy/compressed.npz"])
    func npz(_ file: String) throws {
        let seed = Array(try Data(contentsOf: URL(fileURLWithPath: fixture(file))))
        let url = scratch("f.npz")
        var m = Mutator(state: file.hasPrefix("npy/stored") ? 21 : 22)
        for _ in 0..<Self.rounds {
            try Data(m.mutate(seed)).write(to: url)
            guard let archive = try? NPZArchive(path: url.path) else { continue }
            for name in archive.names { if let a = try? archive.array(name) { _ = try? a.tensor() } }
        }
    }

    @Test func cifar() throws {
        var seed: [UInt8] = []
        for r in 0..<2 { seed.append(UInt8(r * 7)); seed += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &* (r + 3)) } }
        let url = scratch("data_batch_1.bin")
        var m = Mutator(state: 23)
        for _ in 0..<Self.rounds {
            try Data(m.mutate(seed)).write(to: url)
            _ = try? CIFARReader.read(path: url.path)
        }
    }

    @Test(arguments: ["images/rgb8.png", "images/palette_trns.png", "images/rgb8_interlaced.png", "images/gray16.png",
                      "images/baseline420.jpg", "images/progressive.jpg", "images/gray.jpg"])
    func image(_ file: String) throws {
        let seed = Array(try Data(contentsOf: URL(fileURLWithPath: fixture(file))))
        var m = Mutator(state: 24 &+ UInt64(file.utf8.count))
        var decoded = 0, refused = 0
        for _ in 0..<Self.rounds {
            do {
                let image = try RasterImage(decoding: m.mutate(seed), name: file)
                #expect(image.pixels.count == image.width * image.height * image.channels)
                decoded += 1
            } catch is DataError {
                refused += 1
            }
        }
        #expect(decoded + refused == Self.rounds)
    }
}
