// Kernel bodies, compiled by kernels.c once per build (AVX-512, AVX2+FMA, portable).
// SUFFIX(name) gives each build its own symbol names.
// Written with clang/gcc vector extensions (EK_W float lanes) so every build vectorizes without compiler flags.
//
// Special values follow PyTorch (Tests/EmberCoreTests/Fixtures/core_golden.json, group "special", pins them):
// NaN propagates through every op (exp, sigmoid, tanh, relu, maximum/minimum, softmax rows), +-inf give their limits,
// and -0.0 keeps its sign where PyTorch's does (relu(-0) = -0, abs(-0) = +0, tanh(-0) = -0). Every path (vector body,
// scalar tail, broadcast scalar) computes the same lane function, so a value's result never depends on where it sits.

// EK_W float lanes per vector (8 for AVX2 and the portable build, 16 for AVX-512), set by kernels.c.
typedef float SUFFIX(vf) __attribute__((vector_size(EK_W * 4), aligned(4)));
typedef int32_t SUFFIX(vi) __attribute__((vector_size(EK_W * 4), aligned(4)));
#define EK_V8 SUFFIX(vf)
#define EK_I8 SUFFIX(vi)

// x - 0 is x for every x (0 + x would turn -0.0 into +0.0).
static inline EK_V8 SUFFIX(splat)(float x) { EK_V8 z = {0}; return x - z; }
// Lane select: mask lanes are all-ones (true) or zero, as vector comparisons produce.
static inline EK_V8 SUFFIX(vsel)(EK_I8 mask, EK_V8 a, EK_V8 b) {
    EK_I8 ia, ib;
    __builtin_memcpy(&ia, &a, sizeof ia);
    __builtin_memcpy(&ib, &b, sizeof ib);
    EK_I8 r = (mask & ia) | (~mask & ib);
    EK_V8 out;
    __builtin_memcpy(&out, &r, sizeof out);
    return out;
}
// maximum / minimum as PyTorch's: a NaN in either operand gives NaN; on ties (including -0.0 vs +0.0) the first.
static inline EK_V8 SUFFIX(vmax)(EK_V8 a, EK_V8 b) { return SUFFIX(vsel)((b > a) | (b != b), b, a); }
static inline EK_V8 SUFFIX(vmin)(EK_V8 a, EK_V8 b) { return SUFFIX(vsel)((b < a) | (b != b), b, a); }

// expf on EK_W lanes: n = round(x / ln2) by the 1.5*2^23 magic-number trick, r = x - n ln2 (two-part ln2),
// Cephes' degree-5 polynomial for exp(r) on [-ln2/2, ln2/2], then scaling by 2^(n-1) * 2 so that n = 128 still
// yields a finite result up to FLT_MAX and inf beyond. Relative error ~1 ulp; inputs below -87.6 flush to 0 (results under FLT_MIN).
// NaN passes the clamps (a comparison with NaN is false) and every step after them, so exp(NaN) = NaN.
static inline EK_V8 SUFFIX(vexp)(EK_V8 x) {
    x = SUFFIX(vsel)(x > 88.75f, SUFFIX(splat)(88.75f), x);  // above ln(FLT_MAX) the final product overflows to inf
    x = SUFFIX(vsel)(x < -87.6f, SUFFIX(splat)(-87.6f), x);
    const float magic = 12582912.0f;  // 1.5 * 2^23
    EK_V8 t = x * 1.44269504088896341f + magic;
    EK_V8 n = t - magic;
    EK_I8 ti;
    __builtin_memcpy(&ti, &t, sizeof ti);
    x = x - n * 0.693359375f;
    x = x - n * -2.12194440e-4f;
    EK_V8 z = x * x;
    EK_V8 y = SUFFIX(splat)(1.9875691500E-4f);
    y = y * x + 1.3981999507E-3f;
    y = y * x + 8.3334519073E-3f;
    y = y * x + 4.1665795894E-2f;
    y = y * x + 1.6666665459E-1f;
    y = y * x + 5.0000001201E-1f;
    y = y * z + x + 1.0f;
    EK_I8 e = (ti - 0x4B400000 + 126) << 23;
    EK_V8 p;
    __builtin_memcpy(&p, &e, sizeof p);
    return (y * p) * 2.0f;
}

static inline float SUFFIX(sexp)(float x) {
    EK_V8 v = SUFFIX(splat)(x);
    return SUFFIX(vexp)(v)[0];
}

// The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 on EK_W lanes, for GELU. erfc(z) for z = |x| / sqrt 2 >= 0
// is t exp(-z^2 + Q(t)), t = 1 / (1 + z / 2), with Q a degree-9 polynomial fitted by Ember's scripts/fit/fit_erfc.py
// (near-minimax relative error of erfc, 7.7e-8 on [0, 9.3] with these float32 coefficients); Phi is erfc/2 for x < 0
// and 1 - erfc/2 above, so the left tail keeps its relative accuracy. +inf gives 1, -inf 0, NaN stays NaN (it fails
// every comparison and poisons t).
static inline EK_V8 SUFFIX(vnormcdf)(EK_V8 x) {
    EK_V8 z = SUFFIX(vsel)(x < 0.0f, -x, x) * 0.70710678118654752f;
    EK_V8 t = 1.0f / (1.0f + 0.5f * z);
    EK_V8 p = SUFFIX(splat)(0.136355311f);
    p = p * t - 0.633850396f;
    p = p * t + 1.04551208f;
    p = p * t - 0.547300637f;
    p = p * t - 0.204253793f;
    p = p * t + 0.0675539821f;
    p = p * t + 0.0119111855f;
    p = p * t + 0.391420215f;
    p = p * t + 0.998072326f;
    p = p * t - 1.2654202f;
    EK_V8 half = 0.5f * t * SUFFIX(vexp)(p - z * z);
    return SUFFIX(vsel)(x < 0.0f, half, 1.0f - half);
}

static inline EK_V8 SUFFIX(vload)(const float *p) { EK_V8 v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void SUFFIX(vstore)(float *p, EK_V8 v) { __builtin_memcpy(p, &v, sizeof v); }

static inline EK_V8 SUFFIX(vop)(int op, EK_V8 a, EK_V8 b) {
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return SUFFIX(vmax)(a, b);
    default: return SUFFIX(vmin)(a, b);
    }
}

#define EK_BINARY_LOOP(OPEXPR)                                                               \
    /* Vector paths for (1,1), (1,0), (0,1) strides; any other pair (negative, both 0, > 1) takes the scalar loop. */ \
    if (sa == 1 && sb == 1) {                                                                \
        for (; i + EK_W <= n; i += EK_W) {                                                         \
            EK_V8 va = SUFFIX(vload)(a + i), vb = SUFFIX(vload)(b + i);                      \
            SUFFIX(vstore)(out + i, OPEXPR);                                                 \
        }                                                                                    \
    } else if (sa == 1 && sb == 0) {                                                         \
        EK_V8 vb = SUFFIX(splat)(b[0]);                                                      \
        for (; i + EK_W <= n; i += EK_W) { EK_V8 va = SUFFIX(vload)(a + i); SUFFIX(vstore)(out + i, OPEXPR); } \
    } else if (sa == 0 && sb == 1) {                                                         \
        EK_V8 va = SUFFIX(splat)(a[0]);                                                      \
        for (; i + EK_W <= n; i += EK_W) { EK_V8 vb = SUFFIX(vload)(b + i); SUFFIX(vstore)(out + i, OPEXPR); } \
    }                                                                                        \
    for (; i < n; i++) {                                                                     \
        EK_V8 va = SUFFIX(splat)(a[i * sa]), vb = SUFFIX(splat)(b[i * sb]);                  \
        out[i] = (OPEXPR)[0];                                                                \
    }

static void SUFFIX(binary)(int op, const float *a, ptrdiff_t sa, const float *b, ptrdiff_t sb, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    switch (op) {
    case 0: { EK_BINARY_LOOP(va + vb) break; }
    case 1: { EK_BINARY_LOOP(va - vb) break; }
    case 2: { EK_BINARY_LOOP(va * vb) break; }
    case 3: { EK_BINARY_LOOP(va / vb) break; }
    case 4: { EK_BINARY_LOOP(SUFFIX(vmax)(va, vb)) break; }
    default: { EK_BINARY_LOOP(SUFFIX(vmin)(va, vb)) break; }
    }
}

static inline EK_V8 SUFFIX(vunary)(int op, EK_V8 x) {
    switch (op) {
    case 0: return SUFFIX(vexp)(x);
    case 1: return SUFFIX(vsel)(x < 0.0f, SUFFIX(splat)(0.0f), x);  // relu keeps NaN and -0.0, as PyTorch's
    case 2: return -x;
    case 3: return 1.0f / (1.0f + SUFFIX(vexp)(-x));
    case 4: {
        // |x| >= 0.55: sign(x) (1 - 2/(exp(2|x|)+1)), which loses under one bit to cancellation there;
        // |x| < 0.55: the Taylor series through x^17 (truncation error below 1e-8 relative), as x (1 + x^2 p) so
        // that tanh(-0) = -0. NaN: exp(NaN) makes `big` NaN and NaN < 0.55 is false, so NaN comes out.
        EK_V8 ax = SUFFIX(vsel)(x < 0, -x, x);
        EK_V8 e = SUFFIX(vexp)(2.0f * ax);
        EK_V8 big = 1.0f - 2.0f / (e + 1.0f);
        big = SUFFIX(vsel)(x < 0, -big, big);
        EK_V8 x2 = x * x;
        EK_V8 p = SUFFIX(splat)(0.000590027f);
        p = p * x2 - 0.001455834f;
        p = p * x2 + 0.003592128f;
        p = p * x2 - 0.008863236f;
        p = p * x2 + 0.021869489f;
        p = p * x2 - 0.053968254f;
        p = p * x2 + 0.133333333f;
        p = p * x2 - 0.333333333f;
        EK_V8 small = x * (1.0f + x2 * p);
        return SUFFIX(vsel)(ax < 0.55f, small, big);
    }
    case 5: return x * x;
    case 6: return __builtin_elementwise_sqrt(x);
    case 8: return x * SUFFIX(vnormcdf)(x);  // GELU (exact form): x Phi(x)
    case 9: {
        // GELU's derivative: Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi). phi is exactly 0 once x^2 > 200
        // (below 1e-43 there), so that +-inf give inf * 0 = NaN as the definition (and PyTorch, and the reference
        // backend) does, rather than the clamped exp's smallest normal times inf.
        EK_V8 x2 = x * x;
        EK_V8 pdf = SUFFIX(vsel)(x2 > 200.0f, SUFFIX(splat)(0.0f), 0.39894228040143268f * SUFFIX(vexp)(-0.5f * x2));
        return SUFFIX(vnormcdf)(x) + x * pdf;
    }
    default: {
        // |x| by clearing the sign bit: abs(-0.0) = +0.0
        EK_I8 bits;
        __builtin_memcpy(&bits, &x, sizeof bits);
        bits &= 0x7fffffff;
        EK_V8 r;
        __builtin_memcpy(&r, &bits, sizeof r);
        return r;
    }
    }
}

static void SUFFIX(unary)(int op, const float *x, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + EK_W <= n; i += EK_W) SUFFIX(vstore)(out + i, SUFFIX(vunary)(op, SUFFIX(vload)(x + i)));
    if (i < n) {
        float tx[EK_W] = {0}, to[EK_W];
        for (ptrdiff_t j = i; j < n; j++) tx[j - i] = x[j];
        SUFFIX(vstore)(to, SUFFIX(vunary)(op, SUFFIX(vload)(tx)));
        for (ptrdiff_t j = i; j < n; j++) out[j] = to[j - i];
    }
}

// PyTorch's threshold_backward: 0 where relu(x) <= 0, else g; so the gradient passes at NaN (relu(NaN) = NaN).
static void SUFFIX(relu_backward)(const float *x, const float *g, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    EK_V8 zero = SUFFIX(splat)(0.0f);
    for (; i + EK_W <= n; i += EK_W) {
        EK_V8 vx = SUFFIX(vload)(x + i), vg = SUFFIX(vload)(g + i);
        SUFFIX(vstore)(out + i, SUFFIX(vsel)(vx <= zero, zero, vg));
    }
    for (; i < n; i++) out[i] = x[i] <= 0 ? 0.0f : g[i];
}

static void SUFFIX(axpby)(const float *a, float alpha, const float *b, float beta, float *out, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + EK_W <= n; i += EK_W)
        SUFFIX(vstore)(out + i, SUFFIX(vload)(a + i) * alpha + SUFFIX(vload)(b + i) * beta);
    for (; i < n; i++) out[i] = a[i] * alpha + b[i] * beta;
}

static double SUFFIX(sum)(const float *x, ptrdiff_t n) {
    // Blocks of 4096 summed in 4x8 float lanes, blocks accumulated in double: fixed order, accurate.
    double total = 0;
    for (ptrdiff_t start = 0; start < n; start += 4096) {
        ptrdiff_t end = start + 4096 < n ? start + 4096 : n, i = start;
        EK_V8 s0 = SUFFIX(splat)(0), s1 = s0, s2 = s0, s3 = s0;
        for (; i + 4 * EK_W <= end; i += 4 * EK_W) {
            s0 += SUFFIX(vload)(x + i); s1 += SUFFIX(vload)(x + i + EK_W);
            s2 += SUFFIX(vload)(x + i + 2 * EK_W); s3 += SUFFIX(vload)(x + i + 3 * EK_W);
        }
        EK_V8 s = (s0 + s1) + (s2 + s3);
        double b = 0;
        for (int k = 0; k < EK_W; k++) b += s[k];
        for (; i < end; i++) b += x[i];
        total += b;
    }
    return total;
}

// The row's maximum, NaN if the row holds one (then the whole softmax row is NaN, as PyTorch's). The running
// maximum is a plain `v > m ? v : m` (one max instruction on the loop-carried chain; it may drop a NaN) and a
// separate, independent chain ORs together the lanes' `v != v`: a NaN-propagating select on the chain itself
// made softmax rows twice as slow.
static float SUFFIX(row_max)(const float *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    float m = -__builtin_inff();
    int nan = 0;
    if (n >= EK_W) {
        EK_V8 vm = SUFFIX(vload)(x);
        EK_I8 vn = vm != vm;
        for (i = EK_W; i + EK_W <= n; i += EK_W) {
            EK_V8 v = SUFFIX(vload)(x + i);
            vm = SUFFIX(vsel)(v > vm, v, vm);
            vn |= v != v;
        }
        for (int k = 0; k < EK_W; k++) { m = vm[k] > m ? vm[k] : m; nan |= vn[k]; }
    }
    for (; i < n; i++) { m = x[i] > m ? x[i] : m; nan |= x[i] != x[i]; }
    return nan ? __builtin_nanf("") : m;
}

static void SUFFIX(softmax_rows)(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, int lg) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *o = out + r * cols;
        float m = SUFFIX(row_max)(xr, cols);
        // All -inf row: shift by 0, so every exp is 0 and the row comes out 0/0 = NaN (log: -inf + inf), as
        // PyTorch's. A NaN or +inf maximum needs nothing: x - m is NaN (or inf - inf), and NaN flows through.
        if (m == -__builtin_inff()) m = 0;
        EK_V8 vm = SUFFIX(splat)(m), acc = SUFFIX(splat)(0);
        ptrdiff_t i = 0;
        float s = 0;
        if (lg) {
            for (; i + EK_W <= cols; i += EK_W) acc += SUFFIX(vexp)(SUFFIX(vload)(xr + i) - vm);
            for (; i < cols; i++) s += SUFFIX(sexp)(xr[i] - m);
        } else {
            for (; i + EK_W <= cols; i += EK_W) {
                EK_V8 e = SUFFIX(vexp)(SUFFIX(vload)(xr + i) - vm);
                SUFFIX(vstore)(o + i, e);
                acc += e;
            }
            for (; i < cols; i++) { float e = SUFFIX(sexp)(xr[i] - m); o[i] = e; s += e; }
        }
        for (int k = 0; k < EK_W; k++) s += acc[k];
        if (lg) {
            float shift = m + __builtin_logf(s);
            EK_V8 vs = SUFFIX(splat)(shift);
            for (i = 0; i + EK_W <= cols; i += EK_W) SUFFIX(vstore)(o + i, SUFFIX(vload)(xr + i) - vs);
            for (; i < cols; i++) o[i] = xr[i] - shift;
        } else {
            float inv = 1.0f / s;
            for (i = 0; i + EK_W <= cols; i += EK_W) SUFFIX(vstore)(o + i, SUFFIX(vload)(o + i) * inv);
            for (; i < cols; i++) o[i] *= inv;
        }
    }
}

static void SUFFIX(softmax_backward_rows)(const float *y, const float *g, float *out, ptrdiff_t rows, ptrdiff_t cols, int lg) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *gr = g + r * cols;
        float *o = out + r * cols;
        ptrdiff_t i = 0;
        EK_V8 acc = SUFFIX(splat)(0);
        float s = 0;
        if (lg) {
            // dx = g - exp(y) * sum(g)
            for (; i + EK_W <= cols; i += EK_W) acc += SUFFIX(vload)(gr + i);
            for (; i < cols; i++) s += gr[i];
            for (int k = 0; k < EK_W; k++) s += acc[k];
            EK_V8 vs = SUFFIX(splat)(s);
            for (i = 0; i + EK_W <= cols; i += EK_W)
                SUFFIX(vstore)(o + i, SUFFIX(vload)(gr + i) - SUFFIX(vexp)(SUFFIX(vload)(yr + i)) * vs);
            for (; i < cols; i++) o[i] = gr[i] - SUFFIX(sexp)(yr[i]) * s;
        } else {
            // dx = y * (g - sum(g*y))
            for (; i + EK_W <= cols; i += EK_W) acc += SUFFIX(vload)(gr + i) * SUFFIX(vload)(yr + i);
            for (; i < cols; i++) s += gr[i] * yr[i];
            for (int k = 0; k < EK_W; k++) s += acc[k];
            EK_V8 vs = SUFFIX(splat)(s);
            for (i = 0; i + EK_W <= cols; i += EK_W)
                SUFFIX(vstore)(o + i, SUFFIX(vload)(yr + i) * (SUFFIX(vload)(gr + i) - vs));
            for (; i < cols; i++) o[i] = yr[i] * (gr[i] - s);
        }
    }
}

static void SUFFIX(adam)(float *p, const float *g, float *m, float *v, ptrdiff_t n,
                         float lr, float ob1, float ob2, float eps, float c1, float c2, float l2, float dwd) {
    ptrdiff_t i = 0;
    // ob1, ob2 are 1 - beta1, 1 - beta2 computed in double by the caller: 1.0f - (float)0.999 is 1.3e-5 off.
    float b1 = 1.0f - ob1, b2 = 1.0f - ob2;
    float step = lr / c1, rc2 = 1.0f / __builtin_sqrtf(c2);
    for (; i + EK_W <= n; i += EK_W) {
        EK_V8 vp = SUFFIX(vload)(p + i), vg = SUFFIX(vload)(g + i);
        vg = vg + vp * l2;
        vp = vp * (1.0f - dwd);
        EK_V8 vm = SUFFIX(vload)(m + i) * b1 + vg * ob1;
        EK_V8 vv = SUFFIX(vload)(v + i) * b2 + vg * vg * ob2;
        SUFFIX(vstore)(m + i, vm);
        SUFFIX(vstore)(v + i, vv);
        EK_V8 denom = __builtin_elementwise_sqrt(vv) * rc2 + eps;
        SUFFIX(vstore)(p + i, vp - step * vm / denom);
    }
    for (; i < n; i++) {
        float gi = g[i] + p[i] * l2, pi = p[i] * (1.0f - dwd);
        m[i] = m[i] * b1 + gi * ob1;
        v[i] = v[i] * b2 + gi * gi * ob2;
        float denom = __builtin_sqrtf(v[i]) * rc2 + eps;
        p[i] = pi - step * m[i] / denom;
    }
}

// MARK: fused recurrent cells (one time step for `batch` rows of `hidden` units; see ember_kernels.h)

// Loads n <= EK_W floats (zeros past n) and stores n lanes: row tails of any hidden size.
static inline EK_V8 SUFFIX(vload_n)(const float *p, ptrdiff_t n) {
    if (n == EK_W) return SUFFIX(vload)(p);
    float t[EK_W] = {0};
    for (ptrdiff_t k = 0; k < n; k++) t[k] = p[k];
    return SUFFIX(vload)(t);
}
static inline void SUFFIX(vstore_n)(float *p, EK_V8 v, ptrdiff_t n) {
    if (n == EK_W) { SUFFIX(vstore)(p, v); return; }
    float t[EK_W];
    SUFFIX(vstore)(t, v);
    for (ptrdiff_t k = 0; k < n; k++) p[k] = t[k];
}
static inline EK_V8 SUFFIX(vsigmoid)(EK_V8 x) { return SUFFIX(vunary)(3, x); }
static inline EK_V8 SUFFIX(vtanh)(EK_V8 x) { return SUFFIX(vunary)(4, x); }
// x + (r + bias): the projected input plus the recurrent GEMM with its bias, in the unfused ops' order.
static inline EK_V8 SUFFIX(vpre)(const float *x, const float *r, const float *bias, ptrdiff_t o, ptrdiff_t n) {
    EK_V8 rv = SUFFIX(vload_n)(r + o, n);
    if (bias) rv = rv + SUFFIX(vload_n)(bias + o, n);
    return SUFFIX(vload_n)(x + o, n) + rv;
}

// Row b of the input projection: row b of x, or row x_rows[b] of the table x (vocabulary rows).
static inline const float *SUFFIX(xrow)(const float *x, const int64_t *x_rows, ptrdiff_t b, ptrdiff_t width) {
    return x + (x_rows ? (ptrdiff_t)x_rows[b] : b) * width;
}
// table[x_rows[b]] += row (width values), lane by lane: the vocabulary rows' gradient, row after row.
static inline void SUFFIX(add_row)(float *table, const int64_t *x_rows, ptrdiff_t b, const float *row, ptrdiff_t width) {
    float *t = table + (ptrdiff_t)x_rows[b] * width;
    ptrdiff_t j = 0;
    for (; j + EK_W <= width; j += EK_W) SUFFIX(vstore)(t + j, SUFFIX(vload)(t + j) + SUFFIX(vload)(row + j));
    for (; j < width; j++) t[j] += row[j];
}

static void SUFFIX(lstm_cell)(const float *x, const int64_t *x_rows, const float *r, const float *bias,
                              const float *c_prev, const float *h_prev, const float *mask, float *saved, float *c_out,
                              float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden) {
    const ptrdiff_t H = hidden;
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *xb = SUFFIX(xrow)(x, x_rows, b, 4 * H), *rb = r + b * 4 * H, *cp = c_prev + b * H, *hp = h_prev + b * H;
        float *sb = saved + b * 5 * H, *co = c_out + b * H, *ho = h_out + b * H, *yb = y + b * H;
        if (mask && mask[b] == 0) {
            for (ptrdiff_t j = 0; j < H; j++) { co[j] = cp[j]; ho[j] = hp[j]; yb[j] = 0; }
            for (ptrdiff_t j = 0; j < 5 * H; j++) sb[j] = 0;
            continue;
        }
        // The next row's projected input and saved gates, asked for a row ahead (the projection was written long
        // before; in a training step these rows come from memory, not the caches).
        const float *xn = b + 1 < batch ? SUFFIX(xrow)(x, x_rows, b + 1, 4 * H) : 0;
        float *sn = b + 1 < batch ? sb + 5 * H : 0;
        for (ptrdiff_t j = 0; j < H; j += EK_W) {
            ptrdiff_t n = H - j < EK_W ? H - j : EK_W;
            if (xn) {
                for (int q = 0; q < 4; q++) __builtin_prefetch(xn + q * H + j, 0, 3);
                for (int q = 0; q < 5; q++) __builtin_prefetch(sn + q * H + j, 1, 3);
            }
            EK_V8 i = SUFFIX(vsigmoid)(SUFFIX(vpre)(xb, rb, bias, j, n));
            EK_V8 f = SUFFIX(vsigmoid)(SUFFIX(vpre)(xb, rb, bias, H + j, n));
            EK_V8 g = SUFFIX(vtanh)(SUFFIX(vpre)(xb, rb, bias, 2 * H + j, n));
            EK_V8 o = SUFFIX(vsigmoid)(SUFFIX(vpre)(xb, rb, bias, 3 * H + j, n));
            EK_V8 fc = f * SUFFIX(vload_n)(cp + j, n), ig = i * g;  // two products, then the sum: as the unfused ops
            EK_V8 c = fc + ig;
            EK_V8 tc = SUFFIX(vtanh)(c);
            EK_V8 h = o * tc;
            SUFFIX(vstore_n)(sb + j, i, n);
            SUFFIX(vstore_n)(sb + H + j, f, n);
            SUFFIX(vstore_n)(sb + 2 * H + j, g, n);
            SUFFIX(vstore_n)(sb + 3 * H + j, o, n);
            SUFFIX(vstore_n)(sb + 4 * H + j, tc, n);
            SUFFIX(vstore_n)(co + j, c, n);
            SUFFIX(vstore_n)(ho + j, h, n);
            SUFFIX(vstore_n)(yb + j, h, n);
        }
    }
}

static void SUFFIX(lstm_cell_backward)(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                                       const float *mask, float *dgates, float *dbias, const int64_t *x_rows,
                                       float *dtable, ptrdiff_t batch, ptrdiff_t hidden) {
    const ptrdiff_t H = hidden;
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *sb = saved + b * 5 * H, *cp = c_prev + b * H, *dyb = dy + b * H;
        float *dhb = dh + b * H, *dcb = dc + b * H, *dg = dgates + b * 4 * H;
        if (mask && mask[b] == 0) {  // the state passed through unchanged: its gradients too
            for (ptrdiff_t j = 0; j < 4 * H; j++) dg[j] = 0;
            if (dtable) SUFFIX(add_row)(dtable, x_rows, b, dg, 4 * H);  // zeros, as a separate index add would
            continue;
        }
        // The next row's saved gates, cell state, output gradient and gate gradients, asked for a row ahead.
        const float *sn = b + 1 < batch ? sb + 5 * H : 0;
        for (ptrdiff_t j = 0; j < H; j += EK_W) {
            ptrdiff_t n = H - j < EK_W ? H - j : EK_W;
            if (sn) {
                for (int q = 0; q < 5; q++) __builtin_prefetch(sn + q * H + j, 0, 3);
                for (int q = 0; q < 4; q++) __builtin_prefetch(dg + (4 + q) * H + j, 1, 3);
                __builtin_prefetch(cp + H + j, 0, 3);
                __builtin_prefetch(dyb + H + j, 0, 3);
            }
            EK_V8 i = SUFFIX(vload_n)(sb + j, n), f = SUFFIX(vload_n)(sb + H + j, n);
            EK_V8 g = SUFFIX(vload_n)(sb + 2 * H + j, n), o = SUFFIX(vload_n)(sb + 3 * H + j, n);
            EK_V8 tc = SUFFIX(vload_n)(sb + 4 * H + j, n);
            EK_V8 dhv = SUFFIX(vload_n)(dhb + j, n) + SUFFIX(vload_n)(dyb + j, n);
            EK_V8 dcv = SUFFIX(vload_n)(dcb + j, n) + dhv * o * (1.0f - tc * tc);
            EK_V8 d0 = dcv * g * i * (1.0f - i), d1 = dcv * SUFFIX(vload_n)(cp + j, n) * f * (1.0f - f);
            EK_V8 d2 = dcv * i * (1.0f - g * g), d3 = dhv * tc * o * (1.0f - o);
            SUFFIX(vstore_n)(dg + j, d0, n);
            SUFFIX(vstore_n)(dg + H + j, d1, n);
            SUFFIX(vstore_n)(dg + 2 * H + j, d2, n);
            SUFFIX(vstore_n)(dg + 3 * H + j, d3, n);
            if (dbias) {  // the bias gradient, row after row (rows past the length add nothing)
                SUFFIX(vstore_n)(dbias + j, SUFFIX(vload_n)(dbias + j, n) + d0, n);
                SUFFIX(vstore_n)(dbias + H + j, SUFFIX(vload_n)(dbias + H + j, n) + d1, n);
                SUFFIX(vstore_n)(dbias + 2 * H + j, SUFFIX(vload_n)(dbias + 2 * H + j, n) + d2, n);
                SUFFIX(vstore_n)(dbias + 3 * H + j, SUFFIX(vload_n)(dbias + 3 * H + j, n) + d3, n);
            }
            SUFFIX(vstore_n)(dcb + j, dcv * f, n);
            SUFFIX(vstore_n)(dhb + j, SUFFIX(splat)(0.0f), n);
        }
        if (dtable) SUFFIX(add_row)(dtable, x_rows, b, dg, 4 * H);
    }
}

static void SUFFIX(gru_cell)(const float *x, const int64_t *x_rows, const float *r, const float *bias,
                             const float *h_prev, const float *mask, float *saved, float *h_out, float *y,
                             ptrdiff_t batch, ptrdiff_t hidden) {
    const ptrdiff_t H = hidden;
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *xb = SUFFIX(xrow)(x, x_rows, b, 3 * H), *rb = r + b * 3 * H, *hp = h_prev + b * H;
        float *sb = saved + b * 4 * H, *ho = h_out + b * H, *yb = y + b * H;
        if (mask && mask[b] == 0) {
            for (ptrdiff_t j = 0; j < H; j++) { ho[j] = hp[j]; yb[j] = 0; }
            for (ptrdiff_t j = 0; j < 4 * H; j++) sb[j] = 0;
            continue;
        }
        // The next row's projected input and saved gates, asked for a row ahead (as the LSTM cell).
        const float *xn = b + 1 < batch ? SUFFIX(xrow)(x, x_rows, b + 1, 3 * H) : 0;
        float *sn = b + 1 < batch ? sb + 4 * H : 0;
        for (ptrdiff_t j = 0; j < H; j += EK_W) {
            ptrdiff_t n = H - j < EK_W ? H - j : EK_W;
            if (xn) {
                for (int q = 0; q < 3; q++) __builtin_prefetch(xn + q * H + j, 0, 3);
                for (int q = 0; q < 4; q++) __builtin_prefetch(sn + q * H + j, 1, 3);
            }
            EK_V8 rg = SUFFIX(vsigmoid)(SUFFIX(vpre)(xb, rb, bias, j, n));
            EK_V8 z = SUFFIX(vsigmoid)(SUFFIX(vpre)(xb, rb, bias, H + j, n));
            EK_V8 hn = SUFFIX(vload_n)(rb + 2 * H + j, n);
            if (bias) hn = hn + SUFFIX(vload_n)(bias + 2 * H + j, n);
            EK_V8 rhn = rg * hn;
            EK_V8 nn = SUFFIX(vtanh)(SUFFIX(vload_n)(xb + 2 * H + j, n) + rhn);
            EK_V8 d = SUFFIX(vload_n)(hp + j, n) - nn;
            EK_V8 zd = z * d;
            EK_V8 h = nn + zd;
            SUFFIX(vstore_n)(sb + j, rg, n);
            SUFFIX(vstore_n)(sb + H + j, z, n);
            SUFFIX(vstore_n)(sb + 2 * H + j, nn, n);
            SUFFIX(vstore_n)(sb + 3 * H + j, hn, n);
            SUFFIX(vstore_n)(ho + j, h, n);
            SUFFIX(vstore_n)(yb + j, h, n);
        }
    }
}

static void SUFFIX(gru_cell_backward)(const float *saved, const float *h_prev, float *dh, const float *dy,
                                      const float *mask, float *dx, float *drec, float *dbias, const int64_t *x_rows,
                                      float *dtable, ptrdiff_t batch, ptrdiff_t hidden) {
    const ptrdiff_t H = hidden;
    for (ptrdiff_t b = 0; b < batch; b++) {
        const float *sb = saved + b * 4 * H, *hp = h_prev + b * H, *dyb = dy + b * H;
        float *dhb = dh + b * H, *dxb = dx + b * 3 * H, *drb = drec + b * 3 * H;
        if (mask && mask[b] == 0) {
            for (ptrdiff_t j = 0; j < 3 * H; j++) { dxb[j] = 0; drb[j] = 0; }
            if (dtable) SUFFIX(add_row)(dtable, x_rows, b, dxb, 3 * H);
            continue;
        }
        // The next row's saved gates, previous state, output gradient and gate gradients, asked for a row ahead.
        const float *sn = b + 1 < batch ? sb + 4 * H : 0;
        for (ptrdiff_t j = 0; j < H; j += EK_W) {
            ptrdiff_t n = H - j < EK_W ? H - j : EK_W;
            if (sn) {
                for (int q = 0; q < 4; q++) __builtin_prefetch(sn + q * H + j, 0, 3);
                for (int q = 0; q < 3; q++) {
                    __builtin_prefetch(dxb + (3 + q) * H + j, 1, 3);
                    __builtin_prefetch(drb + (3 + q) * H + j, 1, 3);
                }
                __builtin_prefetch(hp + H + j, 0, 3);
                __builtin_prefetch(dyb + H + j, 0, 3);
            }
            EK_V8 rg = SUFFIX(vload_n)(sb + j, n), z = SUFFIX(vload_n)(sb + H + j, n);
            EK_V8 nn = SUFFIX(vload_n)(sb + 2 * H + j, n), hn = SUFFIX(vload_n)(sb + 3 * H + j, n);
            EK_V8 dhv = SUFFIX(vload_n)(dhb + j, n) + SUFFIX(vload_n)(dyb + j, n);
            EK_V8 dnp = dhv * (1.0f - z) * (1.0f - nn * nn);
            EK_V8 dzp = dhv * (SUFFIX(vload_n)(hp + j, n) - nn) * z * (1.0f - z);
            EK_V8 drp = dnp * hn * rg * (1.0f - rg);
            SUFFIX(vstore_n)(dxb + j, drp, n);
            SUFFIX(vstore_n)(dxb + H + j, dzp, n);
            SUFFIX(vstore_n)(dxb + 2 * H + j, dnp, n);
            EK_V8 dnr = dnp * rg;
            SUFFIX(vstore_n)(drb + j, drp, n);
            SUFFIX(vstore_n)(drb + H + j, dzp, n);
            SUFFIX(vstore_n)(drb + 2 * H + j, dnr, n);
            if (dbias) {  // the recurrent bias's gradient, row after row
                SUFFIX(vstore_n)(dbias + j, SUFFIX(vload_n)(dbias + j, n) + drp, n);
                SUFFIX(vstore_n)(dbias + H + j, SUFFIX(vload_n)(dbias + H + j, n) + dzp, n);
                SUFFIX(vstore_n)(dbias + 2 * H + j, SUFFIX(vload_n)(dbias + 2 * H + j, n) + dnr, n);
            }
            SUFFIX(vstore_n)(dhb + j, dhv * z, n);
        }
        if (dtable) SUFFIX(add_row)(dtable, x_rows, b, dxb, 3 * H);
    }
}


// MARK: fused attention, one block of scores (see ember_kernels.h)

// How many leading columns of block row r a causal mask keeps (keys j0 + c <= query i0 + r, diag = i0 - j0).
static inline ptrdiff_t SUFFIX(attn_valid)(ptrdiff_t cols, ptrdiff_t diag, ptrdiff_t r, int causal) {
    if (!causal) return cols;
    ptrdiff_t v = diag + r + 1;
    return v < 0 ? 0 : (v > cols ? cols : v);
}

// row[c] = exp(row[c] - shift) for c < valid, 0 from valid to cols; returns the sum of the first `valid`.
static inline float SUFFIX(attn_exp_row)(float *row, ptrdiff_t valid, ptrdiff_t cols, float shift) {
    EK_V8 vm = SUFFIX(splat)(shift), vs = SUFFIX(splat)(0.0f);
    ptrdiff_t c = 0;
    for (; c + EK_W <= valid; c += EK_W) {
        EK_V8 e = SUFFIX(vexp)(SUFFIX(vload)(row + c) - vm);
        SUFFIX(vstore)(row + c, e);
        vs += e;
    }
    float sum = 0;
    for (int k = 0; k < EK_W; k++) sum += vs[k];
    if (c < valid) {
        EK_V8 e = SUFFIX(vexp)(SUFFIX(vload_n)(row + c, valid - c) - vm);
        SUFFIX(vstore_n)(row + c, e, valid - c);
        for (ptrdiff_t k = 0; k < valid - c; k++) sum += e[k];
    }
    for (c = valid; c < cols; c++) row[c] = 0;
    return sum;
}

static void SUFFIX(attn_online_rows)(float *s, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, float *m,
                                     float *l, float *acc, ptrdiff_t dv) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = s + r * cols;
        ptrdiff_t valid = SUFFIX(attn_valid)(cols, diag, r, causal);
        float mx = valid > 0 ? SUFFIX(row_max)(row, valid) : -__builtin_inff();
        // A NaN score (or an earlier one in m) stays NaN through the row's maximum, weights and output.
        float mnew = (mx != mx || m[r] != m[r]) ? __builtin_nanf("") : (m[r] > mx ? m[r] : mx);
        if (mnew == -__builtin_inff()) {
            for (ptrdiff_t c = 0; c < cols; c++) row[c] = 0;
            continue;
        }
        float alpha = SUFFIX(sexp)(m[r] - mnew);
        float sum = SUFFIX(attn_exp_row)(row, valid, cols, mnew);
        l[r] = l[r] * alpha + sum;
        m[r] = mnew;
        if (alpha != 1.0f) {
            float *a = acc + r * dv;
            ptrdiff_t d = 0;
            for (; d + EK_W <= dv; d += EK_W) SUFFIX(vstore)(a + d, SUFFIX(vload)(a + d) * alpha);
            for (; d < dv; d++) a[d] *= alpha;
        }
    }
}

static void SUFFIX(attn_exp_rows)(float *p, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal,
                                  const float *shift) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = p + r * cols;
        if (shift[r] == -__builtin_inff()) {
            for (ptrdiff_t c = 0; c < cols; c++) row[c] = 0;
            continue;
        }
        SUFFIX(attn_exp_row)(row, SUFFIX(attn_valid)(cols, diag, r, causal), cols, shift[r]);
    }
}

#undef EK_V8
#undef EK_I8
