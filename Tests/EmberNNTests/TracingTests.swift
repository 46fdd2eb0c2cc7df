import Testing
@testable import EmberNN

/// `Module.trace` records a forward pass as registry ops with state-dict parameter names; replaying the trace on new
/// inputs gives the model's outputs bit for bit (the same kernels in the same order).
@Suite struct ModuleTracingTests {
    static func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.normal(shape, rng: &rng)
    }

    @Test func mlpTraceReplaysAndNamesParameters() throws {
        let model = Sequential { Linear(6, 8); ReLU(); Linear(8, 3) }
        let trace = try model.trace(Self.input([4, 6], seed: 1))
        #expect(trace.nodes.map(\.name) == ["linear", "relu", "linear"])
        #expect(trace.nodes[0].inputs == [.input(0), .parameter("0.weight"), .parameter("0.bias")])
        #expect(trace.nodes[2].inputs == [.node(1), .parameter("2.weight"), .parameter("2.bias")])
        #expect(trace.nodes[2].output == Trace.ValueInfo(shape: [4, 3], dtype: .float32))
        let x = Self.input([4, 6], seed: 2)
        #expect(trace.replay([x])[0].scalars == model(x).scalars)
    }

    @Test func cnnWithBatchNormInEvalMode() throws {
        let model = Sequential {
            Conv2d(1, 4, kernel: 3, padding: 1); BatchNorm2d(4); ReLU(); MaxPool2d(2)
            Flatten(); Linear(4 * 4 * 4, 5)
        }
        // Running statistics that are not the defaults, so the trace must read them.
        let bn = model.layers[1] as! BatchNorm2d
        bn.runningMean.assign(Tensor([0.1, -0.2, 0.3, 0] as [Float]))
        bn.runningVar.assign(Tensor([1.5, 0.5, 2, 1] as [Float]))
        model.eval()
        let trace = try model.trace(Self.input([2, 1, 8, 8], seed: 3))
        let names = Set(trace.nodes.flatMap(\.inputs).compactMap { r -> String? in
            if case .parameter(let n) = r { return n } else { return nil }
        })
        #expect(names.isSuperset(of: ["0.weight", "0.bias", "1.running_mean", "1.running_var", "1.weight", "1.bias", "5.weight"]))
        let conv = try #require(trace.nodes.first { $0.name == "conv2d" })
        #expect(conv.attributes["padding"] == .ints([1, 1]) && conv.attributes["stride"] == .ints([1, 1]))
        let pool = try #require(trace.nodes.first { $0.name == "max_pool2d" })
        #expect(pool.attributes["kernel"] == .ints([2, 2]))
        let x = Self.input([2, 1, 8, 8], seed: 4)
        #expect(trace.replay([x])[0].scalars == model(x).scalars)
        // Parameters are read by reference: after an update, the replay follows the model.
        (model.layers[5] as! Linear).weight.fill(0.01)
        #expect(trace.replay([x])[0].scalars == model(x).scalars)
    }
}
