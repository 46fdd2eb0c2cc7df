import CEmberKernels
import EmberTestSupport
import Foundation
import Testing
@testable import EmberCore

/// A backend that forwards every kernel to the `ReferenceBackend` and counts the host transfers and in-place
/// kernels it is asked for: proof that code outside a backend reaches a tensor's bytes only through the seam.
/// `hostMemory: false` makes it claim device memory (its memory is still host memory underneath, so nothing breaks
/// if a check is missing, but `withUnsafeBufferPointer` must refuse it).
final class CountingBackend: Backend, @unchecked Sendable {
    private let base = ReferenceBackend.shared
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private let hostMemory: Bool

    init(hostMemory: Bool = true) { self.hostMemory = hostMemory }

    private func bump(_ key: String) { lock.lock(); counts[key, default: 0] += 1; lock.unlock() }
    /// How many times `key` ("upload", "download", "axpby", "adam") was called.
    func count(_ key: String) -> Int { lock.lock(); defer { lock.unlock() }; return counts[key, default: 0] }
    /// Forgets the counts so far.
    func reset() { lock.lock(); counts = [:]; lock.unlock() }

    var name: String { "counting" }
    var isHostMemory: Bool { hostMemory }
    func allocate(byteCount: Int) -> (UnsafeMutableRawPointer, Int) { base.allocate(byteCount: byteCount) }
    func deallocate(_ pointer: UnsafeMutableRawPointer, capacity: Int) { base.deallocate(pointer, capacity: capacity) }
    func upload(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer) {
        bump("upload")
        base.upload(source, byteCount: byteCount, into: destination)
    }
    func download(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer) {
        bump("download")
        base.download(source, byteCount: byteCount, into: destination)
    }
    func copy(_ src: Operand, into dst: Operand, shape: [Int]) { base.copy(src, into: dst, shape: shape) }
    func fill(_ dst: Operand, count: Int, value: Double) { base.fill(dst, count: count, value: value) }
    func unary(_ op: UnaryOp, _ x: Operand, _ out: Operand, count: Int) { base.unary(op, x, out, count: count) }
    func binary(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        base.binary(op, a, b, out, shape: shape)
    }
    func binaryScalar(_ op: BinaryOp, _ a: Operand, _ scalar: Double, reversed: Bool, _ out: Operand, shape: [Int]) {
        bump("binaryScalar")
        base.binaryScalar(op, a, scalar, reversed: reversed, out, shape: shape)
    }
    func select(_ cond: Operand, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int]) {
        base.select(cond, a, b, out, shape: shape)
    }
    func reduce(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        base.reduce(op, x, out, outer: outer, n: n, inner: inner)
    }
    func argReduce(max: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        base.argReduce(max: max, x, out, outer: outer, n: n, inner: inner)
    }
    func softmax(log: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        base.softmax(log: log, x, out, outer: outer, n: n, inner: inner)
    }
    func softmaxBackward(log: Bool, y: Operand, g: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        base.softmaxBackward(log: log, y: y, g: g, out, outer: outer, n: n, inner: inner)
    }
    func cumsum(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int) {
        base.cumsum(x, out, outer: outer, n: n, inner: inner)
    }
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
              a: Operand, lda: Int, b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int) {
        base.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
    }
    func conv2dForward(_ x: Operand, weight: Operand, bias: Operand?, _ out: Operand, _ s: Conv2dShape) {
        base.conv2dForward(x, weight: weight, bias: bias, out, s)
    }
    func conv2dInputGrad(_ g: Operand, weight: Operand, _ gx: Operand, _ s: Conv2dShape) {
        base.conv2dInputGrad(g, weight: weight, gx, s)
    }
    func conv2dWeightGrad(_ x: Operand, _ g: Operand, _ gw: Operand, _ s: Conv2dShape) {
        base.conv2dWeightGrad(x, g, gw, s)
    }
    func batchNormStats(_ x: Operand, _ stats: Operand, batch: Int, channels: Int, inner: Int) {
        base.batchNormStats(x, stats, batch: batch, channels: channels, inner: inner)
    }
    func batchNormApply(_ x: Operand, stats: Operand, weight: Operand?, bias: Operand?, _ y: Operand, batch: Int,
                        channels: Int, inner: Int, eps: Double) {
        base.batchNormApply(x, stats: stats, weight: weight, bias: bias, y, batch: batch, channels: channels, inner: inner, eps: eps)
    }
    func batchNormBackward(_ g: Operand, _ x: Operand, stats: Operand, weight: Operand?, gx: Operand?,
                           gweight: Operand?, gbias: Operand?, batch: Int, channels: Int, inner: Int, eps: Double) {
        base.batchNormBackward(g, x, stats: stats, weight: weight, gx: gx, gweight: gweight, gbias: gbias, batch: batch,
                               channels: channels, inner: inner, eps: eps)
    }
    func layerNormForward(_ x: Operand, weight: Operand?, bias: Operand?, _ y: Operand, rows: Int, cols: Int, eps: Double) {
        base.layerNormForward(x, weight: weight, bias: bias, y, rows: rows, cols: cols, eps: eps)
    }
    func layerNormBackward(_ g: Operand, _ x: Operand, weight: Operand?, gx: Operand?, gweight: Operand?, gbias: Operand?,
                           rows: Int, cols: Int, eps: Double) {
        base.layerNormBackward(g, x, weight: weight, gx: gx, gweight: gweight, gbias: gbias, rows: rows, cols: cols, eps: eps)
    }
    func maxPool2d(_ x: Operand, _ out: Operand, indices: Operand, planes: Int, _ g: Conv2dGeometry) {
        base.maxPool2d(x, out, indices: indices, planes: planes, g)
    }
    func maxPool2dBackward(_ g: Operand, indices: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry) {
        base.maxPool2dBackward(g, indices: indices, out, planes: planes, geo)
    }
    func avgPool2d(_ x: Operand, _ out: Operand, planes: Int, _ g: Conv2dGeometry, countIncludePad: Bool) {
        base.avgPool2d(x, out, planes: planes, g, countIncludePad: countIncludePad)
    }
    func avgPool2dBackward(_ g: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry, countIncludePad: Bool) {
        base.avgPool2dBackward(g, out, planes: planes, geo, countIncludePad: countIncludePad)
    }
    func gather(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        base.gather(x, index: index, out, outer: outer, n: n, m: m, inner: inner)
    }
    func scatterAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        base.scatterAdd(src, index: index, out, outer: outer, n: n, m: m, inner: inner)
    }
    func indexSelect(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        base.indexSelect(x, index: index, out, outer: outer, n: n, m: m, inner: inner)
    }
    func indexAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int) {
        base.indexAdd(src, index: index, out, outer: outer, n: n, m: m, inner: inner)
    }
    func random(_ out: Operand, count: Int, normal: Bool, key: (UInt32, UInt32), counter: UInt64) {
        base.random(out, count: count, normal: normal, key: key, counter: counter)
    }
    func axpby(_ x: Operand, alpha: Double, _ y: Operand, beta: Double, count: Int) {
        bump("axpby")
        base.axpby(x, alpha: alpha, y, beta: beta, count: count)
    }
    func adam(param: Operand, grad: Operand, m: Operand, v: Operand, count: Int, lr: Double, beta1: Double,
              beta2: Double, eps: Double, step: Int, l2: Double, decoupledDecay: Double) {
        bump("adam")
        base.adam(param: param, grad: grad, m: m, v: v, count: count, lr: lr, beta1: beta1, beta2: beta2, eps: eps,
                  step: step, l2: l2, decoupledDecay: decoupledDecay)
    }
    func lstmCell(x: Operand, r: Operand, bias: Operand?, cPrev: Operand, hPrev: Operand, mask: Operand?,
                  saved: Operand, c: Operand, h: Operand, y: Operand, batch: Int, hidden: Int) {
        base.lstmCell(x: x, r: r, bias: bias, cPrev: cPrev, hPrev: hPrev, mask: mask, saved: saved, c: c, h: h, y: y,
                      batch: batch, hidden: hidden)
    }
    func lstmCellBackward(saved: Operand, cPrev: Operand, dh: Operand, dy: Operand, dc: Operand, mask: Operand?,
                          dGates: Operand, dBias: Operand?, batch: Int, hidden: Int) {
        base.lstmCellBackward(saved: saved, cPrev: cPrev, dh: dh, dy: dy, dc: dc, mask: mask, dGates: dGates,
                              dBias: dBias, batch: batch, hidden: hidden)
    }
    func gruCell(x: Operand, r: Operand, bias: Operand?, hPrev: Operand, mask: Operand?, saved: Operand, h: Operand,
                 y: Operand, batch: Int, hidden: Int) {
        base.gruCell(x: x, r: r, bias: bias, hPrev: hPrev, mask: mask, saved: saved, h: h, y: y, batch: batch,
                     hidden: hidden)
    }
    func gruCellBackward(saved: Operand, hPrev: Operand, dh: Operand, dy: Operand, mask: Operand?, dX: Operand,
                         dRec: Operand, dBias: Operand?, batch: Int, hidden: Int) {
        base.gruCellBackward(saved: saved, hPrev: hPrev, dh: dh, dy: dy, mask: mask, dX: dX, dRec: dRec, dBias: dBias,
                             batch: batch, hidden: hidden)
    }
    func attentionForward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                          _ s: AttentionShape, dropout: AttentionDropout?) {
        base.attentionForward(q: q, k: k, v: v, mask: mask, out: out, lse: lse, s, dropout: dropout)
    }
    func attentionBackward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                           gOut: Operand, gq: Operand, gk: Operand, gv: Operand, _ s: AttentionShape,
                           dropout: AttentionDropout?) {
        base.attentionBackward(q: q, k: k, v: v, mask: mask, out: out, lse: lse, gOut: gOut, gq: gq, gk: gk, gv: gv, s,
                               dropout: dropout)
    }
}

@Suite struct HostSeamTests {
    static let dtypes: [DType] = [.float32, .float64, .float16, .bfloat16, .int32, .int64, .uint8, .bool]

    /// What a tensor shows of itself on the host: values, dtype and rendering.
    private func observe(_ t: Tensor) -> ([Double], String) { (t.toArray(Double.self), t.description) }

    @Test(arguments: dtypes)
    func creationAndReadsMatchTheCPU(_ dtype: DType) {
        let values: [Double] = [0.1, -2.5, 3, 0, 65519, 1e-3]
        func build() -> [Tensor] {
            var rng = RandomState(seed: 7)
            return [
                Tensor(values, shape: [2, 3], dtype: dtype),
                Tensor(values.map { Float($0) }, dtype: dtype),
                Tensor(-1.75, dtype: dtype),
                Tensor.arange(-2, 5, step: 0.5, dtype: dtype),
                Tensor.linspace(-1, 1, count: 7, dtype: dtype),
                Tensor.eye(3, 4, dtype: dtype),
                Tensor.randint(0, 5, shape: [2, 4], dtype: dtype, rng: &rng),
                Tensor.full([2, 2], 3, dtype: dtype).T,
            ]
        }
        let cpu = DefaultBackend.with(CPUBackend.shared) { build() }
        let ref = DefaultBackend.with(ReferenceBackend.shared) { build() }
        for (c, r) in zip(cpu, ref) {
            #expect(c.backend === CPUBackend.shared && r.backend === ReferenceBackend.shared)
            let (cv, cd) = observe(c), (rv, rd) = observe(r)
            #expect(cv.map(\.bitPattern) == rv.map(\.bitPattern), "\(dtype): \(cv) vs \(rv)")
            #expect(cd == rd)
            if c.count == 1 { #expect(c.item().bitPattern == r.item().bitPattern) }
            if dtype.isHalf { #expect(c.bitPatterns() == r.bitPatterns()) }
        }
    }

    @Test func halfBitPatternsRoundTripOnTheReferenceBackend() {
        let bits: [UInt16] = [0x3C00, 0xBC00, 0x7C00, 0x0001, 0x7E00]
        for dt in [DType.float16, .bfloat16] {
            let t = DefaultBackend.with(ReferenceBackend.shared) { Tensor(bitPatterns: bits, shape: [5], dtype: dt) }
            #expect(t.backend === ReferenceBackend.shared)
            #expect(t.bitPatterns() == bits)
            #expect(t.reshaped([5, 1]).T.bitPatterns() == bits)
        }
    }

    @Test func scaleAddMatchesTheCPU() {
        for dtype in [DType.float32, .float64, .float16] {
            func run() -> [Double] {
                var rng = RandomState(seed: 3)
                let x = Tensor.normal([1000], rng: &rng).cast(dtype)
                let y = Tensor.normal([1000], rng: &rng).cast(dtype)
                x.scaleAdd(0.9, y, -0.3)
                x.scaleAdd(1, y.reshaped([10, 100]).T.contiguous().reshaped([1000]), 0.5)
                let z = Tensor.normal([20, 50], rng: &rng).cast(dtype)
                z.T.scaleAdd(2, z.T.contiguous(), 1)   // the strided path
                return x.toArray(Double.self) + z.toArray(Double.self)
            }
            let cpu = DefaultBackend.with(CPUBackend.shared) { run() }
            let ref = DefaultBackend.with(ReferenceBackend.shared) { run() }
            let tol = dtype == .float16 ? 1e-2 : dtype == .float32 ? 1e-6 : 1e-14
            for (c, r) in zip(cpu, ref) { #expect(Swift.abs(c - r) <= tol * Swift.max(1, Swift.abs(c)), "\(dtype): \(c) vs \(r)") }
        }
    }

    @Test func cpuScaleAddIsTheCKernelBitForBit() {
        // scaleAdd now reaches the CPU's axpby kernel through the backend: the same C call as before, so the same bits
        // (across the parallelFor split too).
        let n = 3 * (1 << 15) + 17
        var rng = RandomState(seed: 5)
        let x = DefaultBackend.with(CPUBackend.shared) { Tensor.normal([n], rng: &rng) }
        let y = DefaultBackend.with(CPUBackend.shared) { Tensor.normal([n], rng: &rng) }
        let xs = x.scalars, ys = y.scalars
        var expected = [Float](repeating: 0, count: n)
        ek_axpby_f32(xs, 0.9, ys, -0.3, &expected, n)
        x.scaleAdd(0.9, y, -0.3)
        #expect(x.scalars.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func adamUpdateMatchesTheCPU() {
        func run() -> [Double] {
            var rng = RandomState(seed: 11)
            let p = Tensor.normal([513], rng: &rng)
            let m = Tensor.zeros([513]), v = Tensor.zeros([513])
            for step in 1...3 {
                let g = Tensor.normal([513], rng: &rng)
                p.adamUpdate(grad: g, m: m, v: v, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: step, l2: 0.01,
                             decoupledDecay: 1e-3)
            }
            return p.toArray(Double.self) + m.toArray(Double.self) + v.toArray(Double.self)
        }
        let cpu = DefaultBackend.with(CPUBackend.shared) { run() }
        let ref = DefaultBackend.with(ReferenceBackend.shared) { run() }
        for (c, r) in zip(cpu, ref) { #expect(Swift.abs(c - r) <= 1e-5 * Swift.max(1, Swift.abs(c)), "\(c) vs \(r)") }
    }

    @Test func creationUploadsAndReadsDownloadThroughTheBackend() {
        let b = CountingBackend()
        let t = DefaultBackend.with(b) { Tensor([1, 2, 3] as [Float]) }
        #expect(t.backend === b)
        #expect(b.count("upload") == 1 && b.count("download") == 0)
        let s = DefaultBackend.with(b) { Tensor(4.5) }
        #expect(b.count("upload") == 2)
        #expect(s.item() == 4.5)
        #expect(b.count("download") == 1)
        #expect(t.toArray(Float.self) == [1, 2, 3])
        #expect(b.count("download") == 2)
        #expect(t.toArray(Double.self) == [1, 2, 3])
        #expect(b.count("download") == 3)
        #expect(t.description == "tensor([1.0, 2.0, 3.0], dtype: float32)")
        #expect(b.count("download") == 4)
        let h = DefaultBackend.with(b) { Tensor(bitPatterns: [0x3C00], dtype: .float16) }
        #expect(b.count("upload") == 3)
        #expect(h.bitPatterns() == [0x3C00])
        #expect(b.count("download") == 5)
        b.reset()
        _ = DefaultBackend.with(b) { (Tensor.arange(0, 4), Tensor.linspace(0, 1, count: 3), Tensor.eye(2)) }
        #expect(b.count("upload") == 3)
    }

    /// A Swift number travels as a kernel argument: `x * 2` uploads nothing, it asks for one `binaryScalar`.
    @Test func scalarsAreKernelArgumentsNotUploads() {
        let backend = CountingBackend(hostMemory: false)
        let x = DefaultBackend.with(backend) { Tensor([1, 2, 3] as [Float]) }
        backend.reset()
        let ys = [x * 2, x + 1, 1 - x, x / 4, 3 / x, x .> 1.5, x - 0.5]
        #expect(backend.count("upload") == 0)
        #expect(backend.count("binaryScalar") == ys.count)
        #expect(ys[0].toArray(Float.self) == [2, 4, 6])
        #expect(ys[5].toArray(Bool.self) == [false, true, true])
    }

    @Test func inPlaceUpdatesRunBackendKernels() {
        let b = CountingBackend()
        let x = DefaultBackend.with(b) { Tensor([1, 2, 3] as [Float]) }
        let y = DefaultBackend.with(b) { Tensor([10, 20, 30] as [Float]) }
        x.scaleAdd(2, y, 0.5)
        #expect(b.count("axpby") == 1)
        #expect(x.toArray(Float.self) == [7, 14, 21])
        let m = DefaultBackend.with(b) { Tensor.zeros([3]) }, v = DefaultBackend.with(b) { Tensor.zeros([3]) }
        x.adamUpdate(grad: y, m: m, v: v, lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1)
        #expect(b.count("adam") == 1)
    }

    @Test func hostAccessOnDeviceMemoryStopsWithAMessage() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let b = CountingBackend(hostMemory: false)
            let t = DefaultBackend.with(b) { Tensor([1, 2] as [Float]) }
            _ = t.withUnsafeBufferPointer(as: Float.self) { $0[0] }
        }
        expectMessage(r, "withUnsafeBufferPointer: the tensor's memory is on the counting backend, not host memory")
        let w = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let b = CountingBackend(hostMemory: false)
            let t = DefaultBackend.with(b) { Tensor([1, 2] as [Float]) }
            t.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = 3 }
        }
        expectMessage(w, "withUnsafeMutableBufferPointer: the tensor's memory is on the counting backend, not host memory")
    }

    @Test func readsWorkOnAClaimedDeviceBackend() {
        let b = CountingBackend(hostMemory: false)
        let t = DefaultBackend.with(b) { Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]) }
        #expect(t.T.toArray(Float.self) == [1, 3, 2, 4])
        #expect(t.sum().item() == 10)
        #expect(t.to(.cpu).withUnsafeBufferPointer(as: Float.self) { Array($0) } == [1, 2, 3, 4])
    }
}
