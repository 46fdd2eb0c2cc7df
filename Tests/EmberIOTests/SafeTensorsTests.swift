import Foundation
import Testing
import EmberTestSupport
@testable import EmberIO

/// Python with the official `safetensors` package, when the test environment provides it (scripts/test makes a
/// venv and sets EMBER_INTEROP_PYTHON). A bare `swift test` skips these checks visibly; in CI they fail without it.
let interopPython = ProcessInfo.processInfo.environment["EMBER_INTEROP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
let interopMissing = "EMBER_INTEROP_PYTHON is unset: set it to a Python with safetensors==0.8.0 and numpy (scripts/test does) to check files with the official reader"

func runPython(_ python: String, _ script: String, _ args: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-c", script] + args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self))
}

func tempDir() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("ember-io-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

@Suite struct SafeTensorsTests {
    func sample() -> [(String, Tensor)] {
        [("layer.weight", Tensor((0..<6).map { Float($0) * 0.5 }, shape: [2, 3])),
         ("layer.bias", Tensor([1.5, -2.25] as [Double])),
         ("steps", Tensor([7] as [Int64], shape: [])),
         ("mask", Tensor([true, false, true])),
         ("empty", Tensor.zeros([0, 4])),
         ("ids", Tensor([3, 1, 4] as [Int32]))]
    }

    @Test func roundTrip() throws {
        let url = tempDir().appendingPathComponent("m.safetensors")
        try SafeTensors.write(sample(), metadata: ["format": "pt", "epoch": "3"], to: url)
        let (t, meta) = try SafeTensors.read(from: url)
        #expect(meta == ["format": "pt", "epoch": "3"])
        for (name, orig) in sample() {
            #expect(t[name]!.shape == orig.shape, "\(name)")
            #expect(t[name]!.dtype == orig.dtype, "\(name)")
            #expect(t[name]!.toArray(Double.self) == orig.toArray(Double.self), "\(name)")
        }
        // header padded to 8 bytes, as the official writer does
        let data = try Data(contentsOf: url)
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
        // no temporary files left behind
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["m.safetensors"])
    }

    @Test(needs(interopPython != nil, Comment(rawValue: interopMissing))) func officialReaderReadsOurFile() throws {
        let py = try required(interopPython, interopMissing)
        let url = tempDir().appendingPathComponent("ours.safetensors")
        try SafeTensors.write(sample(), metadata: ["format": "pt"], to: url)
        let script = """
        import sys, numpy as np
        from safetensors.numpy import load_file
        from safetensors import safe_open
        t = load_file(sys.argv[1])
        assert t["layer.weight"].dtype == np.float32 and t["layer.weight"].shape == (2, 3), t["layer.weight"]
        assert np.allclose(t["layer.weight"].ravel(), np.arange(6) * 0.5)
        assert t["layer.bias"].dtype == np.float64 and list(t["layer.bias"]) == [1.5, -2.25]
        assert t["steps"].shape == () and int(t["steps"]) == 7 and t["steps"].dtype == np.int64
        assert t["mask"].dtype == np.bool_ and list(t["mask"]) == [True, False, True]
        assert t["empty"].shape == (0, 4)
        assert t["ids"].dtype == np.int32 and list(t["ids"]) == [3, 1, 4]
        with safe_open(sys.argv[1], framework="np") as f:
            assert f.metadata() == {"format": "pt"}
        print("ok")
        """
        let (code, out) = try runPython(py, script, [url.path])
        #expect(code == 0, "python said: \(out)")
    }

    @Test(needs(interopPython != nil, Comment(rawValue: interopMissing))) func weReadOfficialWritersFile() throws {
        let py = try required(interopPython, interopMissing)
        let url = tempDir().appendingPathComponent("theirs.safetensors")
        let script = """
        import sys, numpy as np
        from safetensors.numpy import save_file
        save_file({"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], dtype=np.int64),
                   "c": np.array([[0.25]], dtype=np.float64)}, sys.argv[1], metadata={"who": "python"})
        """
        let (code, out) = try runPython(py, script, [url.path])
        #expect(code == 0, "python said: \(out)")
        let (t, meta) = try SafeTensors.read(from: url)
        #expect(meta == ["who": "python"])
        #expect(t["a"]!.shape == [3, 4] && t["a"]!.scalars == (0..<12).map(Float.init))
        #expect(t["b"]!.toArray(Int64.self) == [1, 2])
        #expect(t["c"]!.toArray(Double.self) == [0.25])
    }

    @Test func damagedFilesGiveClearErrors() throws {
        let good = SafeTensors.encode(sample())
        func reason(_ d: Data) -> String {
            do { _ = try SafeTensors.decode(d, path: "x.safetensors"); return "no error" } catch let e as FileFormatError {
                return e.description
            } catch { return "\(error)" }
        }
        #expect(reason(Data([1, 2, 3])).contains("8-byte header length"))
        #expect(reason(good.prefix(good.count - 4)).contains("x.safetensors"))
        var header = Data()
        var n = UInt64(2).littleEndian
        withUnsafeBytes(of: &n) { header.append(contentsOf: $0) }
        #expect(reason(header + Data("[]".utf8)).contains("not a JSON object"))
        let json = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        var h2 = Data()
        var n2 = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n2) { h2.append(contentsOf: $0) }
        let r = reason(h2 + Data(json.utf8) + Data(count: 12))
        #expect(r.contains("tensor 'w'") && r.contains("does not hold 4 F32 elements"))
        let json3 = #"{"w":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}}"#
        var h3 = Data()
        var n3 = UInt64(json3.utf8.count).littleEndian
        withUnsafeBytes(of: &n3) { h3.append(contentsOf: $0) }
        #expect(reason(h3 + Data(json3.utf8) + Data(count: 2)).contains("I16 is not supported"))
        #expect(reason(good + Data([0])).contains("data section"))
    }
}
