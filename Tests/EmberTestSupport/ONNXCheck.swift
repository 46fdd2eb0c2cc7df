import Foundation

/// A Python check of an ONNX file Ember wrote, run with the test venv's real `onnx` and `onnxruntime`
/// (`runPythonJSON(onnxCheckScript, [manifest])`): onnx.checker with full_check (strict shape inference), then
/// onnxruntime's outputs against Ember's for every case in the manifest (rtol 1e-5, atol 1e-6).
public let onnxCheckScript = #"""
"""Checks an ONNX file written by Ember with the real tools: onnx.checker (full_check, which runs strict shape
inference) and onnxruntime, whose outputs must equal Ember's (rtol 1e-5, atol 1e-6) for every given input.

usage: check_onnx.py MANIFEST.json   (writes a JSON report to $OUT_PATH)
manifest: {"model": path, "cases": [{"input": raw float32/int64 file, "dtype": "float32", "shape": [...],
                                      "expected": raw float32 file, "expected_shape": [...]}]}
"""
import json, os, sys
import numpy as np
import onnx
import onnxruntime as ort

manifest = json.load(open(sys.argv[1]))
model = onnx.load(manifest["model"])
onnx.checker.check_model(model, full_check=True)
session = ort.InferenceSession(manifest["model"], providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
report = {"checked": True, "opset": model.opset_import[0].version, "ops": sorted({n.op_type for n in model.graph.node}),
          "input_shape": [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim],
          "cases": []}
for case in manifest["cases"]:
    x = np.fromfile(case["input"], dtype=case["dtype"]).reshape(case["shape"])
    want = np.fromfile(case["expected"], dtype=np.float32).reshape(case["expected_shape"])
    (got,) = session.run(None, {name: x})
    got = np.asarray(got, dtype=np.float32)
    ok = got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-5, atol=1e-6))
    worst = float(np.max(np.abs(got - want) / (1e-6 + 1e-5 * np.abs(want)))) if got.shape == want.shape and got.size else None
    report["cases"].append({"batch": int(x.shape[0]), "shape_ok": got.shape == want.shape, "ok": ok,
                            "worst_fraction_of_tolerance": worst})
with open(os.environ["OUT_PATH"], "w") as f:
    json.dump(report, f)
"""#

/// One input to run an exported ONNX model on, and the outputs Ember computed for it.
public struct ONNXCase {
    public var input: [Float], shape: [Int], expected: [Float], expectedShape: [Int]
    public init(input: [Float], shape: [Int], expected: [Float], expectedShape: [Int]) {
        self.input = input; self.shape = shape; self.expected = expected; self.expectedShape = expectedShape
    }
}

/// Runs `onnxCheckScript` on `model` with `cases`; returns its JSON report ("ops", "input_shape", "cases" with "ok").
public func checkONNX(_ model: URL, _ cases: [ONNXCase]) throws -> [String: Any] {
    let dir = tempDirectory("onnx-check")
    defer { try? FileManager.default.removeItem(at: dir) }
    var list: [[String: Any]] = []
    for (k, c) in cases.enumerated() {
        let xin = dir.appendingPathComponent("x\(k).bin"), yout = dir.appendingPathComponent("y\(k).bin")
        try Data(c.input.withUnsafeBytes { Array($0) }).write(to: xin)
        try Data(c.expected.withUnsafeBytes { Array($0) }).write(to: yout)
        list.append(["input": xin.path, "dtype": "float32", "shape": c.shape, "expected": yout.path,
                     "expected_shape": c.expectedShape])
    }
    let manifest = dir.appendingPathComponent("manifest.json")
    try JSONSerialization.data(withJSONObject: ["model": model.path, "cases": list]).write(to: manifest)
    return try runPythonJSON(onnxCheckScript, [manifest.path])
}
