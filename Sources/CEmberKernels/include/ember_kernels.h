// Ember's hand-vectorized float32 kernels over contiguous buffers.
// Every entry point calls the build chosen at run time (see ek_select_variant).
#ifndef EMBER_KERNELS_H
#define EMBER_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Builds of the kernels. Portable: 8-lane vector code without FMA (any CPU). AVX2: the same on AVX2+FMA.
/// AVX-512: 16-lane transcendental and row-wise kernels (exp, tanh, sigmoid, softmax, the attention rows), ReLU's
/// backward and float32 GEMM (ek_sgemm_f32), AVX2 code for the rest.
enum { EK_PORTABLE = 0, EK_AVX2 = 1, EK_AVX512 = 2 };

/// 1 when this CPU can run `variant`.
int ek_variant_supported(int variant);
/// The fastest build this CPU supports.
int ek_best_variant(void);
/// The build the ek_* entry points use (the best supported one unless `ek_select_variant` chose another).
int ek_active_variant(void);
/// Makes the ek_* entry points use `variant`; returns 0 (changing nothing) when the CPU lacks it.
/// Call it once at start-up, before kernels run on other threads.
int ek_select_variant(int variant);

/// One build's entry points (the ek_* functions below call the active build's).
typedef struct {
    void (*binary)(int op, const float *a, ptrdiff_t sa, const float *b, ptrdiff_t sb, float *out, ptrdiff_t n);
    void (*unary)(int op, const float *x, float *out, ptrdiff_t n);
    void (*relu_backward)(const float *x, const float *g, float *out, ptrdiff_t n);
    void (*axpby)(const float *a, float alpha, const float *b, float beta, float *out, ptrdiff_t n);
    double (*sum)(const float *x, ptrdiff_t n);
    void (*softmax_rows)(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, int log);
    void (*softmax_backward_rows)(const float *y, const float *g, float *out, ptrdiff_t rows, ptrdiff_t cols, int log);
    void (*adam)(float *param, const float *grad, float *m, float *v, ptrdiff_t n, float lr, float one_minus_beta1,
                 float one_minus_beta2, float eps, float bias_c1, float bias_c2, float l2_wd, float decoupled_wd);
    void (*lstm_cell)(const float *x, const int64_t *x_rows, const float *r, const float *bias, const float *c_prev,
                      const float *h_prev, const float *mask, float *saved, float *c_out, float *h_out, float *y,
                      ptrdiff_t batch, ptrdiff_t hidden);
    void (*lstm_cell_backward)(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                               const float *mask, float *dgates, float *dbias, const int64_t *x_rows, float *dtable,
                               ptrdiff_t batch, ptrdiff_t hidden);
    void (*gru_cell)(const float *x, const int64_t *x_rows, const float *r, const float *bias, const float *h_prev,
                     const float *mask, float *saved, float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden);
    void (*gru_cell_backward)(const float *saved, const float *h_prev, float *dh, const float *dy, const float *mask,
                              float *dx, float *drec, float *dbias, const int64_t *x_rows, float *dtable,
                              ptrdiff_t batch, ptrdiff_t hidden);
    void (*attn_online_rows)(float *s, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, float *m, float *l,
                             float *acc, ptrdiff_t dv);
    void (*attn_exp_rows)(float *p, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, const float *shift);
} ek_kernels;

/// The entry points of one build (NULL when the CPU cannot run it): lets tests compare builds in one process.
const ek_kernels *ek_kernels_for(int variant);

/// Single-threaded row-major float32 GEMM, C[m,n] = alpha op(A) op(B) + beta C (op = transpose when trans_* is 1),
/// on Ember's AVX-512 kernel (sgemm_avx512.c). Runs only while the active build is EK_AVX512 and returns 1; returns 0
/// without touching C otherwise, so the caller uses its BLAS. Each element's rounding depends on k and the operands
/// alone (not on m, n or where the element lies), so cutting C into pieces changes no bit. beta == 0 never reads C.
int ek_sgemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                 ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc);

/// B packed once for many GEMMs with the same B (a recurrent layer's weights over its time steps): the floats the
/// packed copy of a [k, n] op(B) needs (0 when the active build is not EK_AVX512), the packing (returns 0 if the
/// build is not EK_AVX512), and the GEMM reading it: C[m, n] = alpha op(A) op(B)[:, col0 ..< col0 + n] + beta C, col0
/// a multiple of 32 (returns 0, touching nothing, otherwise). Same bits as ek_sgemm_f32 on the unpacked B.
ptrdiff_t ek_sgemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n);
int ek_sgemm_pack_b(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst);
/// The packing of panels first..<end (32 columns each) only: pieces packed by different threads make the same copy.
int ek_sgemm_pack_b_panels(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst,
                           ptrdiff_t first, ptrdiff_t end);
int ek_sgemm_f32_packed_b(int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                          ptrdiff_t lda, const float *packed_b, ptrdiff_t col0, float beta, float *c, ptrdiff_t ldc);

/// Binary ops on contiguous float32: op 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min.
/// `sa`/`sb` are 0 or 1: the stride of a and b (0 broadcasts a scalar).
void ek_binary_f32(int op, const float *a, ptrdiff_t sa, const float *b, ptrdiff_t sb, float *out, ptrdiff_t n);

/// Unary ops on contiguous float32: 0 exp, 1 relu, 2 neg, 3 sigmoid, 4 tanh, 5 square, 6 sqrt, 7 abs, 8 gelu (exact,
/// x Phi(x)), 9 gelu's derivative Phi(x) + x phi(x).
void ek_unary_f32(int op, const float *x, float *out, ptrdiff_t n);

/// out = g * (x > 0)
void ek_relu_backward_f32(const float *x, const float *g, float *out, ptrdiff_t n);

/// out = a * alpha + b * beta (axpby into out)
void ek_axpby_f32(const float *a, float alpha, const float *b, float beta, float *out, ptrdiff_t n);

/// Sum of n floats (fixed blocked order: same result every run).
double ek_sum_f32(const float *x, ptrdiff_t n);

/// Row-wise softmax (log=0) or log-softmax (log=1) over `rows` rows of `cols` contiguous floats.
void ek_softmax_rows_f32(const float *x, float *out, ptrdiff_t rows, ptrdiff_t cols, int log);

/// Backward of row-wise softmax (log=0: y is softmax output) or log-softmax (log=1: y is log-softmax output).
void ek_softmax_backward_rows_f32(const float *y, const float *g, float *out, ptrdiff_t rows, ptrdiff_t cols, int log);

/// One Adam/AdamW step over n parameters. `decoupled_wd` is AdamW's lr*wd decay; `l2_wd` is Adam's L2 term.
/// Takes 1 - beta1 and 1 - beta2 (computed in double: float(1 - 0.999) is exact to 1e-8, 1 - float(0.999) is not).
void ek_adam_f32(float *param, const float *grad, float *m, float *v, ptrdiff_t n,
                 float lr, float one_minus_beta1, float one_minus_beta2, float eps, float bias_c1, float bias_c2,
                 float l2_wd, float decoupled_wd);

/// Max pooling over `planes` float32 images [h, w] -> [oh, ow], recording the flat argmax (iy*w+ix) per output
/// (-1 for a window entirely in padding). As PyTorch's: the last NaN of the window (row-major order) wins, else the
/// first maximum.
void ek_maxpool2d_f32(const float *x, float *out, int64_t *indices, ptrdiff_t planes, int h, int w, int oh, int ow,
                      int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw);

// MARK: fused recurrent cells. One time step for `batch` contiguous rows of `hidden` units, float32. `mask` (NULL:
// every row) holds one float per row; a row whose mask is 0 is past its sequence's length: its state passes through
// unchanged, its output is 0 and its gate gradients are 0.

/// LSTM step (gates i, f, g, o as PyTorch): pre = x + (r + bias) per row of 4*hidden (`bias` may be NULL);
/// c = f*c_prev + i*g, h = o*tanh(c). Writes saved = [i, f, g, o, tanh(c)] (5*hidden per row), c_out, h_out (the
/// carried state) and y (the output: h, or 0 past the length).
void ek_lstm_cell_f32(const float *x, const float *r, const float *bias, const float *c_prev, const float *h_prev,
                      const float *mask, float *saved, float *c_out, float *h_out, float *y, ptrdiff_t batch,
                      ptrdiff_t hidden);
/// Backward of one LSTM step, in place on the carried gradients: with dh (of the carried h) plus dy (of the output)
/// and dc, writes the pre-activation gradients dgates (4*hidden per row), dc <- dc_prev and dh <- 0 (the part of
/// dh_prev that does not go through the recurrent GEMM; rows past the length keep dh and dc). dbias (NULL: none)
/// [4*hidden] gets each row's dgates added, row after row.
void ek_lstm_cell_backward_f32(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                               const float *mask, float *dgates, float *dbias, ptrdiff_t batch, ptrdiff_t hidden);
/// GRU step (gates r, z, n as PyTorch): r, z = sigmoid(x + (rec + bias)), hn = rec_n + bias_n,
/// n = tanh(x_n + r*hn), h = n + z*(h_prev - n). Writes saved = [r, z, n, hn] (4*hidden per row), h_out and y.
void ek_gru_cell_f32(const float *x, const float *r, const float *bias, const float *h_prev, const float *mask,
                     float *saved, float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden);
/// Backward of one GRU step: dx (gradient of the input projection, 3*hidden per row), drec (of the recurrent
/// projection with its bias: differs from dx in the n block, times r) and dh <- z*(dh + dy) (rows past the length
/// keep dh). dbias (NULL: none) [3*hidden] gets each row's drec added, row after row.
void ek_gru_cell_backward_f32(const float *saved, const float *h_prev, float *dh, const float *dy, const float *mask,
                              float *dx, float *drec, float *dbias, ptrdiff_t batch, ptrdiff_t hidden);

// Vocabulary rows: the cells above with the input projection read as rows of a table (an embedding's vocabulary
// projected once), row b of the step at table + x_rows[b] * G*hidden (G = 4 for the LSTM, 3 for the GRU), instead
// of a gathered copy. The backward kernels add each row's input-projection gradient (the LSTM's dgates, the GRU's
// dx) into dtable at the same row, row after row, after writing it (NULL dtable: none). Indices are trusted: the
// caller checks them against the table's rows.
void ek_lstm_cell_rows_f32(const float *table, const int64_t *x_rows, const float *r, const float *bias,
                           const float *c_prev, const float *h_prev, const float *mask, float *saved, float *c_out,
                           float *h_out, float *y, ptrdiff_t batch, ptrdiff_t hidden);
void ek_lstm_cell_backward_rows_f32(const float *saved, const float *c_prev, float *dh, const float *dy, float *dc,
                                    const float *mask, float *dgates, float *dbias, const int64_t *x_rows,
                                    float *dtable, ptrdiff_t batch, ptrdiff_t hidden);
void ek_gru_cell_rows_f32(const float *table, const int64_t *x_rows, const float *r, const float *bias,
                          const float *h_prev, const float *mask, float *saved, float *h_out, float *y, ptrdiff_t batch,
                          ptrdiff_t hidden);
void ek_gru_cell_backward_rows_f32(const float *saved, const float *h_prev, float *dh, const float *dy,
                                   const float *mask, float *dx, float *drec, float *dbias, const int64_t *x_rows,
                                   float *dtable, ptrdiff_t batch, ptrdiff_t hidden);

/// im2col of one image: `channels` planes [h, w] -> columns [channels*kh*kw, oh*ow] (row (c, ki, kj), zeros where the
/// window reaches into padding), for stride (sh, sw), padding (ph, pw) and dilation (dh, dw).
void ek_im2col_f32(const float *image, float *columns, int channels, int h, int w, int kh, int kw, int sh, int sw,
                   int ph, int pw, int dh, int dw, int oh, int ow);
/// The transpose of ek_im2col_f32: adds each column entry back onto the image element it was read from. May overwrite
/// the entries of `columns` that fall in padding (a scratch buffer).
void ek_col2im_add_f32(float *columns, float *image, int channels, int h, int w, int kh, int kw, int sh, int sw,
                       int ph, int pw, int dh, int dw, int oh, int ow);

// MARK: fused attention. One block of scores s [rows, cols] (row-major, contiguous): queries i0 ..< i0 + rows
// against keys j0 ..< j0 + cols, diag = i0 - j0. With `causal`, row r keeps its first diag + r + 1 columns (keys up to
// its query) and the rest become 0.

/// The online softmax step of the forward pass: per row, the new running maximum m' = max(m, row max), the row
/// replaced by exp(s - m'), l <- l * exp(m - m') + sum of the row, the output accumulator row (dv floats) scaled by
/// exp(m - m'), m <- m'. A row whose maximum is still -inf becomes 0 and keeps m, l and acc.
void ek_attn_online_rows_f32(float *s, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, float *m, float *l,
                             float *acc, ptrdiff_t dv);
/// The backward pass's weights: p <- exp(p - shift[r]) per row (shift = the row's log-sum-exp); rows whose shift is
/// -inf (every key masked) become 0.
void ek_attn_exp_rows_f32(float *p, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t diag, int causal, const float *shift);

#ifdef __cplusplus
}
#endif
#endif
