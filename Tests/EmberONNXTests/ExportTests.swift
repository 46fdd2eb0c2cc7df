import EmberTestSupport
import Foundation
import Testing
@testable import EmberNN
@testable import EmberONNX

/// A model whose forward pass uses many elementwise and shape primitives, so each of their ONNX translations is run
/// by onnxruntime.
final class ActivationZoo: Module {
    @Child var fc1 = Linear(6, 12, generator: Generator(seed: 11))
    @Child var fc2 = Linear(12, 4, generator: Generator(seed: 12))
    override func forward(_ x: Tensor) -> Tensor {
        let h = fc1(x)
        var y = h.gelu() + h.gelu(approximate: true) * 0.5 - h.silu() + h.softplus()
        y = y + h.leakyRelu(0.1) + h.elu(0.7) + h.clamp(min: -0.5, max: 0.75) + 1 / (h.abs() + 2) - 0.25 * h.tanh()
        y = y + h.sigmoid().sqrt() + (h * h + 1).rsqrt() + h.exp().log1p() + h.square() / 3 - (0.3 - h).expm1()
        y = y + (h .> 0.2).cast(.float32) + h.maximum(h * -0.5) + h.pow(2)
        let r = y.reshaped([x.shape[0], 3, 4]).transposed(1, 2)   // [N, 4, 3]
        let pooled = r.mean(axis: 2) + r.max(axes: [2]) - r.sum(axis: 2).softmax(axis: -1)
        return fc2(y.relu()) + pooled.logSoftmax(axis: -1)
    }
}

@Suite(.serialized) struct ONNXExportTests {
    static func randomInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.normal(shape, rng: &rng)
    }

    /// Exports `model`, runs Ember on two batches (1 and 5) and has onnx.checker + onnxruntime check the file and the
    /// outputs. Returns the checker's report.
    static func check(_ model: Module, sample: [Int], name: String, dynamicBatch: Bool = true) throws -> [String: Any] {
        let dir = tempDirectory("onnx-\(name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("\(name).onnx")
        model.eval()
        try model.exportONNX(to: file, inputShape: [2] + sample, dynamicBatch: dynamicBatch)
        var cases: [ONNXCase] = []
        for (k, batch) in (dynamicBatch ? [1, 5] : [2]).enumerated().map({ ($0.offset, $0.element) }) {
            let x = randomInput([batch] + sample, seed: UInt64(100 + k))
            let y = withoutGrad { model(x) }
            cases.append(ONNXCase(input: x.toArray(Float.self), shape: x.shape, expected: y.toArray(Float.self),
                                  expectedShape: y.shape))
        }
        let report = try checkONNX(file, cases)
        for c in report["cases"] as? [[String: Any]] ?? [] {
            #expect(c["ok"] as? Bool == true, "\(name) batch \(c["batch"] ?? "?"): \(c)")
        }
        #expect((report["cases"] as? [Any])?.count == cases.count)
        return report
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func mlpWithDropoutRunsInOnnxruntime() throws {
        let g = Generator(seed: 1)
        let model = Sequential { Linear(8, 16, generator: g); ReLU(); Dropout(0.5); Linear(16, 3, generator: g); Softmax() }
        let report = try Self.check(model, sample: [8], name: "mlp")
        #expect(report["ops"] as? [String] == ["Gemm", "Relu", "Softmax"])
        #expect(report["input_shape"] as? [AnyHashable] == ["batch", 8])
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func cnnWithBatchNormAndPoolingRunsInOnnxruntime() throws {
        let g = Generator(seed: 2)
        let model = Sequential {
            Conv2d(1, 4, kernel: 3, padding: 1, bias: false, generator: g); BatchNorm2d(4); ReLU(); MaxPool2d(2)
            Conv2d(4, 6, kernel: 3, stride: 2, padding: 2, dilation: 2, groups: 2, generator: g); Tanh()
            AvgPool2d(2, stride: 1, padding: 1, countIncludePad: false)
            ConvTranspose2d(6, 2, kernel: 3, stride: 2, padding: 1, outputPadding: 1, generator: g); LeakyReLU(0.2)
            Flatten(); Linear(2 * 8 * 8, 5, generator: g)
        }
        // running statistics that are not the defaults, so the export must carry them
        let bn = model.layers[1] as! BatchNorm2d
        bn.runningMean.assign(Tensor([0.1, -0.2, 0.3, 0] as [Float]))
        bn.runningVar.assign(Tensor([1.5, 0.5, 2, 1] as [Float]))
        let report = try Self.check(model, sample: [1, 10, 10], name: "cnn")
        let ops = report["ops"] as? [String] ?? []
        #expect(["Conv", "BatchNormalization", "MaxPool", "AveragePool", "ConvTranspose", "LeakyRelu", "Reshape"].allSatisfy(ops.contains))
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func elementwiseAndShapeOpsRunInOnnxruntime() throws {
        _ = try Self.check(ActivationZoo(), sample: [6], name: "zoo")
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func recurrentLayersRunInOnnxruntime() throws {
        let g = Generator(seed: 5)
        let lstm = Sequential { LSTM(4, 6, numLayers: 2, batchFirst: true, bidirectional: true, generator: g); Flatten(); Linear(5 * 12, 3, generator: g) }
        // the fused recurrences become ONNX LSTM / GRU nodes
        let r1 = try Self.check(lstm, sample: [5, 4], name: "lstm")
        #expect((r1["ops"] as? [String] ?? []).contains("LSTM"))
        let gru = Sequential { GRU(4, 5, batchFirst: true, generator: g); Flatten(); Linear(5 * 5, 2, generator: g) }
        let r2 = try Self.check(gru, sample: [5, 4], name: "gru")
        #expect((r2["ops"] as? [String] ?? []).contains("GRU"))
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func layerNormRunsInOnnxruntime() throws {
        let g = Generator(seed: 6)
        let ln = LayerNorm([6])
        ln.weight!.assign(Tensor([0.5, 1.5, -1, 2, 1, 0.25] as [Float]))
        ln.bias!.assign(Tensor([0.1, -0.2, 0.3, 0, 0.5, -1] as [Float]))
        let model = Sequential { LayerNorm([3, 4], affine: false); Flatten(); Linear(12, 6, generator: g); ln; Tanh() }
        let report = try Self.check(model, sample: [3, 4], name: "layernorm")
        let ops = report["ops"] as? [String] ?? []
        #expect(ops.contains("LayerNormalization") && !ops.contains("ReduceMean"), "\(ops)")
    }

    @Test(needs(trackPython != nil, "needs EMBER_TRACK_PYTHON with onnx and onnxruntime (scripts/test makes it)"))
    func fixedBatchAndOpset21() throws {
        let g = Generator(seed: 3)
        let model = Sequential { Linear(5, 7, generator: g); GELU(); Linear(7, 2, generator: g) }
        let dir = tempDirectory("onnx-opset")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try model.onnxModelData(inputShape: [3, 5], options: ONNXExportOptions(opset: 21, dynamicBatch: false))
        let m = try Onnx_ModelProto(serializedBytes: data)
        #expect(m.opsetImport.first?.version == 21 && m.graph.node.contains { $0.opType == "Gelu" })
        _ = try Self.check(model, sample: [5], name: "fixed", dynamicBatch: false)
    }

    @Test func unsupportedUsesAreClearErrors() throws {
        // a reshape that folds the batch into features cannot have a dynamic batch
        final class Folding: Module { override func forward(_ x: Tensor) -> Tensor { x.reshaped([1, -1]) } }
        #expect(throws: ONNXError.self) { try Folding().onnxModelData(inputShape: [2, 3]) }
        do {
            _ = try Folding().onnxModelData(inputShape: [2, 3])
        } catch {
            #expect("\(error)".contains("reshape") && "\(error)".contains("dynamicBatch: false"))
        }
        // without a dynamic batch it exports
        #expect(throws: Never.self) { try Folding().onnxModelData(inputShape: [2, 3], options: ONNXExportOptions(dynamicBatch: false)) }
        #expect(throws: ONNXError.self) { try Sequential { Linear(2, 2) }.onnxModelData(inputShape: [1, 2], options: ONNXExportOptions(opset: 9)) }
    }
}
