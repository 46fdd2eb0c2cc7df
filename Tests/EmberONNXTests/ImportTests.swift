import EmberTestSupport
import Foundation
import Testing
@testable import EmberNN
@testable import EmberONNX

@Suite struct ONNXImportTests {
    static func close(_ a: [Float], _ b: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= atol + rtol * abs($1) }
    }

    /// Export, then import: the imported graph computes what the module does, at batch sizes other than the
    /// traced one.
    @Test func exportThenImportGivesTheSameOutputs() throws {
        let g = Generator(seed: 4)
        let models: [(String, Module, [Int])] = [
            ("mlp", Sequential { Linear(6, 9, generator: g); GELU(); Dropout(0.3); Linear(9, 4, generator: g); Softmax() }, [6]),
            ("cnn", Sequential {
                Conv2d(2, 4, kernel: 3, padding: 1, generator: g); BatchNorm2d(4); ReLU(); MaxPool2d(2)
                Conv2d(4, 4, kernel: 3, stride: 2, padding: 2, dilation: 2, groups: 2, generator: g); SiLU()
                Flatten(); Linear(4 * 2 * 2, 3, generator: g)
            }, [2, 8, 8]),
            ("zoo", ActivationZoo(), [6]),
        ]
        for (name, model, sample) in models {
            model.eval()
            let data = try model.onnxModelData(inputShape: [2] + sample)
            let imported = try ONNXModel(serialized: data, path: name)
            #expect(imported.inputNames == ["input"] && imported.outputNames == ["output"])
            for batch in [1, 4] {
                var rng = RandomState(seed: UInt64(batch))
                let x = Tensor.normal([batch] + sample, rng: &rng)
                let want = withoutGrad { model(x) }, got = try imported(x)
                #expect(got.shape == want.shape, "\(name) batch \(batch)")
                #expect(Self.close(got.toArray(Float.self), want.toArray(Float.self)), "\(name) batch \(batch)")
            }
        }
    }

    /// A CNN exported by torch.onnx.export (scripts/golden/make_onnx_torch_golden.py) runs as onnxruntime runs it.
    @Test func pytorchExportedCNNMatchesOnnxruntime() throws {
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("torch_cnn.json"))) as! [String: Any]
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("torch_cnn.onnx"))
        let values: [Float] = (golden["input"] as! [Double]).map { Float($0) }
        let x = Tensor(values, shape: golden["input_shape"] as! [Int])
        let y = try model(x)
        let want: [Float] = (golden["onnxruntime"] as! [Double]).map { Float($0) }
        #expect(y.shape == golden["output_shape"] as! [Int])
        #expect(Self.close(y.toArray(Float.self), want))
        // one example at a time: the batch dimension is symbolic
        let one = try model(x.slice(axis: 0, start: 1, end: 2))
        #expect(Self.close(one.toArray(Float.self), Array(want[10..<20])))
    }

    @Test func damagedFilesAndBadInputsAreClearErrors() throws {
        let dir = tempDirectory("onnx-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.onnx")
        try Data("not a model at all".utf8).write(to: junk)
        #expect(throws: ONNXError.self) { try ONNXModel(contentsOf: junk) }
        #expect(throws: ONNXError.self) { try ONNXModel(contentsOf: dir.appendingPathComponent("missing.onnx")) }
        // a valid graph with an operator Ember does not run
        var m = Onnx_ModelProto()
        var n = Onnx_NodeProto(); n.opType = "NonMaxSuppression"; n.name = "nms"; n.input = ["input"]; n.output = ["output"]
        m.graph.node = [n]
        m.graph.input = [Onnx_ValueInfoProto(name: "input", dtype: .float32, shape: [1, 4], batchAxis: nil)]
        do {
            _ = try ONNXModel(serialized: try m.serializedData())
            Issue.record("accepted an unsupported operator")
        } catch let e as ONNXError {
            #expect(e == .unsupportedOperator(node: "nms", opType: "NonMaxSuppression", opset: 1))
            #expect("\(e)" == "ONNX: node 'nms': operator NonMaxSuppression (opset 1) is not supported")
        }
        // inputs that do not fit
        let model = Sequential { Linear(3, 2) }
        let imported = try ONNXModel(serialized: try model.onnxModelData(inputShape: [1, 3]))
        #expect(throws: ONNXError.badInput(name: "input", reason: "missing")) { try imported.run([:]) }
        #expect(throws: ONNXError.self) { try imported.run(["input": Tensor.zeros([1, 3]), "other": Tensor.zeros([1])]) }
        // a truncated initializer names the tensor
        var broken = try Onnx_ModelProto(serializedBytes: try model.onnxModelData(inputShape: [1, 3]))
        broken.graph.initializer[0].rawData = broken.graph.initializer[0].rawData.prefix(5)
        do {
            _ = try ONNXModel(serialized: try broken.serializedData(), path: "broken.onnx")
            Issue.record("accepted a truncated initializer")
        } catch {
            #expect("\(error)".contains("broken.onnx") && "\(error)".contains("bytes of data"))
        }
    }
}

@Suite struct ONNXChainTests {
    @Test func chainsConvertAndBranchesAreNamed() throws {
        let g = Generator(seed: 9)
        let mlp = Sequential { Linear(5, 7, generator: g); ReLU(); Dropout(0.2); Linear(7, 3, generator: g); Softmax() }
        let chain = try ONNXModel(serialized: try mlp.onnxModelData(inputShape: [1, 5])).layerChain()
        #expect(chain.map(\.kind) == ["linear", "relu", "linear", "softmax"])
        // a graph with a residual addition is not a chain
        final class Residual: Module {
            @Child var fc = Linear(4, 4, generator: Generator(seed: 1))
            override func forward(_ x: Tensor) -> Tensor { fc(x) + x }
        }
        let model = try ONNXModel(serialized: try Residual().onnxModelData(inputShape: [1, 4]), path: "residual.onnx")
        #expect(throws: ONNXError.self) { try model.layerChain() }
        // PyTorch's grouped convolution is not among Ember's layers
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        do {
            _ = try ONNXModel(contentsOf: dir.appendingPathComponent("torch_cnn.onnx")).layerChain()
            Issue.record("converted a grouped convolution")
        } catch {
            #expect("\(error)".contains("grouped or dilated convolutions"))
        }
    }
}

/// Truncated and bit-flipped model files: loading and running each either gives a result or throws an
/// `ONNXError`; nothing crashes (a crash fails the whole test run).
@Suite struct ONNXFuzzTests {
    @Test func mutatedModelsLoadOrFailCleanly() throws {
        let g = Generator(seed: 21)
        let cnn = Sequential {
            Conv2d(1, 3, kernel: 3, padding: 1, generator: g); BatchNorm2d(3); ReLU(); MaxPool2d(2)
            Flatten(); Linear(3 * 3 * 3, 4, generator: g)
        }
        let lstm = Sequential { LSTM(3, 4, batchFirst: true, generator: g); Flatten(); Linear(2 * 4, 2, generator: g) }
        cnn.eval(); lstm.eval()
        let seeds: [(String, Data, [Int])] = [
            ("cnn", try cnn.onnxModelData(inputShape: [1, 1, 6, 6]), [2, 1, 6, 6]),
            ("lstm", try lstm.onnxModelData(inputShape: [1, 2, 3]), [2, 2, 3]),
        ]
        var rng = SplitMix64(77)
        var outcomes = ["loaded and ran": 0, "refused": 0]
        for (name, original, shape) in seeds {
            let bytes = [UInt8](original)
            for k in 0..<250 {
                var m = bytes
                switch k % 3 {
                case 0: m = Array(m.prefix(Int(rng.next() % UInt64(m.count))))            // truncated
                case 1: for _ in 0..<(1 + Int(rng.next() % 4)) {                           // bits flipped
                    let i = Int(rng.next() % UInt64(m.count)); m[i] ^= UInt8(1 << (rng.next() % 8)) }
                default: for _ in 0..<(1 + Int(rng.next() % 3)) {                          // bytes replaced
                    let i = Int(rng.next() % UInt64(m.count)); m[i] = UInt8(rng.next() % 256) }
                }
                do {
                    let model = try ONNXModel(serialized: Data(m), path: "\(name)-\(k).onnx")
                    var r = RandomState(seed: UInt64(k))
                    _ = try model.run([model.inputNames.first ?? "input": Tensor.normal(shape, rng: &r)])
                    outcomes["loaded and ran", default: 0] += 1
                } catch is ONNXError {
                    outcomes["refused", default: 0] += 1
                }
            }
        }
        print("ONNX fuzz: \(outcomes)")
        #expect(outcomes["refused"]! > 0 && outcomes["loaded and ran"]! > 0)
    }
}
