import Foundation
import Testing
import EmberTestSupport
@testable import EmberCore

// uint8, float16 and bfloat16 against PyTorch 2.13 (Fixtures/dtype_golden.json, written by
// scripts/golden/make_dtype_golden.py; every float as its bit pattern) and against the IEEE definitions exhaustively.

nonisolated(unsafe) private let golden: [String: Any] = {
    guard let url = Bundle.module.url(forResource: "dtype_golden", withExtension: "json", subdirectory: "Fixtures"),
          let data = try? Data(contentsOf: url),
          let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        fatalError("NarrowDTypeTests: Fixtures/dtype_golden.json is missing; run scripts/golden/make_dtype_golden.py")
    }
    return obj
}()

private func rows(_ key: String) -> [[Any]] { golden[key] as! [[Any]] }
private func int(_ v: Any) -> Int { (v as! NSNumber).intValue }
private func ints(_ v: Any?) -> [Int] { (v as! [NSNumber]).map(\.intValue) }
private func f64(_ hex: Any) -> Double { Double(bitPattern: UInt64(hex as! String, radix: 16)!) }

/// The IEEE 754 binary16 value of a bit pattern, computed from the definition in Double (exact).
private func ieeeHalf(_ h: UInt16) -> Double {
    let sign: Double = h & 0x8000 != 0 ? -1 : 1
    let e = Int(h >> 10) & 0x1F, m = Double(h & 0x3FF)
    if e == 0x1F { return m == 0 ? sign * .infinity : .nan }
    if e == 0 { return sign * m * 0x1p-24 }
    return sign * (1 + m / 1024) * Double(sign: .plus, exponent: e - 15, significand: 1)
}

@Suite struct NarrowDTypeTests {
    // MARK: promotion

    @Test func promotionMatchesPyTorch() {
        for r in rows("promote") {
            let a = DType(rawValue: r[0] as! String)!, b = DType(rawValue: r[1] as! String)!
            #expect(DType.promote(a, b) == DType(rawValue: r[2] as! String)!, "promote(\(a), \(b))")
        }
    }

    @Test func mixedArithmeticMatchesPyTorch() {
        func tensor(_ name: String, _ v: Any) -> Tensor {
            let dt = DType(rawValue: name)!
            let xs = ints(v)
            switch dt {
            case .float16, .bfloat16: return Tensor(bitPatterns: xs.map { UInt16($0) }, dtype: dt)
            case .float32: return Tensor(xs.map { Float(bitPattern: UInt32($0)) })
            case .uint8: return Tensor(xs.map { UInt8($0) })
            default: return Tensor(xs.map { Int64($0) })
            }
        }
        func encoded(_ t: Tensor) -> [Int] {
            switch t.dtype {
            case .float16, .bfloat16: return t.bitPatterns().map(Int.init)
            case .float32: return t.toArray(Float.self).map { Int($0.bitPattern) }
            default: return t.toArray(Int64.self).map { Int($0) }
            }
        }
        for r in rows("mixed") {
            let a = tensor(r[0] as! String, r[3]), b = tensor(r[1] as! String, r[4])
            let y = a + b
            #expect(y.dtype == DType(rawValue: r[2] as! String)!, "\(a.dtype) + \(b.dtype)")
            #expect(encoded(y) == ints(r[5]), "\(a.dtype) + \(b.dtype)")
        }
    }

    // MARK: float16 / bfloat16 conversions

    @Test func float32ToHalfMatchesPyTorch() {
        let rs = rows("f32_to_half")
        let x = Tensor(rs.map { Float(bitPattern: UInt32(int($0[0]))) })
        let h = x.cast(.float16).bitPatterns(), b = x.cast(.bfloat16).bitPatterns()
        var checked = 0
        for (i, r) in rs.enumerated() {
            let v = Float(bitPattern: UInt32(int(r[0])))
            if v.isNaN {
                // PyTorch's NaN bits depend on its kernel; NaN must stay NaN.
                #expect(DType.float16.float(fromHalfBits: h[i]).isNaN && DType.bfloat16.float(fromHalfBits: b[i]).isNaN)
                continue
            }
            #expect(Int(h[i]) == int(r[1]), "float16 of \(v) (0x\(String(UInt32(int(r[0])), radix: 16)))")
            #expect(Int(b[i]) == int(r[2]), "bfloat16 of \(v) (0x\(String(UInt32(int(r[0])), radix: 16)))")
            #expect(DType.float16.halfBits(v) == h[i] && DType.bfloat16.halfBits(v) == b[i])
            checked += 1
        }
        #expect(checked > 2500)
    }

    @Test func float64ToHalfRoundsThroughFloat32LikePyTorch() {
        let rs = rows("f64_to_half")
        let x = Tensor(rs.map { f64($0[0]) })
        let h = x.cast(.float16).bitPatterns(), b = x.cast(.bfloat16).bitPatterns()
        for (i, r) in rs.enumerated() where !f64(r[0]).isNaN {
            #expect(Int(h[i]) == int(r[1]) && Int(b[i]) == int(r[2]), "\(f64(r[0]))")
        }
        // 1 + 2^-11 + 2^-40 lies above float16's halfway point 1 + 2^-11, but float32 drops the 2^-40 and the tie
        // rounds to even: PyTorch gives 1.0, and so does Ember.
        #expect(Tensor([1 + 0x1p-11 + 0x1p-40] as [Double]).cast(.float16).bitPatterns() == [0x3C00])
    }

    @Test func everyFloat16PatternConvertsExactly() {
        let all = (0...0xFFFF).map { UInt16($0) }
        let t = Tensor(bitPatterns: all, dtype: .float16)
        let f = t.cast(.float32).toArray(Float.self), d = t.cast(.float64).toArray(Double.self)
        let back = t.cast(.float32).cast(.float16).bitPatterns()
        #expect(t.toArray(Float.self) == f.map { $0 } || f.contains { $0.isNaN })
        var bad = 0
        for h in all {
            let i = Int(h), ref = ieeeHalf(h)
            if ref.isNaN {
                // NaN: sign and payload kept, made quiet (x86 F16C); back to float16 unchanged but quiet.
                let want = UInt32(h & 0x8000) << 16 | 0x7F80_0000 | UInt32(h & 0x3FF) << 13 | 0x40_0000
                if f[i].bitPattern != want || !d[i].isNaN || back[i] != h | 0x0200 { bad += 1 }
            } else if f[i].bitPattern != Float(ref).bitPattern || d[i].bitPattern != ref.bitPattern || back[i] != h {
                bad += 1
            }
        }
        #expect(bad == 0)
    }

    @Test func everyBFloat16PatternConvertsExactly() {
        let all = (0...0xFFFF).map { UInt16($0) }
        let t = Tensor(bitPatterns: all, dtype: .bfloat16)
        let f = t.cast(.float32).toArray(Float.self)
        let back = t.cast(.float32).cast(.bfloat16).bitPatterns()
        var bad = 0
        for h in all {
            let i = Int(h)
            let isNaN = h & 0x7F80 == 0x7F80 && h & 0x7F != 0
            if f[i].bitPattern != UInt32(h) << 16 { bad += 1 }
            if back[i] != (isNaN ? h | 0x0040 : h) { bad += 1 }
        }
        #expect(bad == 0)
    }

    /// Every halfway point between neighbouring float16 (and bfloat16) values rounds to the even one, and one float32
    /// ulp either side of it rounds to the nearer one.
    @Test func everyHalfwayPointRoundsToEven() {
        for dt in [DType.float16, .bfloat16] {
            let maxFinite: UInt16 = dt == .float16 ? 0x7BFF : 0x7F7F
            var inputs: [Float] = [], want: [UInt16] = []
            for lo in 0...maxFinite {
                let a = Double(dt.float(fromHalfBits: lo))
                // above the largest finite value, the next step of the same size (the halfway point overflows to inf)
                let b = lo == maxFinite ? a + (a - Double(dt.float(fromHalfBits: lo - 1))) : Double(dt.float(fromHalfBits: lo + 1))
                let mid = Float((a + b) / 2)
                #expect(Double(mid) == (a + b) / 2)
                let even = lo & 1 == 0 ? lo : lo + 1
                inputs += [mid, mid.nextDown, mid.nextUp, -mid]
                want += [even, lo, lo + 1, even | 0x8000]
            }
            let got = Tensor(inputs).cast(dt).bitPatterns()
            let bad = zip(got, want).filter { $0 != $1 }.count
            #expect(bad == 0, "\(dt): \(bad) of \(want.count) halfway conversions wrong")
        }
    }

    @Test func nanKeepsSignAndPayloadAndBecomesQuiet() {
        #expect(DType.float16.halfBits(Float(bitPattern: 0x7F80_2000)) == 0x7E01)   // signalling, payload 1 << 13
        #expect(DType.float16.halfBits(Float(bitPattern: 0xFFC0_0000)) == 0xFE00)
        #expect(DType.float16.halfBits(Float(bitPattern: 0x7F80_0001)) == 0x7E00)   // payload below float16's bits
        #expect(DType.bfloat16.halfBits(Float(bitPattern: 0xFF81_0000)) == 0xFFC1)
        #expect(DType.bfloat16.halfBits(Float(bitPattern: 0x7F80_0001)) == 0x7FC0)
        #expect(DType.bfloat16.halfBits(.infinity) == 0x7F80 && DType.bfloat16.halfBits(3.4028235e38) == 0x7F80)
        #expect(DType.float16.halfBits(65520) == 0x7C00 && DType.float16.halfBits(65519.996) == 0x7BFF)
    }

    // MARK: uint8

    @Test func castsToUInt8MatchPyTorch() {
        let g = golden["to_uint8"] as! [String: [[Any]]]
        let f32 = g["f32"]!, f64r = g["f64"]!, f16 = g["f16"]!, i64 = g["i64"]!, i32 = g["i32"]!
        #expect(Tensor(f32.map { Float(bitPattern: UInt32(int($0[0]))) }).cast(.uint8).toArray(UInt8.self).map(Int.init)
                == f32.map { int($0[1]) })
        #expect(Tensor(f64r.map { f64($0[0]) }).cast(.uint8).toArray(UInt8.self).map(Int.init) == f64r.map { int($0[1]) })
        #expect(Tensor(bitPatterns: f16.map { UInt16(int($0[0])) }, dtype: .float16).cast(.uint8).toArray(UInt8.self)
                .map(Int.init) == f16.map { int($0[1]) })
        #expect(Tensor(i64.map { Int64(($0[0] as! NSNumber).int64Value) }).cast(.uint8).toArray(UInt8.self).map(Int.init)
                == i64.map { int($0[1]) })
        #expect(Tensor(i32.map { Int32(int($0[0])) }).cast(.uint8).toArray(UInt8.self).map(Int.init) == i32.map { int($0[1]) })
        // toArray(UInt8.self) converts as cast does
        #expect(Tensor([300.7, -1, .nan] as [Float]).toArray(UInt8.self) == [44, 255, 0])
    }

    @Test func uint8ArithmeticMatchesPyTorch() {
        let g = golden["uint8_ops"] as! [String: Any]
        let a = Tensor(ints(g["a"]).map { UInt8($0) }), b = Tensor(ints(g["b"]).map { UInt8($0) })
        func u8(_ t: Tensor) -> [Int] { #expect(t.dtype == .uint8); return t.toArray(UInt8.self).map(Int.init) }
        #expect(u8(a + b) == ints(g["add"]))
        #expect(u8(a - b) == ints(g["sub"]))
        #expect(u8(a * b) == ints(g["mul"]))
        #expect(u8(-a) == ints(g["neg"]))
        #expect(u8(a.maximum(b)) == ints(g["maximum"]))
        #expect(u8(a.minimum(b)) == ints(g["minimum"]))
        let e = Tensor(ints(g["b"]).map { UInt8($0 % 4) })
        #expect(u8(a.pow(e)) == ints(g["pow"]))
        #expect(u8(a + 300) == ints(g["add_300"]))
        #expect(u8(a * -1) == ints(g["mul_neg1"]))
        #expect((a .< b).toArray(Bool.self) == (g["lt"] as! [Bool]))
        #expect((a .== b).toArray(Bool.self) == (g["eq"] as! [Bool]))
        let half = a * 0.5
        #expect(half.dtype == .float32 && half.toArray(Float.self).map { Int($0.bitPattern) } == ints(g["mul_half"]))
        let q = a / b.maximum(Tensor([1] as [UInt8]))
        #expect(q.dtype == .float32 && q.toArray(Float.self).map { Int($0.bitPattern) } == ints(g["div"]))
        // sums accumulate in int64 (no wrap-around)
        let sum = a.sum(), running = a.cumsum(axis: 0)
        #expect(sum.dtype.rawValue == g["sum_dtype"] as? String && sum.item() == (g["sum"] as! NSNumber).doubleValue)
        #expect(running.dtype.rawValue == g["cumsum_dtype"] as? String)
        #expect(running.toArray(Int64.self).map(Int.init) == ints(g["cumsum"]))
    }

    @Test func uint8StorageAndCreation() {
        let t = Tensor([0, 17, 128, 255] as [UInt8], shape: [2, 2])
        #expect(t.dtype == .uint8 && t.dtype.byteSize == 1 && !t.dtype.isFloatingPoint)
        #expect(t.toArray(UInt8.self) == [0, 17, 128, 255] && t.toArray(Float.self) == [0, 17, 128, 255])
        #expect(t.transposed(0, 1).toArray(UInt8.self) == [0, 128, 17, 255])
        #expect(t.cast(.float32).cast(.uint8).toArray(UInt8.self) == [0, 17, 128, 255])
        #expect(t.cast(.float16).toArray(Float.self) == [0, 17, 128, 255] && t.cast(.bool).toArray(Bool.self) == [false, true, true, true])
        #expect(Tensor.full([3], 300, dtype: .uint8).toArray(UInt8.self) == [44, 44, 44])
        #expect(Tensor.ones([2], dtype: .uint8).toArray(UInt8.self) == [1, 1])
        #expect(Tensor(3, dtype: .uint8).item() == 3)
        #expect(t.max().item() == 255 && t.min().item() == 0 && t.argmax().item() == 3)
        #expect("\(Tensor([1, 255] as [UInt8]))" == "tensor([1, 255], dtype: uint8)")
        // the usual first op of a model on an image batch: bytes to float32 in [0, 1]
        let x = t.cast(.float32) * (1.0 / 255)
        #expect(x.dtype == .float32 && x.toArray(Float.self) == [0, 17, 128, 255].map { Float($0) * Float(1.0 / 255) })
        #expect((t .> 100).toArray(Bool.self) == [false, false, true, true])
        #expect(Tensor([1, 2, 3] as [Float], dtype: .uint8).toArray(UInt8.self) == [1, 2, 3])
    }

    // MARK: half compute

    @Test func halfArithmeticMatchesPyTorch() {
        let ops = golden["half_ops"] as! [String: [String: Any]]
        for (name, g) in ops {
            let dt = DType(rawValue: name)!
            let shape = ints(g["shape"])
            let a = Tensor(bitPatterns: ints(g["a"]).map { UInt16($0) }, shape: shape, dtype: dt)
            let b = Tensor(bitPatterns: ints(g["b"]).map { UInt16($0) }, shape: shape, dtype: dt)
            func bits(_ t: Tensor) -> [Int] { #expect(t.dtype == dt); return t.bitPatterns().map(Int.init) }
            // one float32 op rounded once: exactly PyTorch's
            #expect(bits(a + b) == ints(g["add"]), "\(dt) add")
            #expect(bits(a - b) == ints(g["sub"]), "\(dt) sub")
            #expect(bits(a * b) == ints(g["mul"]), "\(dt) mul")
            #expect(bits(a / b) == ints(g["div"]), "\(dt) div")
            #expect(bits(a.maximum(b)) == ints(g["maximum"]), "\(dt) maximum")
            // A Swift number is a kernel argument: rounded to the half type for sums, differences and comparisons,
            // a float32 in products and quotients (PyTorch 2.13's rules): exactly PyTorch's bits
            #expect(bits(a * 0.1) == ints(g["mul_scalar"]), "\(dt) mul scalar")
            #expect(bits(a + 0.1) == ints(g["add_scalar"]), "\(dt) add scalar")
            #expect(bits(a / 3) == ints(g["div_scalar"]), "\(dt) div scalar")
            #expect(bits(0.3 - a) == ints(g["rsub_scalar"]), "\(dt) rsub scalar")
            // `1.5 / a` in PyTorch is Python's `a.reciprocal() * 1.5` (two roundings); Ember divides once in float32.
            #expect(bits(1.5 / a) == bits((1.5 / a.cast(.float32)).cast(dt)), "\(dt) rdiv scalar")
            #expect(bits(a.reciprocal() * 1.5) == ints(g["rdiv_scalar"]), "\(dt) PyTorch's rdiv")
            #expect((a .< 0.1).toArray(Bool.self) == (g["lt_scalar"] as! [Bool]), "\(dt) lt scalar")
            #expect(a.cast(.float32).toArray(Float.self).map { Int($0.bitPattern) } == ints(g["to_f32"]))
            // libm functions and sums in another order: within one unit in the last place of the half result
            let ulps: [(String, Tensor)] = [("exp", a.exp()), ("tanh", a.tanh()), ("sum1", a.sum(axis: 1)),
                                            ("matmul", matmul(a, b.transposed(0, 1))), ("softmax1", a.softmax(axis: 1))]
            for (op, y) in ulps {
                let got = bits(y), want = ints(g[op])
                #expect(got.count == want.count)
                for (x, w) in zip(got, want) where x != w {
                    #expect(abs(x - w) <= 1 && (x ^ w) & 0x8000 == 0, "\(dt) \(op): 0x\(String(x, radix: 16)) vs PyTorch's 0x\(String(w, radix: 16))")
                }
            }
        }
    }

    @Test func halfTensorsTrainThroughFloat32Kernels() {
        for dt in [DType.float16, .bfloat16] {
            let x = Tensor([1, -2, 0.5, 3] as [Float], shape: [2, 2], dtype: dt)
            x.requiresGrad = true
            let w = Tensor([0.25, 1, -1, 2] as [Float], shape: [2, 2], dtype: dt)
            let y = (matmul(x, w).relu() * x).sum()
            y.backward()
            let g = try! #require(x.grad)
            #expect(g.dtype == dt)
            // the same in float32, rounded: every value here is exact in both half types
            let x32 = Tensor([1, -2, 0.5, 3] as [Float], shape: [2, 2])
            x32.requiresGrad = true
            (matmul(x32, w.cast(.float32)).relu() * x32).sum().backward()
            #expect(g.toArray(Float.self) == x32.grad!.toArray(Float.self))
            #expect(y.item() == (matmul(x32, w.cast(.float32)).relu() * x32).sum().item())
            #expect(x.cast(.float32).dtype == .float32 && Tensor.zeros([2], dtype: dt).toArray(Float.self) == [0, 0])
            #expect(Tensor.full([2], 0.1, dtype: dt).bitPatterns() == [dt.halfBits(0.1), dt.halfBits(0.1)])
            #expect(concat([x, x], axis: 0).bitPatterns() == x.bitPatterns() + x.bitPatterns())
            #expect(Tensor.where(Tensor([true, false]), x.reshaped([4])[0..<2], x.reshaped([4])[2..<4]).toArray(Float.self) == [1, 3])
            #expect(x.cumsum(axis: 1).toArray(Float.self) == [1, -1, 0.5, 3.5])
        }
    }

    @Test func convolutionRefusesHalfTensors() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Tensor.zeros([1, 1, 4, 4], dtype: .float16), Tensor.zeros([1, 1, 3, 3], dtype: .float16))
        }
        expectMessage(r, "conv2d: needs a float32 or float64 tensor, got float16 (cast half tensors to float32)")
    }
}
