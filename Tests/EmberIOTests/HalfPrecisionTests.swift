import Foundation
import Testing
import EmberTestSupport
@testable import EmberIO

/// F16, BF16 and U8 in safetensors files: a Hugging Face style checkpoint written by PyTorch + safetensors
/// (Fixtures/hf_half.safetensors, from scripts/golden/make_dtype_golden.py) loads bit for bit as PyTorch's `t.float()`
/// gives (Fixtures/hf_half_float32.json), and files Ember writes in these dtypes are read by the official reader.
@Suite struct HalfPrecisionTests {
    func fixture(_ name: String, _ ext: String) throws -> URL {
        try required(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"),
                     "Fixtures/\(name).\(ext) is missing; run scripts/golden/make_dtype_golden.py")
    }

    func expected() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: try fixture("hf_half_float32", "json"))
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return obj["tensors"] as! [String: [String: Any]]
    }

    @Test func huggingFaceHalfCheckpointLoadsAsStored() throws {
        let (t, meta) = try SafeTensors.read(from: try fixture("hf_half", "safetensors"))
        #expect(meta == ["format": "pt"])
        for (name, e) in try expected() {
            let x = try #require(t[name], "\(name)")
            #expect(x.dtype == DType(rawValue: e["dtype"] as! String), "\(name)")
            #expect(x.shape == (e["shape"] as! [Int]), "\(name)")
        }
        #expect(t["image"]!.toArray(UInt8.self) == [0, 17, 128, 255])
        #expect(t["embeddings.position_ids"]!.toArray(Int64.self) == [0, 1, 2, 3])
    }

    @Test func convertingToFloat32EqualsPyTorchBitForBit() throws {
        let (t, _) = try SafeTensors.read(from: try fixture("hf_half", "safetensors"), convertingTo: .float32)
        var floats = 0
        for (name, e) in try expected() {
            let x = try #require(t[name], "\(name)")
            if let bits = e["float32"] as? [Int] {
                #expect(x.dtype == .float32, "\(name)")
                #expect(x.toArray(Float.self).map { Int($0.bitPattern) } == bits, "\(name)")
                floats += 1
            } else {
                // integer and byte tensors keep their dtype
                #expect(x.dtype == DType(rawValue: e["dtype"] as! String), "\(name)")
            }
        }
        #expect(floats == 4)
        let (t64, _) = try SafeTensors.read(from: try fixture("hf_half", "safetensors"), convertingTo: .float64)
        #expect(t64["decoder.weight"]!.dtype == .float64
                && t64["decoder.weight"]!.toArray(Double.self) == t["decoder.weight"]!.toArray(Float.self).map(Double.init))
    }

    func halfSample() -> [(String, Tensor)] {
        [("h", Tensor([0.1, -65504, 6e-8, .infinity, 1] as [Float], dtype: .float16)),
         ("b", Tensor([0.1, 3e38, -1e-39, 1] as [Float], shape: [2, 2], dtype: .bfloat16)),
         ("u", Tensor([0, 17, 128, 255] as [UInt8], shape: [4, 1])),
         ("f", Tensor([1.5] as [Float]))]
    }

    @Test func halfAndByteTensorsRoundTrip() throws {
        let url = tempDir().appendingPathComponent("half.safetensors")
        try SafeTensors.write(halfSample(), to: url)
        let (t, _) = try SafeTensors.read(from: url)
        for (name, orig) in halfSample() {
            let x = try #require(t[name])
            #expect(x.dtype == orig.dtype && x.shape == orig.shape, "\(name)")
            if orig.dtype.isHalf { #expect(x.bitPatterns() == orig.bitPatterns(), "\(name)") }
            else { #expect(x.toArray(Double.self) == orig.toArray(Double.self), "\(name)") }
        }
        // a non-contiguous half tensor is written in row-major order
        let tr = Tensor(bitPatterns: [1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float16).transposed(0, 1)
        let (back, _) = try SafeTensors.decode(SafeTensors.encode([("t", tr)]))
        #expect(back["t"]!.bitPatterns() == [1, 4, 2, 5, 3, 6])
    }

    @Test(needs(interopPython != nil, Comment(rawValue: interopMissing))) func officialReaderReadsOurHalfFile() throws {
        let py = try required(interopPython, interopMissing)
        let url = tempDir().appendingPathComponent("ours-half.safetensors")
        let sample = halfSample()
        try SafeTensors.write(sample, to: url)
        let h = sample[0].1.bitPatterns().map(String.init).joined(separator: ","),
            b = sample[1].1.bitPatterns().map(String.init).joined(separator: ",")
        // numpy has no bfloat16: the official parser's `deserialize` gives the raw bytes of every tensor.
        let script = """
        import sys, numpy as np
        from safetensors import deserialize
        raw = {name: v for name, v in deserialize(open(sys.argv[1], "rb").read())}
        assert raw["h"]["dtype"] == "F16" and raw["h"]["shape"] == [5], raw["h"]
        assert raw["b"]["dtype"] == "BF16" and raw["b"]["shape"] == [2, 2], raw["b"]
        assert raw["u"]["dtype"] == "U8" and raw["u"]["shape"] == [4, 1], raw["u"]
        assert list(np.frombuffer(bytes(raw["h"]["data"]), dtype="<u2")) == [\(h)]
        assert list(np.frombuffer(bytes(raw["b"]["data"]), dtype="<u2")) == [\(b)]
        b32 = (np.frombuffer(bytes(raw["b"]["data"]), dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        assert b32[3] == 1.0 and abs(b32[0] - 0.1) < 1e-3, b32
        from safetensors import safe_open
        with safe_open(sys.argv[1], framework="np") as f:
            hv = f.get_tensor("h"); uv = f.get_tensor("u")
        assert hv.dtype == np.float16 and hv[4] == 1.0 and hv[1] == -65504 and np.isinf(hv[3]), hv
        assert uv.dtype == np.uint8 and uv.ravel().tolist() == [0, 17, 128, 255], uv
        print("ok")
        """
        let (code, out) = try runPython(py, script, [url.path])
        #expect(code == 0, "python said: \(out)")
    }
}
