import CEmberZlib
import Foundation
import Testing
@testable import EmberData

/// Every reader fed damaged files: each must throw a `DataError` naming the file, where, and what was expected.
@Suite struct CorruptInputTests {
    @Test func missingFile() {
        let e = expectDataError(.fileNotFound) { _ = try ByteReader(path: "/nonexistent/dir/train.csv") }
        #expect(e?.file == "/nonexistent/dir/train.csv")
        expectDataError(.fileNotFound) { _ = try NPZArchive(path: "/nonexistent.npz") }
    }

    @Test func idxWrongMagic() throws {
        let dir = TempDir()
        let path = dir.write("bad.idx", [0x12, 0x34, 0x08, 0x01] + be32(2) + [1, 2])
        let e = expectDataError(.badMagic) { _ = try IDXReader(path: path) }
        #expect(e?.file == path && e?.location == .header)
        #expect(e?.description.contains("12 34 08 01") == true)
        let badType = dir.write("type.idx", [0, 0, 0x07, 1] + be32(1) + [1])
        expectDataError(.badMagic) { _ = try IDXReader(path: badType) }
    }

    @Test func idxSizeMismatch() throws {
        let dir = TempDir()
        let values = [UInt8](repeating: 7, count: 3 * 4)
        // Truncated inside record 2 (records are 4 bytes): plain files are checked on open ...
        let short = idxBytes(Array(values[0..<10]), shape: [3, 4])
        let e = expectDataError(.truncated) { _ = try IDXReader(path: dir.write("short.idx", short)) }
        #expect(e?.location == .record(2))
        #expect(e?.description.contains("12 bytes of data") == true)
        // ... gzipped ones when the data runs out.
        let gz = dir.write("short.idx.gz", gzip(short))
        let g = expectDataError(.truncated) { _ = try IDXReader.read(path: gz) }
        #expect(g?.location == .record(2) && g?.file == gz)
        let r = try IDXReader(path: gz)
        _ = try r.nextRecord(); _ = try r.nextRecord()
        #expect(throws: DataError.self) { _ = try r.nextRecord() }
        // Extra bytes after the data.
        let long = idxBytes(values + [1, 2], shape: [3, 4])
        expectDataError(.sizeMismatch) { _ = try IDXReader(path: dir.write("long.idx", long)) }
        expectDataError(.sizeMismatch) { _ = try IDXReader.read(path: dir.write("long.idx.gz", gzip(long))) }
        // A header that ends early, and absurd dimensions.
        expectDataError(.truncated) { _ = try IDXReader(path: dir.write("hdr.idx", [0, 0, 8, 3, 0, 0])) }
        let huge = dir.write("huge.idx.gz", gzip([0, 0, 8, 3] + be32(0x7FFF_FFFF) + be32(0x7FFF_FFFF) + be32(0x7FFF_FFFF)))
        expectDataError(.badHeader) { _ = try IDXReader.read(path: huge) }
        let big = dir.write("big.idx.gz", gzip([0, 0, 8, 2] + be32(1_000_000) + be32(1000) + [1, 2, 3]))
        expectDataError(.truncated) { _ = try IDXReader.read(path: big) }
    }

    @Test func corruptGzip() throws {
        let dir = TempDir()
        var z = gzip(idxBytes([UInt8](repeating: 1, count: 4000), shape: [4000]))
        for i in 20..<40 { z[i] ^= 0x5A }
        let e = expectDataError(.corrupt) { _ = try IDXReader.read(path: dir.write("c.idx.gz", z)) }
        #expect(e?.file.hasSuffix("c.idx.gz") == true)
        let cut = gzip(Array(repeating: 65, count: 5000)).dropLast(12)
        expectDataError(.truncated) { _ = try ByteReader(path: dir.write("cut.gz", Array(cut))).readAll() }
    }

    @Test func cifarTruncatedAndBadLabel() throws {
        let dir = TempDir()
        let good = CIFARTests.records([1, 2, 3])
        let e = expectDataError(.truncated) { _ = try CIFARReader(path: dir.write("t.bin", Array(good.dropLast(100)))) }
        #expect(e?.location == .record(2))
        let g = expectDataError(.truncated) { _ = try CIFARReader.read(path: dir.write("t.bin.gz", gzip(Array(good.dropLast(100))))) }
        #expect(g?.location == .record(2))
        var bad = good
        bad[3073] = 12
        let b = expectDataError(.badValue) { _ = try CIFARReader.read(path: dir.write("l.bin", bad)) }
        #expect(b?.location == .record(1) && b?.found == "12")
        expectDataError(.datasetUnavailable) { _ = try Datasets.cifar10(.train, directory: dir.path) }
    }

    @Test func csvWrongFieldCountAndBadQuotes() throws {
        let dir = TempDir()
        let path = dir.write("f.csv", text: "a,b,c\n1,2,3\n4,5\n")
        let e = expectDataError(.fieldCount) { _ = try CSVTable(path: path) }
        #expect(e?.location == .line(3) && e?.file == path)
        #expect(e?.description == "\(path), line 3: expected 3 fields (as on line 1), found 2")
        expectDataError(.badValue) { _ = try CSVReader(path: dir.write("q.csv", text: "a,\"b\"x,c\n")).readAll() }
        let u = expectDataError(.truncated) { _ = try CSVReader(path: dir.write("u.csv", text: "a,b\n1,\"open\n2,3\n")).readAll() }
        #expect(u?.location == .line(2))
    }

    @Test func csvNonNumericInNumericColumn() throws {
        let dir = TempDir()
        let path = dir.write("n.csv", text: "x,y\n1,2\n3,oops\n")
        let e = expectDataError(.badValue) { _ = try CSVTable(path: path, options: CSVOptions(columnTypes: ["y": .numeric])) }
        #expect(e?.location == .field(line: 3, column: "y") && e?.found == "'oops'")
        // Inferred as text: asking for numbers names the offending value.
        let t = try CSVTable(path: path)
        let n = expectDataError(.badValue) { _ = try t.tensor(columns: ["x", "y"]) }
        #expect(n?.location == .field(line: 3, column: "y"))
        expectDataError(.notFound) { _ = try t.numbers("z") }
        expectDataError(.notFound) { _ = try CSVTable(path: path, options: CSVOptions(columnTypes: ["z": .numeric])) }
        let m = dir.write("m.csv", text: "x,label\n1,a\n2,NA\n")
        expectDataError(.badValue) { _ = try CSVTable(path: m).classLabels(column: "label") }
    }

    @Test func npyBadHeaders() throws {
        let dir = TempDir()
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/f4_2x3.npy"))))
        var magic = good
        magic[1] = 0x58
        expectDataError(.badMagic) { _ = try NPYArray(path: dir.write("m.npy", magic)) }
        expectDataError(.truncated) { _ = try NPYArray(path: dir.write("short.npy", Array(good.prefix(8)))) }
        expectDataError(.truncated) { _ = try NPYArray(path: dir.write("hdr.npy", Array(good.prefix(40)))) }
        let d = expectDataError(.truncated) { _ = try NPYArray(path: dir.write("data.npy", Array(good.dropLast(4)))) }
        #expect(d?.description.contains("24 bytes of data") == true)
        expectDataError(.sizeMismatch) { _ = try NPYArray(path: dir.write("long.npy", good + [0])) }
        var version = good
        version[6] = 9
        expectDataError(.unsupported) { _ = try NPYArray(path: dir.write("v.npy", version)) }

        func npy(_ header: String) -> [UInt8] {
            let h = Array(header.utf8)
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.count & 255), UInt8(h.count >> 8)] + h
        }
        let h = expectDataError(.badHeader) { _ = try NPYArray(bytes: npy("{'descr': '<f4', 'shape': (2,3)"), file: "x.npy") }
        #expect(h?.file == "x.npy" && h?.location == .header)
        expectDataError(.badHeader) { _ = try NPYArray(bytes: npy("{'descr': '<f4', 'shape': (2,)}\n"), file: "k.npy") }
        expectDataError(.badHeader) { _ = try NPYArray(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"), file: "s.npy") }
        expectDataError(.badHeader) { _ = try NPYArray(bytes: npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}"), file: "f.npy") }
        expectDataError(.unsupported) { _ = try NPYArray(bytes: npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}") + [0, 0, 0, 0, 0, 0, 0, 0], file: "o.npy") }
        expectDataError(.unsupported) { _ = try NPYArray(bytes: npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}"), file: "r.npy") }
        expectDataError(.badHeader) { _ = try NPYArray(bytes: npy(String(repeating: "(", count: 100)), file: "deep.npy") }
    }

    @Test func npzDamaged() throws {
        let dir = TempDir()
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/compressed.npz"))))
        expectDataError(.badMagic) { _ = try NPZArchive(path: dir.write("not.npz", Array("hello".utf8))) }
        expectDataError(.badMagic) { _ = try NPZArchive(path: dir.write("cut.npz", Array(good.prefix(good.count / 2)))) }
        // Flip bytes inside the first member's deflate data: corrupt or CRC mismatch, never a crash.
        var flipped = good
        for i in 80..<120 { flipped[i] ^= 0xA5 }
        let archive = try NPZArchive(path: dir.write("flip.npz", flipped))
        var threw = 0
        for n in archive.names {
            do { _ = try archive.array(n).tensor() } catch let e as DataError {
                threw += 1
                #expect(e.file.hasSuffix("flip.npz") || e.file.contains("flip.npz/"))
            }
        }
        #expect(threw >= 1)
        // Every possible truncation of a small archive throws cleanly.
        let stored = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/stored.npz"))))
        for cut in stride(from: 0, to: stored.count, by: 7) {
            let p = dir.write("t\(cut).npz", Array(stored.prefix(cut)))
            #expect(throws: DataError.self) { let a = try NPZArchive(path: p); _ = try a.arrays() }
        }
    }

    @Test func fashionMNISTMissingNamesTheInstallCommand() throws {
        let dir = TempDir()
        let e = expectDataError(.datasetUnavailable) { _ = try Datasets.fashionMNIST(.train, directory: dir.path) }
        #expect(e?.description.contains("apt-get install -y dataset-fashion-mnist") == true)
        expectDataError(.notFound) { _ = try Datasets.load("imagenet") }
    }

    @Test func mnistLabelsMustMatchImages() throws {
        let dir = TempDir()
        dir.write("train-images-idx3-ubyte", idxBytes([UInt8](repeating: 0, count: 3 * 4), shape: [3, 2, 2]))
        dir.write("train-labels-idx1-ubyte.gz", gzip(idxBytes([1, 2], shape: [2])))
        expectDataError(.sizeMismatch) { _ = try Datasets.mnist(.train, directory: dir.path) }
        dir.write("train-labels-idx1-ubyte.gz", gzip(idxBytes([1, 2, 10], shape: [3])))
        let e = expectDataError(.badValue) { _ = try Datasets.mnist(.train, directory: dir.path) }
        #expect(e?.location == .record(2))
        dir.write("train-labels-idx1-ubyte.gz", gzip(idxBytes([1, 2, 9], shape: [3])))
        let ok = try Datasets.mnist(.train, directory: dir.path)
        #expect(ok.count == 3 && ok.imageShape == [1, 2, 2])
    }

    /// Random byte damage and truncation of valid files of every format: each read either succeeds or throws a
    /// `DataError`; nothing crashes.
    @Test func randomDamageNeverCrashes() throws {
        let dir = TempDir()
        let npy = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/f8_3d_fortran.npy"))))
        let npz = Array(try Data(contentsOf: URL(fileURLWithPath: fixture("npy/compressed.npz"))))
        let idx = idxBytes((0..<60).map { UInt8($0) }, shape: [3, 4, 5])
        let csv = Array("a,b,c\n1,\"x, y\",3\n4,NA,\"q\"\"\"\n7,8,9\n".utf8)
        let cifar = CIFARTests.records([1, 2])
        let readers: [(String, [UInt8], (String) throws -> Void)] = [
            ("f.npy", npy, { _ = try NPYArray(path: $0).tensor() }),
            ("f.npz", npz, { let a = try NPZArchive(path: $0); for n in a.names { _ = try a.array(n).tensor() } }),
            ("f.idx", idx, { _ = try IDXReader.read(path: $0).tensor() }),
            ("f.idx.gz", gzip(idx), { _ = try IDXReader.read(path: $0).tensor() }),
            ("f.csv", csv, { _ = try CSVTable(path: $0).tensor(columns: nil) }),
            ("f.csv.gz", gzip(csv), { _ = try CSVTable(path: $0) }),
            ("f.bin", cifar, { _ = try CIFARReader.read(path: $0) }),
            ("f.bin.gz", gzip(cifar), { _ = try CIFARReader.read(path: $0) }),
        ]
        var rng = RandomState(seed: 2024)
        for (name, good, read) in readers {
            for trial in 0..<36 {
                var bytes = good
                switch trial % 3 {
                case 0:
                    bytes = Array(bytes.prefix(rng.nextInt(below: bytes.count)))
                case 1:
                    for _ in 0...rng.nextInt(below: 4) { bytes[rng.nextInt(below: bytes.count)] = UInt8(rng.nextInt(below: 256)) }
                default:
                    let at = rng.nextInt(below: Swift.min(bytes.count, 64))
                    bytes[at] = UInt8(truncatingIfNeeded: Int(bytes[at]) + 1 + rng.nextInt(below: 255))
                }
                let path = dir.write("\(trial)-\(name)", bytes)
                do { try read(path) } catch is DataError {} catch {
                    Issue.record("\(name) trial \(trial): expected success or DataError, got \(error)")
                }
            }
        }
    }
}

/// `.npz` archives from outside: names that escape a folder and zip bombs are refused with a clear error.
@Suite struct ZipSafetyTests {
    /// Raw deflate (no zlib header), as zip members hold it.
    func deflateRaw(_ bytes: [UInt8]) -> [UInt8] {
        var z = z_stream()
        precondition(deflateInit2_(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&z) }
        var input = bytes
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&z, uLong(bytes.count))) + 64)
        let n: Int = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                z.next_in = inp.baseAddress; z.avail_in = uInt(inp.count)
                z.next_out = o.baseAddress; z.avail_out = uInt(o.count)
                precondition(deflate(&z, Z_FINISH) == Z_STREAM_END)
                return o.count - Int(z.avail_out)
            }
        }
        return Array(out.prefix(n))
    }

    /// A zip archive of `members` (name, content, deflated?, declared uncompressed size — the true one if nil).
    func zip(_ members: [(String, [UInt8], Bool, Int?)]) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8 & 255)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16(v >> 16 & 0xFFFF) }
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, content, deflated, declared) in members {
            let data = deflated ? deflateRaw(content) : content
            let crc = Int(content.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
            let fields = le16(20) + le16(0) + le16(deflated ? 8 : 0) + le16(0) + le16(0x21) + le32(crc) + le32(data.count)
                + le32(declared ?? content.count) + le16(name.utf8.count) + le16(0)
            let offset = out.count
            out += le32(0x0403_4B50) + fields + Array(name.utf8) + data
            central += le32(0x0201_4B50) + le16(20) + fields + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + Array(name.utf8)
        }
        let dirOffset = out.count
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count) + le32(central.count)
            + le32(dirOffset) + le16(0)
        return out
    }

    let npy: [UInt8] = {
        let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }"
        var h = Array(header.utf8)
        while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
        h.append(0x0A)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.count & 255), UInt8(h.count >> 8)] + h + [1, 2, 3, 4]
    }()

    @Test func wellFormedArchiveReads() throws {
        let dir = TempDir()
        let p = dir.write("ok.npz", zip([("x.npy", npy, true, nil), ("y.npy", npy, false, nil)]))
        let a = try NPZArchive(path: p)
        #expect(a.names == ["x", "y"])
        #expect(try a.array("x").tensor().toArray(UInt8.self) == [1, 2, 3, 4])
        #expect(try a.array("y").tensor().toArray(UInt8.self) == [1, 2, 3, 4])
    }

    @Test func pathTraversalNamesAreRefused() {
        let dir = TempDir()
        for bad in ["../evil.npy", "a/../../evil.npy", "/etc/passwd.npy", "C:evil.npy", "a\\..\\b.npy"] {
            let p = dir.write("t.npz", zip([("x.npy", npy, false, nil), (bad, npy, false, nil)]))
            let e = expectDataError(.badHeader) { _ = try NPZArchive(path: p) }
            #expect(e?.file == p && e?.description.contains("member names inside the archive") == true, "\(bad): \(String(describing: e))")
        }
    }

    @Test func zipBombsAreRefused() throws {
        let dir = TempDir()
        // A member claiming far more than deflate can give from its bytes: refused before inflating.
        let claim = dir.write("claim.npz", zip([("x.npy", npy, true, 1 << 40)]))
        let e = expectDataError(.corrupt) { _ = try NPZArchive(path: claim).array("x") }
        #expect(e?.location == .member("x.npy") && e?.description.contains("zip bomb") == true)
        // A member inflating to more than it declares (a lying header): stopped as soon as it passes the size.
        let big = npy + [UInt8](repeating: 0, count: 1 << 20)
        let lying = dir.write("lying.npz", zip([("x.npy", big, true, npy.count)]))
        let l = expectDataError(.corrupt) { _ = try NPZArchive(path: lying).array("x") }
        #expect(l?.description.contains("declared") == true)
        // Within a lowered member limit only.
        let p = dir.write("ok.npz", zip([("x.npy", npy, true, nil)]))
        let z = try ZipArchive(path: p, memberLimit: 10)
        expectDataError(.unsupported) { _ = try z.contents(of: z.entries[0]) }
    }
}
