import Foundation
import Testing
import EmberTestSupport
@testable import EmberCore

/// Ops over several tensors either refuse mixed dtypes and backends with a message naming the op and the dtypes
/// (a programmer error: the process stops, checked in a child process), or promote as PyTorch does and then compute
/// exactly what the computation in the promoted dtype gives.
@Suite struct DTypeSafetyTests {
    // MARK: ops that refuse

    @Test func linearInputAndWeightDTypes() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = linear(Tensor.zeros([2, 3], dtype: .float64), Tensor.zeros([4, 3], dtype: .float32))
        }
        expectMessage(r, "linear: input float64, weight float32: dtypes differ")
    }

    @Test func linearBiasDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = linear(Tensor.zeros([2, 3]), Tensor.zeros([4, 3]), Tensor.zeros([4], dtype: .float64))
        }
        expectMessage(r, "linear: input float32, weight float32, bias float64: dtypes differ")
    }

    @Test func linearBackends() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // the default backend is the CPU even under EMBER_BACKEND=reference
            DefaultBackend.with(CPUBackend.shared) {
                _ = linear(Tensor.zeros([2, 3]), Tensor.zeros([4, 3], on: CPUBackend()))
            }
        }
        expectMessage(r, "linear: input on cpu#1, weight on cpu#2: backends differ")
    }

    @Test func matmulBackends() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // the default backend is the CPU even under EMBER_BACKEND=reference
            DefaultBackend.with(CPUBackend.shared) {
                _ = matmul(Tensor.zeros([2, 3]), Tensor.zeros([3, 4], on: CPUBackend()))
            }
        }
        expectMessage(r, "matmul: a on cpu#1, b on cpu#2: backends differ")
    }

    @Test func conv2dBiasDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Tensor.zeros([1, 2, 4, 4]), Tensor.zeros([3, 2, 3, 3]), Tensor.zeros([3], dtype: .float64))
        }
        expectMessage(r, "conv2d: input float32, weight float32, bias float64: dtypes differ")
    }

    @Test func conv1dInputDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv1d(Tensor.zeros([1, 2, 5], dtype: .float64), Tensor.zeros([3, 2, 3]))
        }
        expectMessage(r, "conv1d: input float64, weight float32: dtypes differ")
    }

    @Test func convTranspose2dDTypes() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = convTranspose2d(Tensor.zeros([1, 2, 3, 3], dtype: .float64), Tensor.zeros([2, 3, 2, 2]))
        }
        expectMessage(r, "convTranspose2d: input float64, weight float32: dtypes differ")
    }

    @Test func convTranspose2dBiasDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = convTranspose2d(Tensor.zeros([1, 2, 3, 3]), Tensor.zeros([2, 3, 2, 2]), Tensor.zeros([3], dtype: .float64))
        }
        expectMessage(r, "convTranspose2d: input float32, weight float32, bias float64: dtypes differ")
    }

    @Test func embeddingFloatIndices() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = embedding(Tensor([0, 1] as [Float]), Tensor.zeros([4, 3]))
        }
        expectMessage(r, "embedding: indices must be int32 or int64, got float32")
    }

    @Test func gatherFloatIndex() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).gather(axis: 1, index: Tensor([0, 1] as [Float], shape: [2, 1]))
        }
        expectMessage(r, "gather: index must be int32 or int64, got float32")
    }

    @Test func indexSelectFloatIndex() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).indexSelect(axis: 0, index: Tensor([0] as [Double]))
        }
        expectMessage(r, "indexSelect: index must be int32 or int64, got float64")
    }

    @Test func scatterAddSourceDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).scatterAdd(axis: 1, index: Tensor([0, 1] as [Int64], shape: [2, 1]),
                                                source: Tensor.ones([2, 1], dtype: .float64))
        }
        expectMessage(r, "scatterAdd: input float32, source float64: dtypes differ")
    }

    @Test func scatterAddIndexBackend() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // the default backend is the CPU even under EMBER_BACKEND=reference
            DefaultBackend.with(CPUBackend.shared) {
                _ = Tensor.zeros([2, 3]).scatterAdd(axis: 1, index: Tensor.zeros([2, 1], dtype: .int64, on: CPUBackend()),
                                                    source: Tensor.ones([2, 1]))
            }
        }
        expectMessage(r, "scatterAdd: input on cpu#1, index on cpu#2, source on cpu#1: backends differ")
    }

    @Test func whereNonBoolCondition() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.where(Tensor([1, 0] as [Int64]), Tensor.ones([2]), Tensor.zeros([2]))
        }
        expectMessage(r, "where: condition must be a bool tensor, got int64")
    }

    @Test func maskedFillNonBoolMask() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2]).maskedFill(Tensor([1, 0] as [Float]), 5)
        }
        expectMessage(r, "maskedFill: mask must be a bool tensor, got float32")
    }

    @Test func binaryBackends() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // the default backend is the CPU even under EMBER_BACKEND=reference
            DefaultBackend.with(CPUBackend.shared) {
                _ = Tensor.ones([2]) * Tensor.ones([2], on: CPUBackend())
            }
        }
        expectMessage(r, "mul: a on cpu#1, b on cpu#2: backends differ")
    }

    @Test func concatBackends() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // the default backend is the CPU even under EMBER_BACKEND=reference
            DefaultBackend.with(CPUBackend.shared) {
                _ = concat([Tensor.ones([2]), Tensor.ones([2]), Tensor.ones([2], on: CPUBackend())])
            }
        }
        expectMessage(r, "concat: tensor 0 on cpu#1, tensor 1 on cpu#1, tensor 2 on cpu#2: backends differ")
    }

    @Test func adamMomentDType() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let p = Tensor.zeros([3])
            p.adamUpdate(grad: Tensor.ones([3]), m: Tensor.zeros([3], dtype: .float64), v: Tensor.zeros([3]),
                         lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1)
        }
        expectMessage(r, "adamUpdate: parameter float32, m float64, v float32: dtypes differ")
    }

    // MARK: ops that promote

    /// Every broadcasting binary op: float32 with float64 equals the float64 computation (float32 values are exact in
    /// float64), int64 with float32 equals the float32 computation, int32 with int64 equals the int64 one; the
    /// result has the promoted dtype (bool for comparisons). Mixed shapes and a transposed operand too.
    @Test func binaryOpsPromoteAndComputeInThePromotedDType() {
        let ops: [(String, (Tensor, Tensor) -> Tensor)] = [
            ("add", { $0 + $1 }), ("sub", { $0 - $1 }), ("mul", { $0 * $1 }), ("div", { $0 / $1 }),
            ("pow", { $0.pow($1) }), ("maximum", { $0.maximum($1) }), ("minimum", { $0.minimum($1) }),
            ("eq", { $0 .== $1 }), ("ne", { $0 .!= $1 }), ("lt", { $0 .< $1 }), ("le", { $0 .<= $1 }),
            ("gt", { $0 .> $1 }), ("ge", { $0 .>= $1 }),
        ]
        let comparisons: Set<String> = ["eq", "ne", "lt", "le", "gt", "ge"]
        // a: [2, 3], b: [3] (broadcast), values with ties and fractions that float32 holds exactly
        let aValues: [Double] = [1.5, -2, 3, 0.25, 2, 7], bValues: [Double] = [1.5, 2, 0.5]
        let cases: [(DType, DType, DType)] = [
            (.float32, .float64, .float64), (.float64, .float32, .float64),
            (.int64, .float32, .float32), (.float32, .int64, .float32), (.int32, .float64, .float64),
            (.int32, .int64, .int64), (.bool, .float32, .float32),
        ]
        for (da, db, promoted) in cases {
            let ints = !da.isFloatingPoint || !db.isFloatingPoint
            let av = ints ? aValues.map { $0.rounded(.down) } : aValues
            let bv = ints ? bValues.map { Swift.max($0.rounded(.down), 1) } : bValues
            let a = (da == .bool ? Tensor(av.map { $0 > 0 }, shape: [2, 3]) : Tensor(av, shape: [2, 3]).cast(da))
            let b = Tensor(bv, shape: [3]).cast(db)
            for (name, f) in ops {
                if da == .bool && name == "pow" { continue }
                let got = f(a, b), want = f(a.cast(promoted), b.cast(promoted))
                let wantDType: DType = comparisons.contains(name) ? .bool
                    : (name == "div" && !promoted.isFloatingPoint ? .float32 : promoted)
                #expect(got.dtype == wantDType, "\(name) \(da) \(db): dtype \(got.dtype)")
                #expect(got.shape == [2, 3], "\(name) \(da) \(db)")
                #expect(got.toArray(Double.self) == want.toArray(Double.self), "\(name) \(da) \(db)")
                // the other operand order, with a transposed (non-contiguous) first operand
                let at = a.reshaped([3, 2]).transposed()
                let got2 = f(b.reshaped([1, 3]), at), want2 = f(b.reshaped([1, 3]).cast(promoted), at.cast(promoted))
                #expect(got2.toArray(Double.self) == want2.toArray(Double.self), "\(name) \(db) \(da) (transposed)")
            }
        }
        // int / int is true division in float32, as PyTorch
        #expect((Tensor([7, -7] as [Int64]) / Tensor([2, 2] as [Int32])).toArray(Float.self) == [3.5, -3.5])
        // gradients come back in each operand's own dtype, with the promoted computation's values
        let x = Tensor([1.5, -2, 3] as [Float]), y = Tensor([0.5, 4, -1] as [Double])
        x.requiresGrad = true; y.requiresGrad = true
        (x * y + x.pow(y.abs())).sum().backward()
        let x64 = Tensor([1.5, -2, 3] as [Double]), y64 = Tensor([0.5, 4, -1] as [Double])
        x64.requiresGrad = true; y64.requiresGrad = true
        (x64 * y64 + x64.pow(y64.abs())).sum().backward()
        #expect(x.grad?.dtype == .float32 && y.grad?.dtype == .float64)
        #expect(x.grad?.toArray(Double.self) == x64.grad?.cast(.float32).toArray(Double.self))
        #expect(y.grad?.toArray(Double.self).map { $0.isNaN } == y64.grad?.toArray(Double.self).map { $0.isNaN })
    }

    @Test func whereAndConcatPromote() {
        let c = Tensor([true, false, true])
        let w = Tensor.where(c, Tensor([1.25, 2, 3] as [Float]), Tensor([10, 20, 30] as [Int64]))
        #expect(w.dtype == .float32 && w.toArray(Double.self) == [1.25, 20, 3])
        let w2 = Tensor.where(c, Tensor([1, 2, 3] as [Float]), Tensor([0.1, 0.2, 0.3] as [Double]))
        #expect(w2.dtype == .float64 && w2.toArray(Double.self) == [1, 0.2, 3])
        let k = concat([Tensor([1, 2] as [Int32]), Tensor([0.5] as [Float]), Tensor([0.1] as [Double])])
        #expect(k.dtype == .float64 && k.toArray(Double.self) == [1, 2, Double(Float(0.5)), 0.1])
        let s = stack([Tensor([1, 2] as [Int64]), Tensor([0.5, 0.25] as [Float])])
        #expect(s.dtype == .float32 && s.toArray(Double.self) == [1, 2, 0.5, 0.25])
        #expect(Tensor([1, 2, 3] as [Float]).maskedFill(c, -1).toArray(Float.self) == [-1, 2, -1])
    }
}
