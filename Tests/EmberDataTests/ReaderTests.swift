import Foundation
import Testing
@testable import EmberData

@Suite struct ByteReaderTests {
    @Test func plainAndGzipReadTheSame() throws {
        let dir = TempDir()
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        let plain = dir.write("data.bin", data)
        let packed = dir.write("data.bin.gz", gzip(data))
        for path in [plain, packed] {
            let r = try ByteReader(path: path)
            #expect(r.isGzip == (path == packed))
            // Odd-sized reads across chunk boundaries.
            var out: [UInt8] = []
            var size = 1
            while true {
                let part = try r.read(upTo: size)
                out += part
                if part.count < size { break }
                size = size * 3 + 7
            }
            #expect(out == data)
            #expect(try r.atEnd())
        }
    }

    @Test func concatenatedGzipMembersReadAsOne() throws {
        let dir = TempDir()
        let a = Array("hello ".utf8), b = Array("world".utf8)
        let path = dir.write("two.gz", gzip(a) + gzip(b))
        #expect(try ByteReader(path: path).readAll() == a + b)
    }

    @Test func emptyAndTinyFiles() throws {
        let dir = TempDir()
        #expect(try ByteReader(path: dir.write("empty", [])).readAll() == [])
        #expect(try ByteReader(path: dir.write("one", [0x1F])).readAll() == [0x1F])
        #expect(try ByteReader(path: dir.write("empty.gz", gzip([]))).readAll() == [])
    }

    @Test func atEndPeeksWithoutLosingData() throws {
        let dir = TempDir()
        let path = dir.write("x.gz", gzip([1, 2, 3]))
        let r = try ByteReader(path: path)
        #expect(try !r.atEnd())
        #expect(try r.read(upTo: 10) == [1, 2, 3])
        #expect(try r.atEnd())
    }
}

@Suite struct IDXTests {
    @Test func readsUInt8ImagesPlainAndGzipped() throws {
        let dir = TempDir()
        let values = (0..<24).map { UInt8($0 * 10) }
        let bytes = idxBytes(values, shape: [2, 3, 4])
        for path in [dir.write("a-idx3-ubyte", bytes), dir.write("a-idx3-ubyte.gz", gzip(bytes))] {
            let reader = try IDXReader(path: path)
            #expect(reader.header.shape == [2, 3, 4])
            #expect(reader.header.elementType == .uint8)
            #expect(reader.header.recordShape == [3, 4])
            #expect(try reader.nextRecord() == Array(values[0..<12]))
            #expect(try reader.nextRecord() == Array(values[12..<24]))
            #expect(try reader.nextRecord() == nil)
            let all = try IDXReader.read(path: path)
            #expect(all.tensor().shape == [2, 3, 4])
            #expect(all.tensor().scalars == values.map(Float.init))
            #expect(all.tensor(dtype: .int64).toArray(Int64.self) == values.map(Int64.init))
        }
    }

    @Test func decodesWiderBigEndianTypes() throws {
        let dir = TempDir()
        let i16: [UInt8] = [0xFF, 0xFE, 0x01, 0x00]                         // -2, 256
        let i32: [UInt8] = be32(-5 & 0xFFFF_FFFF) + be32(70000)
        let f32: [UInt8] = be32(Int(Float(1.5).bitPattern)) + be32(Int(Float(-0.25).bitPattern))
        let bits = Double(3.125).bitPattern
        let f64: [UInt8] = be32(Int(bits >> 32)) + be32(Int(bits & 0xFFFF_FFFF))
        let cases: [(UInt8, [UInt8], [Int], [Double])] = [
            (0x0B, i16, [2], [-2, 256]), (0x0C, i32, [2], [-5, 70000]), (0x0D, f32, [2], [1.5, -0.25]),
            (0x0E, f64, [1], [3.125]), (0x09, [0xFF, 0x7F], [2], [-1, 127]),
        ]
        for (type, payload, shape, want) in cases {
            let path = dir.write("t\(type).idx", idxBytes(payload, shape: shape, type: type))
            #expect(try IDXReader.read(path: path).doubles() == want)
        }
    }
}

@Suite struct CIFARTests {
    /// CIFAR-10 records exactly as the binary version stores them: 1 label byte, then 1024 R, 1024 G, 1024 B.
    static func records(_ labels: [UInt8]) -> [UInt8] {
        labels.enumerated().flatMap { i, l -> [UInt8] in
            [l] + (0..<3072).map { k in UInt8((k / 1024) * 80 + i) }
        }
    }

    @Test func readsRecordsStreamingAndWhole() throws {
        let dir = TempDir()
        let labels: [UInt8] = [3, 0, 9, 1]
        let bytes = Self.records(labels)
        for path in [dir.write("b.bin", bytes), dir.write("b.bin.gz", gzip(bytes))] {
            let r = try CIFARReader(path: path)
            var seen: [Int] = []
            while let rec = try r.nextRecord() {
                seen.append(rec.label)
                #expect(rec.pixels.count == 3072)
                #expect(rec.pixels[0] == UInt8(seen.count - 1) && rec.pixels[1024] == UInt8(80 + seen.count - 1))
            }
            #expect(seen == labels.map(Int.init))
            let all = try CIFARReader.read(path: path)
            #expect(all.labels == labels.map(Int32.init))
            #expect(all.pixels.count == 4 * 3072)
        }
    }

    @Test func cifar10DatasetFromStandardFiles() throws {
        let dir = TempDir()
        let sub = dir.path + "/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        for b in 1...5 {
            _ = FileManager.default.createFile(atPath: sub + "/data_batch_\(b).bin", contents: Data(Self.records([UInt8(b), UInt8(b + 1)])))
        }
        _ = FileManager.default.createFile(atPath: sub + "/test_batch.bin.gz", contents: Data(gzip(Self.records([7, 8, 9]))))
        let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        _ = FileManager.default.createFile(atPath: sub + "/batches.meta.txt", contents: Data((names.joined(separator: "\n") + "\n\n").utf8))
        let train = try Datasets.cifar10(.train, directory: dir.path)
        #expect(train.count == 10)
        #expect(train.labels == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
        #expect(train.classNames == names)
        let (x, y) = train[1]
        #expect(x.shape == [3, 32, 32])
        #expect(y.item() == 2)
        // Channel-major: pixel (c, h, w) of image 1 is c * 80 + 1, scaled by 1/255.
        #expect(abs(x[1, 0, 0].item() - 81.0 / 255) < 1e-6)
        let test = try Datasets.cifar10(.test, directory: sub)
        #expect(test.labels == [7, 8, 9])
        let batch = try #require(test.batch(at: [2, 0]))
        #expect(batch.input.shape == [2, 3, 32, 32])
        #expect(batch.target.toArray(Int64.self) == [9, 7])
    }
}

@Suite struct NPYTests {
    struct Expected: Decodable { let shape: [Int]; let values: [Double] }

    static func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: URL(fileURLWithPath: fixture("npy/expected.json"))))
    }

    @Test func readsEveryNumPyFixture() throws {
        let want = try Self.expected()
        #expect(want.count >= 12)
        for (name, e) in want {
            let a = try NPYArray(path: fixture("npy/\(name).npy"))
            let t = try a.tensor()
            #expect(t.shape == e.shape, "\(name)")
            #expect(t.toArray(Double.self) == e.values, "\(name)")
        }
    }

    @Test func dtypesMapToEmberTypes() throws {
        let cases: [(String, DType)] = [("f4_2x3", .float32), ("f8_fortran_3x2", .float64), ("i8_1d", .int64), ("u1_2x2", .int32),
                                        ("b1_3", .bool), ("f2_4", .float32), ("i4_big_endian", .int32), ("u4_2", .int64)]
        for (name, dtype) in cases {
            let a = try NPYArray(path: fixture("npy/\(name).npy"))
            #expect(a.dtype == dtype, "\(name)")
            #expect(try a.tensor().dtype == dtype, "\(name)")
        }
        #expect(try NPYArray(path: fixture("npy/f8_fortran_3x2.npy")).fortranOrder)
    }

    @Test func readsStoredAndDeflatedNpz() throws {
        let want = try Self.expected()
        let stored = try NPZArchive(path: fixture("npy/stored.npz"))
        #expect(stored.names == ["a", "b"])
        #expect(try stored.array("a").tensor().toArray(Double.self) == want["f4_2x3"]!.values)
        #expect(try stored.array("b.npy").tensor().toArray(Double.self) == want["i8_1d"]!.values)
        let compressed = try NPZArchive(path: fixture("npy/compressed.npz"))
        #expect(Set(compressed.names) == ["x", "y", "big"])
        let all = try compressed.arrays()
        #expect(try all["x"]!.tensor().toArray(Double.self) == want["f8_fortran_3x2"]!.values)
        #expect(try all["y"]!.tensor().shape == [2, 2])
        let big = try all["big"]!.tensor()
        #expect(big.shape == [1000] && big.toArray(Float.self).first == 0 && big.toArray(Float.self).last == 1)
        expectDataError(.notFound) { _ = try compressed.array("nope") }
    }

    @Test func gzippedNpyReadsTransparently() throws {
        let dir = TempDir()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/f4_2x3.npy"))))
        let a = try NPYArray(path: dir.write("a.npy.gz", gzip(bytes)))
        #expect(a.shape == [2, 3])
    }
}
