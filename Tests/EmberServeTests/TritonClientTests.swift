import Foundation
import Testing
import EmberTestSupport
import EmberCLI
@testable import EmberServe

/// The real `tritonclient[http]` Python client (scripts/test installs it in the test venv) against a real server:
/// health, metadata, FP32 and UINT8 inputs, batches of 1 and 64, binary and JSON tensors.
@Suite(.serialized) struct TritonClientTests {
    static let script = #"""
import json, os, sys
import numpy as np
import tritonclient.http as httpclient

url, data_path = sys.argv[1], sys.argv[2]
data = json.load(open(data_path))
c = httpclient.InferenceServerClient(url=url)
out = {"live": c.is_server_live(), "ready": c.is_server_ready(), "model_ready": c.is_model_ready("digits-cnn"),
       "server": c.get_server_metadata(), "metadata": c.get_model_metadata("digits-cnn"),
       "bytes_metadata": c.get_model_metadata("bytes")}

def run(model, x, dtype, binary_in, binary_out):
    inp = httpclient.InferInput("input", list(x.shape), dtype)
    inp.set_data_from_numpy(x, binary_data=binary_in)
    outs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in ("probabilities", "label", "class")]
    r = c.infer(model, [inp], outputs=outs)
    cls = [v.decode() if isinstance(v, bytes) else str(v) for v in r.as_numpy("class").reshape(-1)]
    return {"probabilities": r.as_numpy("probabilities").astype(float).reshape(-1).tolist(),
            "label": r.as_numpy("label").astype(int).reshape(-1).tolist(), "class": cls,
            "prob_shape": list(r.as_numpy("probabilities").shape)}

digits = np.array(data["digits"], dtype=np.float32).reshape(64, 64)
images = np.array(data["images"], dtype=np.uint8).reshape(64, 1, 8, 8)
out["fp32_1"] = run("digits-cnn", digits[:1], "FP32", True, True)
out["fp32_1_json"] = run("digits-cnn", digits[:1].reshape(1, 1, 8, 8), "FP32", False, False)
out["fp32_64"] = run("digits-cnn", digits, "FP32", True, True)
out["uint8_1"] = run("bytes", images[:1], "UINT8", True, True)
out["uint8_64"] = run("bytes", images, "UINT8", True, False)
# no outputs named: the client asks for every output in binary
r = c.infer("digits-mlp", [httpclient.InferInput("input", [2, 64], "FP32").set_data_from_numpy(digits[:2])] if False else
            [(lambda i: (i.set_data_from_numpy(digits[:2]), i)[1])(httpclient.InferInput("input", [2, 64], "FP32"))])
out["default_outputs"] = sorted(o["name"] for o in r.get_response()["outputs"])
out["mlp_label"] = r.as_numpy("label").astype(int).tolist()
try:
    c.infer("digits-cnn", [(lambda i: (i.set_data_from_numpy(digits[:1, :10]), i)[1])(httpclient.InferInput("input", [1, 10], "FP32"))])
    out["error"] = None
except Exception as e:
    out["error"] = str(e)
json.dump(out, open(os.environ["OUT_PATH"], "w"))
"""#

    @Test(needs(trackPython != nil, skipMessage))
    func tritonClientMetadataAndInference() async throws {
        _ = try required(trackPython, "EMBER_TRACK_PYTHON is unset: scripts/test creates the venv with tritonclient[http]")
        let runs = Runs.shared
        let s = try await LiveServer([runs.cnn, runs.mlp, runs.bytes])
        defer { Task { await s.stop() } }
        let dataFile = serveTemp("triton").appendingPathComponent("data.json")
        let data: [String: Any] = ["digits": runs.digits.map(Double.init), "images": runs.images.map(Int.init)]
        try JSONSerialization.data(withJSONObject: data).write(to: dataFile)
        let port = s.port
        let text = try await blocking { try runPython(Self.script, ["127.0.0.1:\(port)", dataFile.path], timeout: 240) }
        let out = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]

        #expect(out["live"] as? Bool == true && out["ready"] as? Bool == true && out["model_ready"] as? Bool == true)
        #expect((out["server"] as? [String: Any])?["name"] as? String == "ember")
        let meta = out["metadata"] as? [String: Any] ?? [:]
        let input = (meta["inputs"] as? [[String: Any]])?.first ?? [:]
        #expect(input["name"] as? String == "input" && input["datatype"] as? String == "FP32" && input["shape"] as? [Int] == [-1, 64])
        let outputs = meta["outputs"] as? [[String: Any]] ?? []
        #expect(outputs.map { $0["name"] as? String } == ["probabilities", "label", "class"])
        #expect(outputs.map { $0["datatype"] as? String } == ["FP32", "INT64", "BYTES"])
        let bmeta = ((out["bytes_metadata"] as? [String: Any])?["inputs"] as? [[String: Any]])?.first ?? [:]
        #expect(bmeta["datatype"] as? String == "UINT8" && bmeta["shape"] as? [Int] == [-1, 1, 8, 8])

        let cnn = try s.server.registry.model("digits-cnn"), bytes = try s.server.registry.model("bytes")
        let digitsDirect = try cnn.predict(runs.digits, count: 64)
        let imagesDirect = try bytes.predict(runs.images.map(Float.init), count: 64)
        func check(_ key: String, _ expected: ArraySlice<Prediction>) {
            let r = out[key] as? [String: Any] ?? [:]
            let labels = r["label"] as? [Int] ?? [], classes = r["class"] as? [String] ?? [], probs = r["probabilities"] as? [Double] ?? []
            #expect(labels == expected.map { $0.label! }, "\(key)")
            #expect(classes == expected.map { $0.className! }, "\(key)")
            let k = expected.first?.probabilities.count ?? 0
            #expect(r["prob_shape"] as? [Int] == [expected.count, k], "\(key)")
            for (i, p) in expected.enumerated() { for j in 0..<k where probs.count == expected.count * k {
                #expect(abs(probs[i * k + j] - p.probabilities[j]) < 1e-6, "\(key) [\(i), \(j)]")
            } }
        }
        check("fp32_1", digitsDirect[0..<1])
        check("fp32_1_json", digitsDirect[0..<1])
        check("fp32_64", digitsDirect[0..<64])
        check("uint8_1", imagesDirect[0..<1])
        check("uint8_64", imagesDirect[0..<64])
        #expect(out["default_outputs"] as? [String] == ["class", "label", "probabilities"])
        let mlp = try s.server.registry.model("digits-mlp").predict(Array(runs.digits.prefix(128)), count: 2)
        #expect(out["mlp_label"] as? [Int] == mlp.map { $0.label! })
        let error = out["error"] as? String ?? ""
        #expect(error.contains("inputs[0].shape: expected [N, 64] or [N, 1, 8, 8], got [1, 10]"), "\(error)")
    }
}
