import EmberTestSupport
import Testing
@testable import EmberCore

/// Tensor-scalar arithmetic runs `Backend.binaryScalar` with the number as a kernel argument. Its results must equal
/// the tensor-tensor kernels with the number as a 0-d tensor of the computing dtype (the path it replaced, whose
/// results the PyTorch goldens pin), on strided inputs, for every dtype, on both backends.
@Suite struct ScalarOperandTests {
    static let numbers: [Double] = [2, -3, 0.5, 0.1, 300, -0.0]
    static let dtypes: [DType] = [.float32, .float64, .int32, .int64, .uint8, .bool]

    /// A transposed (non-contiguous) [3, 4] view with values that exercise signs, zero and wrap-around.
    static func input(_ dtype: DType, on device: Device = .cpu) -> Tensor {
        let values: [Double] = [0, 1, -2, 3.5, 250, -0.0, 7, 1e-3, -9, 12, 2, 255]
        let base = DefaultBackend.with(device.backend) { Tensor(values, shape: [4, 3]) }
        return base.cast(dtype).transposed(0, 1)
    }

    /// The dtype PyTorch computes `tensor op number` in, for Ember's Double numbers.
    static func computeType(_ dt: DType, _ s: Double, division: Bool) -> DType {
        if dt.isFloatingPoint { return dt }
        if division || s.rounded() != s { return .float32 }
        return dt == .bool ? .int64 : dt
    }

    static func bits(_ t: Tensor) -> [UInt64] {
        t.toArray(Double.self).map { $0.isNaN ? 0x7FF8_0000_0000_0000 : $0.bitPattern }
    }

    @Test(arguments: dtypes)
    func equalsTheTensorTensorKernels(_ dt: DType) {
        let x = Self.input(dt)
        for s in Self.numbers {
            let ct = Self.computeType(dt, s, division: false), dv = Self.computeType(dt, s, division: true)
            let c = Tensor(s, dtype: ct, on: x.backend), d = Tensor(s, dtype: dv, on: x.backend)
            let a = x.cast(ct), q = x.cast(dv)
            let pairs: [(String, Tensor, Tensor)] = [
                ("x + s", x + s, a + c), ("x - s", x - s, a - c), ("s - x", s - x, c - a), ("x * s", x * s, a * c),
                ("x / s", x / s, q / d), ("s / x", s / x, d / q),
                ("x == s", x .== s, a .== c), ("x != s", x .!= s, a .!= c), ("x < s", x .< s, a .< c),
                ("x <= s", x .<= s, a .<= c), ("x > s", x .> s, a .> c), ("x >= s", x .>= s, a .>= c),
            ]
            for (name, got, want) in pairs {
                #expect(got.dtype == want.dtype && got.shape == want.shape, "\(dt) \(name) s=\(s)")
                #expect(Self.bits(got) == Self.bits(want), "\(dt) \(name) s=\(s)")
            }
        }
    }

    @Test(arguments: dtypes + [.float16, .bfloat16])
    func referenceBackendAgrees(_ dt: DType) {
        let x = Self.input(dt), r = Self.input(dt, on: .reference)
        for s in Self.numbers {
            let cpu = [x + s, x - s, s - x, x * s, x / s, s / x, x .< s, x .== s]
            let ref = [r + s, r - s, s - r, r * s, r / s, s / r, r .< s, r .== s]
            for (i, (c, f)) in zip(cpu, ref).enumerated() {
                #expect(f.device == .reference)
                #expect(c.dtype == f.dtype && Self.bits(c) == Self.bits(f), "\(dt) op \(i) s=\(s)")
            }
        }
    }

    @Test func promotionFollowsPyTorch() {
        let i = Tensor([1, 2, 3] as [Int64])
        let scaled = i * 2.5, halved = i / 2
        #expect(scaled.dtype == .float32 && scaled.toArray(Float.self) == [2.5, 5, 7.5])
        #expect((i * 2).dtype == .int64 && halved.dtype == .float32)
        #expect(halved.toArray(Float.self) == [0.5, 1, 1.5])
        let b = Tensor([true, false])
        #expect((b + 1).dtype == .int64 && (b + 1).toArray(Int64.self) == [2, 1])
        let u = Tensor([1, 2, 200] as [UInt8])
        #expect((u + 300).dtype == .uint8 && (u + 300).toArray(UInt8.self) == [45, 46, 244])
        #expect((Tensor([1, 2] as [Int32]) + Double.nan).dtype == .float32)
    }

    /// In-place changes of an input after `x + 1` don't invalidate its backward (the op saves nothing), but they
    /// do for `1 / x`, which reads x.
    @Test func savedInputsFollowTheRule() {
        let x = Tensor([1, 2, 4] as [Double]); x.requiresGrad = true
        let y = (x * 3 + 1).sum()
        y.backward()
        #expect(x.grad!.toArray(Double.self) == [3, 3, 3])
        let z = (2 / x).sum()
        z.backward()
        let want: [Double] = [1.0, 2.0, 4.0].map { v in 3 - 2 / (v * v) }  // d/dx (3x + 1) + d/dx (2 / x)
        #expect(x.grad!.toArray(Double.self) == want)
    }
}
