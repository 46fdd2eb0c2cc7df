// Builds kernels_impl.h three times (portable, AVX2+FMA, AVX-512) and dispatches through a table chosen at run time
// (the best build the CPU supports, or the one EMBER_KERNELS names; see ek_select_variant).
#include "ember_kernels.h"
#include <math.h>
#include <string.h>

// The portable build passes 8-lane vectors between static inline helpers; their ABI never crosses this file.
#pragma clang diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) || defined(__i386__)
#define EK_X86 1
#define EK_W 8
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define SUFFIX(name) name##_avx2
#include "kernels_impl.h"
#undef SUFFIX
#pragma clang attribute pop
#undef EK_W
// AVX-512 build: same arithmetic on 16 lanes. Used only for row-wise and elementwise transcendental kernels
// (softmax, exp/sigmoid/tanh); sums and updates keep the 8-lane build so their rounding is the same on every x86-64.
#define EK_W 16
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"))), apply_to = function)
#define SUFFIX(name) name##_avx512
#include "kernels_impl.h"
#undef SUFFIX
#pragma clang attribute pop
#undef EK_W
#endif

#define EK_W 8
#define SUFFIX(name) name##_base
#include "kernels_impl.h"
#undef SUFFIX
#undef EK_W

// MARK: run-time choice of build

static int ek_cpu_state[3] = {1, -1, -1};

int ek_variant_supported(int variant) {
    if (variant == EK_PORTABLE) return 1;
#ifdef EK_X86
    if (variant != EK_AVX2 && variant != EK_AVX512) return 0;
    if (ek_cpu_state[variant] < 0) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        ek_cpu_state[EK_AVX2] = avx2;
        ek_cpu_state[EK_AVX512] = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    }
    return ek_cpu_state[variant];
#else
    return 0;
#endif
}

int ek_best_variant(void) {
    if (ek_variant_supported(EK_AVX512)) return EK_AVX512;
    if (ek_variant_supported(EK_AVX2)) return EK_AVX2;
    return EK_PORTABLE;
}

static const ek_kernels ek_table_portable = {
    binary_base, unary_base, relu_backward_base, axpby_base, sum_base, softmax_rows_base,
    softmax_backward_rows_base, adam_base, lstm_cell_base, lstm_cell_backward_base, gru_cell_base,
    gru_cell_backward_base, attn_online_rows_base, attn_exp_rows_base};
#ifdef EK_X86
static const ek_kernels ek_table_avx2 = {
    binary_avx2, unary_avx2, relu_backward_avx2, axpby_avx2, sum_avx2, softmax_rows_avx2,
    softmax_backward_rows_avx2, adam_avx2, lstm_cell_avx2, lstm_cell_backward_avx2, gru_cell_avx2,
    gru_cell_backward_avx2, attn_online_rows_avx2, attn_exp_rows_avx2};
// The AVX-512 build widens the transcendental and row-wise kernels to 16 lanes (and relu's backward, a select that
// rounds nothing); sums, binary ops and updates keep the AVX2 code, so their rounding is the same on every AVX2 machine.
static const ek_kernels ek_table_avx512 = {
    binary_avx2, unary_avx512, relu_backward_avx512, axpby_avx2, sum_avx2, softmax_rows_avx512,
    softmax_backward_rows_avx512, adam_avx2, lstm_cell_avx512, lstm_cell_backward_avx2, gru_cell_avx512,
    gru_cell_backward_avx2, attn_online_rows_avx512, attn_exp_rows_avx512};
#endif

const ek_kernels *ek_kernels_for(int variant) {
    if (!ek_variant_supported(variant)) return 0;
#ifdef EK_X86
    if (variant == EK_AVX512) return &ek_table_avx512;
    if (variant == EK_AVX2) return &ek_table_avx2;
#endif
    return &ek_table_portable;
}

static const ek_kernels *ek_active_table = 0;
static int ek_active = -1;

int ek_active_variant(void) {
    if (ek_active < 0) ek_select_variant(ek_best_variant());
    return ek_active;
}

int ek_select_variant(int variant) {
    const ek_kernels *t = ek_kernels_for(variant);
    if (!t) return 0;
    ek_active_table = t;
    ek_active = variant;
    return 1;
}

static inline const ek_kernels *ek_k(void) {
    if (__builtin_expect(ek_active_table == 0, 0)) ek_active_variant();
    return ek_active_table;
}

void ek_binary_f32(int op, const float *a, ptrdiff_t sa, const float *b, ptrdiff_t sb, float *out, ptrdiff_t n) {
    ek_k()->binary(op, a, sa, b, sb, out, n);
}

void ek_unary_f32(int op, const float *x, float *out, ptrdiff_t n) { ek_k()->unary(op, x, out, n); }

void ek_relu_backward_f32(const float *x, const float *g, float *out, ptrdiff_t n) {
    ek_k()->relu_backward(x, g, out, n);
}

void ek_axpby_f32(const float *a, float alpha, const float *b, float beta, float *out, ptrdiff_t n) {
    ek_k()->axpby(a, alpha, b, beta, out, n);
}

double ek_sum_f32(const float *x, ptrdiff_t n) { return ek_k()->sum(x, n); }

void ek_softmax_rows_f32(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, int lg) {
    ek_k()->softmax_rows(x, out, rows, cols, lg);
}

void ek_softmax_backward_rows_f32(const float *y, const float *g, float *out, ptrdiff_t rows, ptrdiff_t cols, int lg) {
    ek_k()->softmax_backward_rows(y, g, out, rows, cols, lg);
}

void ek_adam_f32(float *param, const float *grad, float *m, float *v, ptrdiff_t n,
                 float lr, float one_minus_beta1, float one_minus_beta2, float eps, float bias_c1, float bias_c2,
                 float l2_wd, float decoupled_wd) {
    ek_k()->adam(param, grad, m, v, n, lr, one_minus_beta1, one_minus_beta2, eps, bias_c1, bias_c2, l2_wd, decoupled_wd);
}

void ek_lstm_cell_f32(const float *x, const float *r, const float *bias, const float *c_prev, const float *h_prev,
                      const float *mask, float *saved, float *c_out, float *h_out, float *y, ptrdiff_t batch,
                      ptrdiff_t hidden) {
    ek_k()->lstm_cell(x, 0, r, bias, c_prev, h_prev, mask, saved, c_out, h_out, y, batch, hidden);
}

void ek_lstm_cell_backward_f32(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                               const float *mask, float *dgates, float *dbias, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->lstm_cell_backward(saved, c_prev, dh, dy, dc, mask, dgates, dbias, 0, 0, batch, hidden);
}

void ek_gru_cell_f32(const float *x, const float *r, const float *bias, const float *h_prev, const float *mask,
                     float *saved, float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->gru_cell(x, 0, r, bias, h_prev, mask, saved, h_out, y, batch, hidden);
}

void ek_gru_cell_backward_f32(const float *saved, const float *h_prev, float *dh, const float *dy, const float *mask,
                              float *dx, float *drec, float *dbias, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->gru_cell_backward(saved, h_prev, dh, dy, mask, dx, drec, dbias, 0, 0, batch, hidden);
}

void ek_lstm_cell_rows_f32(const float *table, const int64_t *x_rows, const float *r, const float *bias,
                           const float *c_prev, const float *h_prev, const float *mask, float *saved, float *c_out,
                           float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->lstm_cell(table, x_rows, r, bias, c_prev, h_prev, mask, saved, c_out, h_out, y, batch, hidden);
}

void ek_lstm_cell_backward_rows_f32(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                                    const float *mask, float *dgates, float *dbias, const int64_t *x_rows,
                                    float *dtable, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->lstm_cell_backward(saved, c_prev, dh, dy, dc, mask, dgates, dbias, x_rows, dtable, batch, hidden);
}

void ek_gru_cell_rows_f32(const float *table, const int64_t *x_rows, const float *r, const float *bias,
                          const float *h_prev, const float *mask, float *saved, float *h_out, float *y, ptrdiff_t batch,
                          ptrdiff_t hidden) {
    ek_k()->gru_cell(table, x_rows, r, bias, h_prev, mask, saved, h_out, y, batch, hidden);
}

void ek_gru_cell_backward_rows_f32(const float *saved, const float *h_prev, float *dh, const float *dy,
                                   const float *mask, float *dx, float *drec, float *dbias, const int64_t *x_rows,
                                   float *dtable, ptrdiff_t batch, ptrdiff_t hidden) {
    ek_k()->gru_cell_backward(saved, h_prev, dh, dy, mask, dx, drec, dbias, x_rows, dtable, batch, hidden);
}

void ek_attn_online_rows_f32(float *s, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, float *m, float *l,
                             float *acc, ptrdiff_t dv) {
    ek_k()->attn_online_rows(s, rows, cols, diag, causal, m, l, acc, dv);
}

void ek_attn_exp_rows_f32(float *p, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, const float *shift) {
    ek_k()->attn_exp_rows(p, rows, cols, diag, causal, shift);
}

typedef float ek_pool_vf __attribute__((vector_size(32), aligned(4)));
typedef int32_t ek_pool_vi __attribute__((vector_size(32), aligned(4)));
typedef int64_t ek_pool_vl __attribute__((vector_size(64), aligned(8)));

static inline ek_pool_vf ek_pool_pick(ek_pool_vi take_b, ek_pool_vf a, ek_pool_vf b) {
    ek_pool_vi ia, ib;
    __builtin_memcpy(&ia, &a, sizeof ia);
    __builtin_memcpy(&ib, &b, sizeof ib);
    ek_pool_vi r = (take_b & ib) | (~take_b & ia);
    ek_pool_vf out;
    __builtin_memcpy(&out, &r, sizeof out);
    return out;
}

// 2x2 stride-2 max pooling of one output row, 8 outputs at a time, with the scalar loop's exact choices (a later
// element wins if it is greater or NaN). Returns how many outputs it wrote (a multiple of 8); the caller does the rest.
static int ek_maxpool2x2_vec(const float *r0, const float *r1, float *o, int64_t *ix, int ow, int base0, int base1) {
    int ox = 0;
    const ek_pool_vi lane = {0, 2, 4, 6, 8, 10, 12, 14};
    for (; ox + 8 <= ow; ox += 8) {
        ek_pool_vf p0, p1, q0, q1;
        __builtin_memcpy(&p0, r0 + 2 * ox, sizeof p0);
        __builtin_memcpy(&p1, r0 + 2 * ox + 8, sizeof p1);
        __builtin_memcpy(&q0, r1 + 2 * ox, sizeof q0);
        __builtin_memcpy(&q1, r1 + 2 * ox + 8, sizeof q1);
        ek_pool_vf a0 = __builtin_shufflevector(p0, p1, 0, 2, 4, 6, 8, 10, 12, 14);
        ek_pool_vf a1 = __builtin_shufflevector(p0, p1, 1, 3, 5, 7, 9, 11, 13, 15);
        ek_pool_vf b0 = __builtin_shufflevector(q0, q1, 0, 2, 4, 6, 8, 10, 12, 14);
        ek_pool_vf b1 = __builtin_shufflevector(q0, q1, 1, 3, 5, 7, 9, 11, 13, 15);
        ek_pool_vi t0 = (a1 > a0) | (a1 != a1), t1 = (b1 > b0) | (b1 != b1);
        ek_pool_vf m0 = ek_pool_pick(t0, a0, a1), m1 = ek_pool_pick(t1, b0, b1);
        ek_pool_vi t2 = (m1 > m0) | (m1 != m1);
        ek_pool_vi col = lane + 2 * ox;
        ek_pool_vi i0 = base0 + col + (t0 & 1), i1 = base1 + col + (t1 & 1);
        ek_pool_vf best = ek_pool_pick(t2, m0, m1);
        ek_pool_vi idx = (t2 & i1) | (~t2 & i0);
        ek_pool_vl wide = __builtin_convertvector(idx, ek_pool_vl);
        __builtin_memcpy(o + ox, &best, sizeof best);
        __builtin_memcpy(ix + ox, &wide, sizeof wide);
    }
    return ox;
}

typedef float ek_pool_vf4 __attribute__((vector_size(16), aligned(4)));
typedef int32_t ek_pool_vi4 __attribute__((vector_size(16), aligned(4)));
typedef int64_t ek_pool_vl4 __attribute__((vector_size(32), aligned(8)));

static inline ek_pool_vf4 ek_pool_pick4(ek_pool_vi4 take_b, ek_pool_vf4 a, ek_pool_vf4 b) {
    ek_pool_vi4 ia, ib;
    __builtin_memcpy(&ia, &a, sizeof ia);
    __builtin_memcpy(&ib, &b, sizeof ib);
    ek_pool_vi4 r = (take_b & ib) | (~take_b & ia);
    ek_pool_vf4 out;
    __builtin_memcpy(&out, &r, sizeof out);
    return out;
}

// ek_maxpool2x2_vec's choices for the 4 outputs ox..ox+3 (reads 8 inputs of each row from 2*ox).
static void ek_maxpool2x2_vec4(const float *r0, const float *r1, float *o, int64_t *ix, int ox, int base0, int base1) {
    const ek_pool_vi4 lane = {0, 2, 4, 6};
    ek_pool_vf4 p0, p1, q0, q1;
    __builtin_memcpy(&p0, r0 + 2 * ox, sizeof p0);
    __builtin_memcpy(&p1, r0 + 2 * ox + 4, sizeof p1);
    __builtin_memcpy(&q0, r1 + 2 * ox, sizeof q0);
    __builtin_memcpy(&q1, r1 + 2 * ox + 4, sizeof q1);
    ek_pool_vf4 a0 = __builtin_shufflevector(p0, p1, 0, 2, 4, 6), a1 = __builtin_shufflevector(p0, p1, 1, 3, 5, 7);
    ek_pool_vf4 b0 = __builtin_shufflevector(q0, q1, 0, 2, 4, 6), b1 = __builtin_shufflevector(q0, q1, 1, 3, 5, 7);
    ek_pool_vi4 t0 = (a1 > a0) | (a1 != a1), t1 = (b1 > b0) | (b1 != b1);
    ek_pool_vf4 m0 = ek_pool_pick4(t0, a0, a1), m1 = ek_pool_pick4(t1, b0, b1);
    ek_pool_vi4 t2 = (m1 > m0) | (m1 != m1);
    ek_pool_vi4 col = lane + 2 * ox;
    ek_pool_vi4 i0 = base0 + col + (t0 & 1), i1 = base1 + col + (t1 & 1);
    ek_pool_vf4 best = ek_pool_pick4(t2, m0, m1);
    ek_pool_vi4 idx = (t2 & i1) | (~t2 & i0);
    ek_pool_vl4 wide = __builtin_convertvector(idx, ek_pool_vl4);
    __builtin_memcpy(o + ox, &best, sizeof best);
    __builtin_memcpy(ix + ox, &wide, sizeof wide);
}

// One output row of 2x2 stride-2 pooling where 2*ow <= w (no window hangs off the row): vectors of 8, then the
// remainder as vectors that overlap outputs already written (recomputed to the same values), scalar only below 4.
// Returns how many leading outputs it wrote (the caller does the rest).
static int ek_maxpool2x2_row(const float *r0, const float *r1, float *o, int64_t *ix, int ow, int base0, int base1) {
    int ox = ek_maxpool2x2_vec(r0, r1, o, ix, ow, base0, base1);
    if (ox == ow) return ow;
    if (ow >= 8) {
        int start = ow - 8;
        ek_maxpool2x2_vec(r0 + 2 * start, r1 + 2 * start, o + start, ix + start, 8, base0 + 2 * start, base1 + 2 * start);
        return ow;
    }
    if (ow >= 4) {
        ek_maxpool2x2_vec4(r0, r1, o, ix, 0, base0, base1);
        ek_maxpool2x2_vec4(r0, r1, o, ix, ow - 4, base0, base1);
        return ow;
    }
    return ox;
}

void ek_maxpool2d_f32(const float *x, float *out, int64_t *indices, ptrdiff_t planes, int h, int w, int oh, int ow,
                      int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw) {
    for (ptrdiff_t p = 0; p < planes; p++) {
        const float *plane = x + p * (ptrdiff_t)h * w;
        float *o = out + p * (ptrdiff_t)oh * ow;
        int64_t *ix = indices + p * (ptrdiff_t)oh * ow;
        if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1) {
            for (int oy = 0; oy < oh; oy++) {
                const float *r0 = plane + (2 * oy) * w, *r1 = r0 + w;
                int base0 = 2 * oy * w, base1 = base0 + w;
                int ox0 = 2 * ow <= w ? ek_maxpool2x2_row(r0, r1, o + oy * ow, ix + oy * ow, ow, base0, base1)
                                      : ek_maxpool2x2_vec(r0, r1, o + oy * ow, ix + oy * ow, ow, base0, base1);
                for (int ox = ox0; ox < ow; ox++) {
                    // Branch-free: random data makes comparisons unpredictable. As PyTorch's scan of the window in
                    // row-major order: a later element wins if it is greater or NaN, so the last NaN wins, else the
                    // first maximum.
                    int c = 2 * ox;
                    float a0 = r0[c], a1 = r0[c + 1], b0 = r1[c], b1 = r1[c + 1];
                    int t0 = (a1 > a0) | (a1 != a1);
                    float m0 = t0 ? a1 : a0;
                    int i0 = base0 + c + t0;
                    int t1 = (b1 > b0) | (b1 != b1);
                    float m1 = t1 ? b1 : b0;
                    int i1 = base1 + c + t1;
                    int t2 = (m1 > m0) | (m1 != m1);
                    o[oy * ow + ox] = t2 ? m1 : m0;
                    ix[oy * ow + ox] = t2 ? i1 : i0;
                }
            }
            continue;
        }
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float best = -__builtin_inff();
                int bi = -1;
                for (int ki = 0; ki < kh; ki++) {
                    int iy = oy * sh - ph + ki * dh;
                    if (iy < 0 || iy >= h) continue;
                    for (int kj = 0; kj < kw; kj++) {
                        int jx = ox * sw - pw + kj * dw;
                        if (jx < 0 || jx >= w) continue;
                        float v = plane[iy * w + jx];
                        if (bi < 0 || v > best || v != v) { best = v; bi = iy * w + jx; }  // the last NaN wins
                    }
                }
                o[oy * ow + ox] = best;
                ix[oy * ow + ox] = bi;
            }
        }
    }
}

// MARK: im2col / col2im for one image (see ember_kernels.h). Plain loops the compiler vectorizes; the Swift version
// spent most of its time in per-row memmove/memset calls on rows of 8-32 floats.

// Columns ox in [lo, hi) of an output row read input column ox * sw + x0 inside the image; the rest are padding.
static void ek_conv_span(int ow, int w, int sw, int x0, int *lo, int *hi) {
    int l = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;
    if (l > ow) l = ow;
    int h = w - x0 <= 0 ? 0 : (w - x0 - 1) / sw + 1;
    if (h > ow) h = ow;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

void ek_im2col_f32(const float *image, float *columns, int channels, int h, int w, int kh, int kw, int sh, int sw,
                   int ph, int pw, int dh, int dw, int oh, int ow) {
    ptrdiff_t L = (ptrdiff_t)oh * ow;
    for (int c = 0; c < channels; c++) {
        const float *plane = image + (ptrdiff_t)c * h * w;
        for (int ki = 0; ki < kh; ki++) {
            for (int kj = 0; kj < kw; kj++) {
                float *dst = columns + ((ptrdiff_t)(c * kh + ki) * kw + kj) * L;
                int x0 = kj * dw - pw, lo, hi;
                ek_conv_span(ow, w, sw, x0, &lo, &hi);
                if (sh == 1 && sw == 1 && ow == w) {
                    // Stride 1 with output rows as wide as input rows ('same' padding): the rows that read the image
                    // are one shifted copy of its plane (runs of 8-32 floats one row at a time cost more in loop
                    // overhead than in copying); then the columns that fall in the padding are zeroed.
                    int y0 = ki * dh - ph;
                    int ylo = y0 >= 0 ? 0 : -y0, yhi = h - y0 < oh ? h - y0 : oh;
                    if (ylo > oh) ylo = oh;
                    if (yhi < ylo) yhi = ylo;
                    for (ptrdiff_t i = 0; i < (ptrdiff_t)ylo * ow; i++) dst[i] = 0;
                    for (ptrdiff_t i = (ptrdiff_t)yhi * ow; i < L; i++) dst[i] = 0;
                    if (yhi > ylo) {
                        ptrdiff_t n = (ptrdiff_t)(yhi - ylo) * ow, s0 = (ptrdiff_t)(ylo + y0) * w + x0;
                        ptrdiff_t a = s0 < 0 ? -s0 : 0, b = s0 + n > (ptrdiff_t)h * w ? (ptrdiff_t)h * w - s0 : n;
                        float *d = dst + (ptrdiff_t)ylo * ow;
                        if (b > a) memcpy(d + a, plane + s0 + a, (size_t)(b - a) * sizeof(float));
                        for (int oy = 0; oy < yhi - ylo; oy++) {
                            float *row = d + (ptrdiff_t)oy * ow;
                            for (int ox = 0; ox < lo; ox++) row[ox] = 0;
                            for (int ox = hi; ox < ow; ox++) row[ox] = 0;
                        }
                    }
                    continue;
                }
                for (int oy = 0; oy < oh; oy++) {
                    float *d = dst + (ptrdiff_t)oy * ow;
                    int iy = oy * sh - ph + ki * dh;
                    if (iy < 0 || iy >= h) {
                        for (int ox = 0; ox < ow; ox++) d[ox] = 0;
                        continue;
                    }
                    const float *s = plane + (ptrdiff_t)iy * w + x0;
                    int ox = 0;
                    for (; ox < lo; ox++) d[ox] = 0;
                    if (sw == 1) {
                        for (; ox < hi; ox++) d[ox] = s[ox];
                    } else {
                        for (; ox < hi; ox++) d[ox] = s[(ptrdiff_t)ox * sw];
                    }
                    for (; ox < ow; ox++) d[ox] = 0;
                }
            }
        }
    }
}

void ek_col2im_add_f32(float *columns, float *image, int channels, int h, int w, int kh, int kw, int sh, int sw,
                       int ph, int pw, int dh, int dw, int oh, int ow) {
    ptrdiff_t L = (ptrdiff_t)oh * ow;
    for (int c = 0; c < channels; c++) {
        float *plane = image + (ptrdiff_t)c * h * w;
        for (int ki = 0; ki < kh; ki++) {
            for (int kj = 0; kj < kw; kj++) {
                float *src = columns + ((ptrdiff_t)(c * kh + ki) * kw + kj) * L;
                int x0 = kj * dw - pw, lo, hi;
                ek_conv_span(ow, w, sw, x0, &lo, &hi);
                if (sh == 1 && sw == 1 && ow == w) {
                    // As ek_im2col_f32's whole-plane copy: the entries that belong to padding columns are zeroed in
                    // the (scratch) columns, then the rows that fall on the image are one contiguous add onto the
                    // shifted plane (the zeroed entries land on neighbouring rows' ends and add nothing).
                    int y0 = ki * dh - ph;
                    int ylo = y0 >= 0 ? 0 : -y0, yhi = h - y0 < oh ? h - y0 : oh;
                    if (ylo > oh) ylo = oh;
                    if (yhi <= ylo) continue;
                    float *d = src + (ptrdiff_t)ylo * ow;
                    for (int oy = 0; oy < yhi - ylo; oy++) {
                        float *row = d + (ptrdiff_t)oy * ow;
                        for (int ox = 0; ox < lo; ox++) row[ox] = 0;
                        for (int ox = hi; ox < ow; ox++) row[ox] = 0;
                    }
                    ptrdiff_t n = (ptrdiff_t)(yhi - ylo) * ow, s0 = (ptrdiff_t)(ylo + y0) * w + x0;
                    ptrdiff_t a = s0 < 0 ? -s0 : 0, b = s0 + n > (ptrdiff_t)h * w ? (ptrdiff_t)h * w - s0 : n;
                    float *p = plane + s0;
                    for (ptrdiff_t i = a; i < b; i++) p[i] += d[i];
                    continue;
                }
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * sh - ph + ki * dh;
                    if (iy < 0 || iy >= h) continue;
                    float *p = plane + (ptrdiff_t)iy * w + x0;
                    const float *s = src + (ptrdiff_t)oy * ow;
                    if (sw == 1) {
                        for (int ox = lo; ox < hi; ox++) p[ox] += s[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++) p[(ptrdiff_t)ox * sw] += s[ox];
                    }
                }
            }
        }
    }
}
