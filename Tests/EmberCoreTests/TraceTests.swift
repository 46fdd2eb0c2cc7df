import Testing
@testable import EmberCore

/// The tracer: registry ops with explicit attributes, shapes and dtypes; replay equals the traced function; what
/// the trace cannot see is an error.
@Suite struct TraceTests {
    static func randn(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomState(seed: seed)
        return Tensor.normal(shape, rng: &rng)
    }

    /// A single-head attention block from ops: softmax(q kᵀ / √d + mask) v with projections.
    static func attention(_ x: Tensor, _ wq: Tensor, _ wk: Tensor, _ wv: Tensor, _ mask: Tensor) -> Tensor {
        let q = matmul(x, wq), k = matmul(x, wk), v = matmul(x, wv)
        let scores = matmul(q, k.transposed(-2, -1)) * (1 / Double(wq.shape[1]).squareRoot())
        return matmul(scores.maskedFill(mask, -1e9).softmax(axis: -1), v)
    }

    @Test func attentionBlockReplays() throws {
        let wq = Self.randn([8, 4], seed: 1), wk = Self.randn([8, 4], seed: 2), wv = Self.randn([8, 4], seed: 3)
        let mask = Tensor((0..<25).map { $0 % 5 > $0 / 5 }, shape: [5, 5])
        let names = [ObjectIdentifier(wq): "wq", ObjectIdentifier(wk): "wk", ObjectIdentifier(wv): "wv"]
        let trace = try Trace.record(inputs: [Self.randn([2, 5, 8], seed: 4)], names: names) { xs in
            [Self.attention(xs[0], wq, wk, wv, mask)]
        }
        let ops = trace.nodes.map(\.name)
        #expect(ops.filter { $0 == "matmul" }.count == 5)
        #expect(ops.contains("permute") && ops.contains("softmax") && ops.contains("mul_scalar") && ops.contains("where"))
        let scale = try #require(trace.nodes.first { $0.name == "mul_scalar" })
        #expect(scale.attributes == ["scalar": .double(0.5)])
        let softmax = try #require(trace.nodes.first { $0.name == "softmax" })
        #expect(softmax.attributes == ["axis": .int(2)])
        #expect(softmax.output == Trace.ValueInfo(shape: [2, 5, 5], dtype: .float32))
        #expect(trace.parameters.keys.sorted() == ["wk", "wq", "wv"])
        #expect(trace.constants.contains { $0 === mask })
        let x = Self.randn([2, 5, 8], seed: 5)
        #expect(trace.replay([x])[0].scalars == Self.attention(x, wq, wk, wv, mask).scalars)
        // The printed graph names every node with its attributes.
        #expect(trace.description.contains("softmax(%"))
    }

    @Test func replayIsDifferentiable() throws {
        let w = Self.randn([3, 2], seed: 6)
        w.requiresGrad = true
        let trace = try Trace.record(input: Self.randn([4, 3], seed: 7), names: [ObjectIdentifier(w): "w"]) { x in
            matmul(x, w).tanh().sum()
        }
        let x = Self.randn([4, 3], seed: 8)
        let viaTrace = gradients(of: trace.replay([x])[0], wrt: [w])[0]
        let direct = gradients(of: matmul(x, w).tanh().sum(), wrt: [w])[0]
        #expect(viaTrace.scalars == direct.scalars)
    }

    @Test func tensorComputedOutsideTheRegistryIsAnError() {
        #expect(throws: TraceError.self) {
            try Trace.record(input: Tensor([1, 2, 3] as [Float])) { x in
                let doubled = Tensor.zeros([3])
                let src = x.scalars
                doubled.withUnsafeMutableBufferPointer(as: Float.self) { b in for i in 0..<3 { b[i] = src[i] * 2 } }
                return x + doubled
            }
        }
        do {
            _ = try Trace.record(input: Tensor([1, 2, 3] as [Float])) { x in
                let t = Tensor.zeros([3])
                t.fill(1)
                return x * t
            }
            Issue.record("expected a TraceError")
        } catch {
            #expect("\(error)".contains("read by 'mul' was computed inside the traced region by code that is not a registry primitive"))
        }
    }

    @Test func constantsMadeInsideAreCaptured() throws {
        let trace = try Trace.record(input: Tensor([1, 2, 3] as [Float])) { x in (x + 1).sqrt() * Tensor.full([3], 2) }
        // A Swift number is an attribute of its op (`add_scalar`); a tensor made inside is a constant.
        #expect(trace.nodes.map(\.name) == ["add_scalar", "sqrt", "mul"])
        #expect(trace.nodes[0].attributes == ["scalar": .double(1)])
        #expect(trace.constants.count == 1)
        let x = Tensor([4, 5, 6] as [Float])
        #expect(trace.replay([x])[0].scalars == ((x + 1).sqrt() * 2).scalars)
    }

    @Test func plainBackwardInsideATraceIsNotTraced() throws {
        let w = Self.randn([3], seed: 9)
        w.requiresGrad = true
        let trace = try Trace.record(input: Self.randn([3], seed: 10), names: [ObjectIdentifier(w): "w"]) { x in
            let y = (x * w).sum()
            y.backward()
            return y
        }
        #expect(trace.nodes.map(\.name) == ["mul", "sum"])
        #expect(w.grad != nil)
    }

    @Test func everyRegistryNameIsUnique() {
        let names = OpRegistry.all.map { $0.name }
        #expect(Set(names).count == names.count)
        #expect(OpRegistry.lookup("conv2d") != nil && OpRegistry.lookup("nonexistent") == nil)
    }
}
