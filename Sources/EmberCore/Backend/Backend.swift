/// A view of raw memory as a strided array: the address of element 0, per-dimension strides in elements, and the
/// element type. Backends read and write tensors only through these.
public struct Operand: @unchecked Sendable {
    /// Address of the first element.
    public var pointer: UnsafeMutableRawPointer
    /// Stride of each dimension, in elements (0 broadcasts, negative walks backwards).
    public var strides: [Int]
    /// Element type.
    public var dtype: DType
    /// What owns the memory (a tensor's storage), kept alive for as long as the operand is: an operand made from a
    /// temporary (`x.contiguousData().operand`) must not point into memory freed before the kernel runs.
    public var owner: AnyObject?

    /// The same memory and owner seen with other strides (a view the op lays out itself).
    public func restrided(_ strides: [Int]) -> Operand { Operand(pointer: pointer, strides: strides, dtype: dtype, owner: owner) }

    /// Creates an operand; `owner` keeps the memory alive while the operand exists.
    public init(pointer: UnsafeMutableRawPointer, strides: [Int], dtype: DType, owner: AnyObject? = nil) {
        self.pointer = pointer
        self.strides = strides
        self.dtype = dtype
        self.owner = owner
    }
}

/// Elementwise functions of one float tensor. Cases ending in `Grad` give the derivative f'(x) of the function named.
public enum UnaryOp: Sendable, Hashable {
    case neg, exp, log, log1p, sqrt, rsqrt, abs, sign, sin, cos, tanh, sigmoid, relu, square, reciprocal, erf, expm1
    case leakyRelu(Double), elu(Double), gelu, geluTanh, silu, softplus(beta: Double, threshold: Double)
    case clamp(Double, Double)
    case reluGrad, leakyReluGrad(Double), eluGrad(Double), geluGrad, geluTanhGrad, siluGrad
    case softplusGrad(beta: Double, threshold: Double), clampGrad(Double, Double), signGradZero
    /// a*x + b
    case affine(Double, Double)
    /// x^p for a constant p
    case powScalar(Double)
}

/// Elementwise functions of two tensors (broadcast). Comparisons produce `bool`.
public enum BinaryOp: Sendable, Hashable {
    case add, sub, mul, div, pow, maximum, minimum
    case eq, ne, lt, le, gt, ge, logicalAnd, logicalOr
    /// g * (x > 0): a = x, b = g. The fused ReLU backward.
    case reluBackward
    /// g * GELU'(x) (exact GELU): a = x, b = g. The fused GELU backward.
    case geluBackward

    var isComparison: Bool {
        switch self {
        case .eq, .ne, .lt, .le, .gt, .ge, .logicalAnd, .logicalOr: return true
        default: return false
        }
    }
}

/// Reductions along one dimension.
public enum ReduceOp: Sendable, Equatable {
    case sum, max, min, prod
}

/// Parameters of a 2-D convolution window (also used for pooling).
public struct Conv2dGeometry: Sendable, Equatable {
    public var channels: Int, height: Int, width: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int

    /// Output height.
    public var outH: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    /// Output width.
    public var outW: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                padH: Int, padW: Int, dilationH: Int, dilationW: Int) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW; self.dilationH = dilationH; self.dilationW = dilationW
    }
}

/// The sizes of one 2-D convolution: a batch of [inChannels, H, W] images, `outChannels` filters, `groups` groups
/// (each of inChannels/groups input and outChannels/groups output channels), and the window `geometry` over one
/// image (`geometry.channels` is inChannels / groups).
public struct Conv2dShape: Sendable, Equatable {
    /// Number of images N.
    public var batch: Int
    /// Channels C of each input image.
    public var inChannels: Int
    /// Channels O of each output image (filters).
    public var outChannels: Int
    /// Channel groups: each group's outChannels/groups filters see only its inChannels/groups input channels.
    public var groups: Int
    /// The window over one image ([C/groups, H, W]): kernel, stride, padding, dilation and output size.
    public var geometry: Conv2dGeometry

    /// Creates the sizes; `geometry.channels` must be inChannels / groups.
    public init(batch: Int, inChannels: Int, outChannels: Int, groups: Int, geometry: Conv2dGeometry) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0
                     && geometry.channels == inChannels / groups,
                     "Conv2dShape: channels \(inChannels) -> \(outChannels) do not split into \(groups) groups of \(geometry.channels)")
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels; self.groups = groups
        self.geometry = geometry
    }

    /// Output channels per group.
    public var groupOutChannels: Int { outChannels / groups }
    /// Rows of one group's unfolded input (C/groups * kh * kw): the GEMM's inner dimension.
    public var columnRows: Int { geometry.channels * geometry.kernelH * geometry.kernelW }
    /// Input plane size H * W.
    public var inputPlane: Int { geometry.height * geometry.width }
    /// Output plane size outH * outW.
    public var outputPlane: Int { geometry.outH * geometry.outW }
}

// MARK: Fused scaled-dot-product attention (issue 16, Ops/Attention.swift): the sizes and options of one call

/// The sizes and options of one fused attention call over contiguous q [B, H, Tq, Dh], k [B, H, Tk, Dh] and
/// v [B, H, Tk, Dv].
public struct AttentionShape: Sendable, Equatable {
    /// Batch B, heads H, query length Tq, key length Tk, query/key width Dh and value width Dv.
    public var batch: Int, heads: Int, queries: Int, keys: Int, headDim: Int, valueDim: Int
    /// The factor on q·k (1/sqrt(Dh) by default in the op).
    public var scale: Double
    /// Whether query i sees only keys j <= i (PyTorch's `is_causal`: top-left aligned).
    public var causal: Bool

    /// Creates the sizes and options.
    public init(batch: Int, heads: Int, queries: Int, keys: Int, headDim: Int, valueDim: Int, scale: Double,
                causal: Bool) {
        self.batch = batch; self.heads = heads; self.queries = queries; self.keys = keys
        self.headDim = headDim; self.valueDim = valueDim; self.scale = scale; self.causal = causal
    }
}

/// Dropout on the attention weights inside the fused kernel: weight (b, h, i, j) is kept when the uniform float64
/// draw of element ((b * H + h) * Tq + i) * Tk + j of the counter-based stream (`key`, `counter`) is below 1 - p, as
/// `Tensor.dropout` draws for a [B, H, Tq, Tk] tensor, and kept weights are scaled by 1 / (1 - p). Backward draws the
/// same values again instead of storing a mask.
public struct AttentionDropout: Sendable {
    /// Probability of dropping a weight, in [0, 1).
    public var p: Double
    /// The generator's key.
    public var key: (UInt32, UInt32)
    /// The first counter value of the draw.
    public var counter: UInt64

    /// Creates the dropout settings.
    public init(p: Double, key: (UInt32, UInt32), counter: UInt64) { self.p = p; self.key = key; self.counter = counter }

    /// Whether attention weight number `element` (row-major in [B, H, Tq, Tk]) is kept.
    @inline(__always)
    public func keeps(_ element: Int) -> Bool {
        Philox.sample(key: key, counter: counter &+ UInt64(element), normal: false, dtype: .float64) < 1 - p
    }
}

// MARK: end of the attention sizes

/// The seam between ops and hardware: a small fixed set of kernels over raw buffers.
///
/// Ops in `EmberCore` compute shapes, strides and gradients, then call these. A new device (say CUDA) implements
/// this protocol and its own memory; no op changes. Contiguous means row-major with no gaps; "outer/n/inner"
/// describes a contiguous tensor viewed as [outer, n, inner] with the op acting along n.
public protocol Backend: AnyObject, Sendable {
    /// A short name ("cpu").
    var name: String { get }
    /// Allocates at least `byteCount` bytes; returns the address and the capacity to hand back on free.
    func allocate(byteCount: Int) -> (UnsafeMutableRawPointer, Int)
    /// Frees memory from `allocate`.
    func deallocate(_ pointer: UnsafeMutableRawPointer, capacity: Int)
    /// Whether the memory from `allocate` is ordinary host memory the CPU may read and write directly (true for the
    /// CPU and reference backends, the default). A device backend says false: then only `upload`/`download` move
    /// bytes between it and the host, and `withUnsafeBufferPointer` refuses its tensors.
    var isHostMemory: Bool { get }
    /// Copies `byteCount` bytes from host memory into this backend's memory at `destination` (default: a plain copy,
    /// for host-memory backends).
    func upload(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer)
    /// Copies `byteCount` bytes of this backend's memory at `source` into host memory, after pending work on it has
    /// finished: a synchronisation point (default: a plain copy, for host-memory backends).
    func download(_ source: UnsafeRawPointer, byteCount: Int, into destination: UnsafeMutableRawPointer)

    /// Copies `shape` elements from a strided source into a strided destination, converting the dtype.
    func copy(_ src: Operand, into dst: Operand, shape: [Int])
    /// Sets `count` contiguous elements to `value`.
    func fill(_ dst: Operand, count: Int, value: Double)
    /// out = op(x), contiguous, float dtypes.
    func unary(_ op: UnaryOp, _ x: Operand, _ out: Operand, count: Int)
    /// out = a op b over `shape`, with broadcast strides on a and b; out contiguous.
    func binary(_ op: BinaryOp, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int])
    /// out = a op scalar over `shape` (`scalar op a` when `reversed`), a strided, out contiguous: the scalar travels
    /// as a kernel argument, never as a tensor in this backend's memory. It takes a's dtype as `copy` converts a
    /// double (integers truncate, uint8 wraps). float16/bfloat16 tensors compute in float32 and round the result
    /// once; as in PyTorch 2.13 the scalar is rounded to the tensor's dtype first, except for `mul` and `div` (not
    /// reversed) and `scalar / a`, where it stays a float32. Comparisons produce `bool`.
    func binaryScalar(_ op: BinaryOp, _ a: Operand, _ scalar: Double, reversed: Bool, _ out: Operand, shape: [Int])
    /// out = cond ? a : b over `shape` (broadcast strides); out contiguous.
    func select(_ cond: Operand, _ a: Operand, _ b: Operand, _ out: Operand, shape: [Int])
    /// Reduces a contiguous [outer, n, inner] tensor along n into [outer, inner].
    func reduce(_ op: ReduceOp, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int)
    /// Index (int64) of the max (or min) along n of a contiguous [outer, n, inner] tensor; first on ties.
    func argReduce(max: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int)
    /// Softmax or log-softmax along n of a contiguous [outer, n, inner] tensor.
    func softmax(log: Bool, _ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int)
    /// Backward of `softmax` given its output y and the upstream gradient g.
    func softmaxBackward(log: Bool, y: Operand, g: Operand, _ out: Operand, outer: Int, n: Int, inner: Int)
    /// Inclusive cumulative sum along n of a contiguous [outer, n, inner] tensor.
    func cumsum(_ x: Operand, _ out: Operand, outer: Int, n: Int, inner: Int)
    /// C[m,n] = alpha * op(A) * op(B) + beta * C for row-major matrices with leading dimensions.
    func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
              a: Operand, lda: Int, b: Operand, ldb: Int, beta: Double, c: Operand, ldc: Int)
    /// B prepared once for many GEMMs that share it (a recurrent layer's weights over its time steps): op(B) is
    /// [k, n]. Nil when the backend gains nothing from it for this dtype; callers then use the plain `gemm`.
    func prepareGemmB(transB: Bool, k: Int, n: Int, b: Operand, ldb: Int) -> PreparedGemmB?
    /// C[m,n] = alpha * op(A) * B' + beta * C with B' from this backend's `prepareGemmB`; the same bits as the plain
    /// `gemm` on the unprepared B.
    func gemm(transA: Bool, m: Int, n: Int, k: Int, alpha: Double, a: Operand, lda: Int, preparedB: PreparedGemmB,
              beta: Double, c: Operand, ldc: Int)

    // MARK: Convolution and batch norm (issues 12 and 14): the backend owns the algorithm (im2col + GEMM, ...)

    /// 2-D convolution forward: out [N, O, outH, outW] = x [N, C, H, W] (*) weight [O, C/groups, kh, kw]
    /// (+ bias [O] when given), cross-correlation as PyTorch's. All operands contiguous, one float dtype; `out` is
    /// overwritten.
    func conv2dForward(_ x: Operand, weight: Operand, bias: Operand?, _ out: Operand, _ s: Conv2dShape)
    /// The input gradient of `conv2dForward` (also the forward of a transposed convolution): gx [N, C, H, W] =
    /// sum over o, window of g [N, O, outH, outW] * weight [O, C/groups, kh, kw]. `gx` is overwritten.
    func conv2dInputGrad(_ g: Operand, weight: Operand, _ gx: Operand, _ s: Conv2dShape)
    /// The weight gradient of `conv2dForward`: gw [O, C/groups, kh, kw] = sum over images and output positions of
    /// g [N, O, outH, outW] * x's window. `gw` is overwritten. Same bits for any thread count.
    func conv2dWeightGrad(_ x: Operand, _ g: Operand, _ gw: Operand, _ s: Conv2dShape)
    /// Batch-norm statistics over contiguous x [batch, channels, inner]: stats [2, channels] gets each channel's mean
    /// (row 0) and biased variance (row 1), in x's float dtype. Same bits for any thread count.
    func batchNormStats(_ x: Operand, _ stats: Operand, batch: Int, channels: Int, inner: Int)
    /// y = (x - mean) / sqrt(var + eps) * weight + bias per channel of contiguous x [batch, channels, inner], with
    /// `stats` from `batchNormStats` (weight and bias [channels] optional).
    func batchNormApply(_ x: Operand, stats: Operand, weight: Operand?, bias: Operand?, _ y: Operand, batch: Int,
                        channels: Int, inner: Int, eps: Double)
    /// The backward of `batchNormApply` with the statistics of x itself (training mode): writes whichever of gx
    /// [batch, channels, inner], gweight and gbias [channels] are given. Same bits for any thread count.
    func batchNormBackward(_ g: Operand, _ x: Operand, stats: Operand, weight: Operand?, gx: Operand?,
                           gweight: Operand?, gbias: Operand?, batch: Int, channels: Int, inner: Int, eps: Double)
    /// Layer normalization of each of `rows` contiguous rows of `cols` values: y = (x - mean) / sqrt(var + eps) *
    /// weight + bias (biased variance; weight and bias [cols], both or neither). Same bits for any thread count.
    func layerNormForward(_ x: Operand, weight: Operand?, bias: Operand?, _ y: Operand, rows: Int, cols: Int, eps: Double)
    /// The backward of `layerNormForward` (statistics recomputed from x): writes whichever of gx [rows, cols],
    /// gweight and gbias [cols] are given. Same bits for any thread count.
    func layerNormBackward(_ g: Operand, _ x: Operand, weight: Operand?, gx: Operand?, gweight: Operand?, gbias: Operand?,
                           rows: Int, cols: Int, eps: Double)
    // MARK: end of convolution and batch norm

    /// Max pooling over images [N*C,H,W]; writes the flat argmax (within H*W, int64) of each window to `indices`.
    func maxPool2d(_ x: Operand, _ out: Operand, indices: Operand, planes: Int, _ g: Conv2dGeometry)
    /// Writes all of `out` [N*C,H,W]: pooled gradients scattered back through `indices` (summed where windows pick the
    /// same element), zero elsewhere.
    func maxPool2dBackward(_ g: Operand, indices: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry)
    /// Average pooling (`countIncludePad` as PyTorch).
    func avgPool2d(_ x: Operand, _ out: Operand, planes: Int, _ g: Conv2dGeometry, countIncludePad: Bool)
    /// Backward of `avgPool2d` into a zeroed buffer.
    func avgPool2dBackward(_ g: Operand, _ out: Operand, planes: Int, _ geo: Conv2dGeometry, countIncludePad: Bool)
    /// Gathers along n: out[o, j, i] = x[o, index[o, j, i], i] for contiguous x [outer,n,inner], index and out
    /// [outer,m,inner] (int64 index).
    func gather(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int)
    /// Adds along n: out[o, index[o, j, i], i] += src[o, j, i] (the transpose of `gather`).
    func scatterAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int)
    /// Selects slices along n: out[o, j, i] = x[o, index[j], i].
    func indexSelect(_ x: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int)
    /// Adds slices along n: out[o, index[j], i] += src[o, j, i].
    func indexAdd(_ src: Operand, index: Operand, _ out: Operand, outer: Int, n: Int, m: Int, inner: Int)
    /// Fills `count` float elements from the counter-based generator: uniform in [0,1) or standard normal.
    func random(_ out: Operand, count: Int, normal: Bool, key: (UInt32, UInt32), counter: UInt64)
    /// y = alpha * x + beta * y over `count` contiguous elements of one float dtype (BLAS's axpby, in place).
    func axpby(_ x: Operand, alpha: Double, _ y: Operand, beta: Double, count: Int)
    /// One fused Adam/AdamW update over contiguous float32 buffers.
    func adam(param: Operand, grad: Operand, m: Operand, v: Operand, count: Int, lr: Double, beta1: Double,
              beta2: Double, eps: Double, step: Int, l2: Double, decoupledDecay: Double)

    // MARK: Fused scaled-dot-product attention (issue 16, Ops/Attention.swift)
    //
    // q [B, H, Tq, Dh], k [B, H, Tk, Dh], v [B, H, Tk, Dv], out and gOut [B, H, Tq, Dv] contiguous, float32 or
    // float64, one dtype. `mask` (nil: none) is an additive mask of q's dtype read at b * s0 + h * s1 + i * s2 + j * s3
    // with its four `strides` (0 broadcasts; -inf forbids a pair). `lse` [B, H, Tq] holds each row's log-sum-exp of
    // the scaled, masked scores (-inf for a row with every key masked: its output and gradients are 0). The scores
    // are computed a block of rows and keys at a time (online softmax), never as a whole [Tq, Tk] matrix; with
    // `causal`, blocks above the diagonal are skipped. Same bits for any thread count.

    /// out = softmax(q kᵀ * scale + mask, causal) (dropped out) v, and lse per row.
    func attentionForward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                          _ s: AttentionShape, dropout: AttentionDropout?)
    /// The gradients gq, gk, gv (each overwritten) of `attentionForward` from the upstream gradient gOut, with the
    /// forward's out and lse (FlashAttention-2's backward: the weights are recomputed block by block).
    func attentionBackward(q: Operand, k: Operand, v: Operand, mask: Operand?, out: Operand, lse: Operand,
                           gOut: Operand, gq: Operand, gk: Operand, gv: Operand, _ s: AttentionShape,
                           dropout: AttentionDropout?)
    // MARK: end of fused attention

    // MARK: Fused recurrent cells (the LSTM/GRU sequence ops, Ops/Recurrent.swift)
    //
    // One time step for `batch` contiguous rows of `hidden` units, float32 or float64, every operand contiguous and
    // of one dtype. `mask` (nil: every row) holds one value per row; a row whose mask is 0 is past its sequence's
    // length: its state passes through unchanged, its output is 0 and its gate gradients are 0. The recurrent GEMM
    // (`r` = h_prev W_hh^T, without bias) is the caller's, through `gemm`.

    /// LSTM step, gates i, f, g, o as PyTorch: pre = x + (r + bias) per row of 4 * hidden (`bias` [4 * hidden] or
    /// nil); c = f c_prev + i g, h = o tanh(c). Writes `saved` = [i, f, g, o, tanh(c)] (5 * hidden per row), the
    /// carried states `c` and `h`, and the output `y` (h, or 0 past the length).
    func lstmCell(x: Operand, r: Operand, bias: Operand?, cPrev: Operand, hPrev: Operand, mask: Operand?,
                  saved: Operand, c: Operand, h: Operand, y: Operand, batch: Int, hidden: Int)
    /// Backward of `lstmCell`, in place on the carried gradients: from `dh` (of the carried h) plus `dy` (of the
    /// output) and `dc`, writes the pre-activation gradients `dGates` (4 * hidden per row), `dc` <- dc_prev and
    /// `dh` <- 0, the part of dh_prev that does not pass through the recurrent GEMM (rows past the length keep `dh`
    /// and `dc`). `dBias` (nil: none, else contiguous `[4 * hidden]`) gets each row's `dGates` added, row after row.
    func lstmCellBackward(saved: Operand, cPrev: Operand, dh: Operand, dy: Operand, dc: Operand, mask: Operand?,
                          dGates: Operand, dBias: Operand?, batch: Int, hidden: Int)
    /// GRU step, gates r, z, n as PyTorch: r, z = sigmoid(x + (rec + bias)), hn = rec_n + bias_n,
    /// n = tanh(x_n + r hn), h = n + z (h_prev - n). Writes `saved` = [r, z, n, hn] (4 * hidden per row), the carried
    /// state `h` and the output `y`.
    func gruCell(x: Operand, r: Operand, bias: Operand?, hPrev: Operand, mask: Operand?, saved: Operand, h: Operand,
                 y: Operand, batch: Int, hidden: Int)
    /// Backward of `gruCell`: `dX` (gradient of the input projection, 3 * hidden per row), `dRec` (of the recurrent
    /// projection with its bias; it differs from `dX` in the n block, times r) and `dh` <- z (dh + dy) (rows past the
    /// length keep `dh`). `dBias` (nil: none, else contiguous `[3 * hidden]`) gets each row's `dRec` added, row after
    /// row.
    func gruCellBackward(saved: Operand, hPrev: Operand, dh: Operand, dy: Operand, mask: Operand?, dX: Operand,
                         dRec: Operand, dBias: Operand?, batch: Int, hidden: Int)
}

/// A GEMM operand a backend has laid out for its kernel once, to be reused by many `gemm(..., preparedB:)` calls.
/// It owns its memory; it does not see later writes to the tensor it was made from.
open class PreparedGemmB: @unchecked Sendable {
    /// op(B)'s shape.
    public let k: Int, n: Int
    public init(k: Int, n: Int) {
        self.k = k
        self.n = n
    }
}

extension Backend {
    /// Backends without a prepared layout: nil, so callers use the plain `gemm`.
    public func prepareGemmB(transB: Bool, k: Int, n: Int, b: Operand, ldb: Int) -> PreparedGemmB? { nil }
    public func gemm(transA: Bool, m: Int, n: Int, k: Int, alpha: Double, a: Operand, lda: Int, preparedB: PreparedGemmB,
                     beta: Double, c: Operand, ldc: Int) {
        preconditionFailure("gemm(preparedB:): \(type(of: self)) prepares no GEMM operands (prepareGemmB returned nil)")
    }
}
