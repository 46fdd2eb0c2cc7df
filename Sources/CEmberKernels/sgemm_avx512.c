// Ember's float32 GEMM for AVX-512 CPUs: C = alpha * op(A) * op(B) + beta * C, row-major.
//
// Why it exists: OpenBLAS 0.3.21 (Debian 12) predates Zen 4/5 and machines of this kind pin it to its AVX2 kernels
// (OPENBLAS_CORETYPE=Haswell), which use half of the FMA width a full-width AVX-512 core has. This is a plain
// Goto/BLIS-style GEMM: B is packed into panels of 32 columns (two zmm registers), A into panels of 12 rows, and a
// 12x32 register tile accumulates one block of k at a time.
//
// Determinism: every element of C is computed the same way wherever its tile lies: for each block of KC values of k
// (fixed by K alone), the products are summed in k order into a zeroed accumulator, then the block's sum is folded into
// C (`alpha * sum`, then `+ beta * C` on the first block, `+ C` on later ones). Cutting C into pieces (as the CPU
// backend's GEMM partition does for threads) therefore changes no bit.
#include "ember_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 12
#define NR 32
#define KC 256
#define MC 240
#define NC 2048

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"))), apply_to = function)

// Per-thread packing buffers, kept for the thread's life (a fresh mmap'd block per call costs page faults).
static __thread float *ek_gemm_apack = 0, *ek_gemm_bpack = 0;

static float *ek_gemm_buffer(float **slot, size_t floats) {
    if (!*slot) *slot = aligned_alloc(64, floats * sizeof(float));
    return *slot;
}

// dst[k * ldd + c] = src[c * lds + k] for a block of `rows` <= 16 rows (c) by 16 columns (k); missing rows read as 0.
// Stores the lanes of `store` (bit c: column c of dst) in each of the 16 rows of dst.
static inline void transpose16(const float *src, ptrdiff_t lds, int rows, float *dst, ptrdiff_t ldd, __mmask16 store) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    // 1: interleave pairs of rows (32-bit), 2: pairs of pairs (64-bit), 3/4: 128-bit lanes across 4 and 8 rows.
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int i = 0; i < 4; i++) {
        for (int h = 0; h < 2; h++) {
            int x = i + 8 * h, y = x + 4;
            t[x] = _mm512_shuffle_f32x4(r[x], r[y], 0x88);
            t[y] = _mm512_shuffle_f32x4(r[x], r[y], 0xDD);
        }
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(dst + i * ldd, store, r[i]);
}

// Packs rows i0..<i0+mc, columns p0..<p0+kc of op(A) into panels of MR rows stored k-major (MR values per k),
// zero-padding the last panel.
static void pack_a(int trans, const float *a, ptrdiff_t lda, ptrdiff_t i0, ptrdiff_t mc, ptrdiff_t p0, ptrdiff_t kc,
                   float *dst) {
    if (trans) {
        // op(A)[i][k] = a[k * lda + i]: MR consecutive values per k and panel. Each stored row k is read once, left to
        // right across the panels (one masked 16-lane load and store per panel; panel by panel, a row's 48 bytes
        // came from a new line each time, and a plain loop compiled to scalar moves: 40% of a transposed-A GEMM's
        // time when n is small); the last panel's rows past mc are zeros.
        const __mmask16 store = (__mmask16)((1u << MR) - 1);
        const ptrdiff_t full = mc / MR * MR;
        const __mmask16 tail = (__mmask16)((1u << (mc - full)) - 1);
        for (ptrdiff_t k = 0; k < kc; k++) {
            const float *s = a + (p0 + k) * lda + i0;
            float *d = dst + k * MR;
            ptrdiff_t ir = 0;
            for (; ir < full; ir += MR) _mm512_mask_storeu_ps(d + ir * kc, store, _mm512_maskz_loadu_ps(store, s + ir));
            if (ir < mc) _mm512_mask_storeu_ps(d + ir * kc, store, _mm512_maskz_loadu_ps(tail, s + ir));
        }
        return;
    }
    for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
        ptrdiff_t rows = mc - ir < MR ? mc - ir : MR;
        float *panel = dst + ir * kc;
        // op(A)[i][k] = a[i * lda + k]: rows contiguous in k, transposed 16 values of k at a time in registers (a
        // plain loop here was vectorized into scatter stores, a quarter of small GEMMs' time); rows past the last
        // (the last panel) are zeros.
        const float *src = a + (i0 + ir) * lda + p0;
        ptrdiff_t k = 0;
        for (; k + 16 <= kc; k += 16) transpose16(src + k, lda, (int)rows, panel + k * MR, MR, (1u << MR) - 1);
#pragma clang loop vectorize(disable)
        for (; k < kc; k++)
            for (int r = 0; r < MR; r++) panel[k * MR + r] = r < rows ? src[r * lda + k] : 0;
    }
}

// Packs rows p0..<p0+kc, columns j0..<j0+nc of op(B) into panels of NR columns stored k-major (NR values per k),
// zero-padding the last panel.
static void pack_b(int trans, const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t kc, ptrdiff_t j0, ptrdiff_t nc,
                   float *dst) {
    for (ptrdiff_t jr = 0; jr < nc; jr += NR) {
        ptrdiff_t cols = nc - jr < NR ? nc - jr : NR;
        float *panel = dst + jr * kc;
        if (!trans) {
            // op(B)[k][j] = b[k * ldb + j]: NR consecutive values per k.
            const float *src = b + p0 * ldb + j0 + jr;
            if (cols == NR) {
                for (ptrdiff_t k = 0; k < kc; k++) {
                    const float *s = src + k * ldb;
                    _mm512_store_ps(panel + k * NR, _mm512_loadu_ps(s));
                    _mm512_store_ps(panel + k * NR + 16, _mm512_loadu_ps(s + 16));
                }
            } else {
                __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
                __mmask16 m1 = cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
                for (ptrdiff_t k = 0; k < kc; k++) {
                    const float *s = src + k * ldb;
                    _mm512_store_ps(panel + k * NR, _mm512_maskz_loadu_ps(m0, s));
                    _mm512_store_ps(panel + k * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
                }
            }
        } else {
            // op(B)[k][j] = b[j * ldb + k]: a column of the panel is contiguous in k. Blocks of 16 k x 16 columns are
            // read as 16 rows of 16 and transposed in registers.
            const float *src = b + (j0 + jr) * ldb + p0;
            ptrdiff_t k = 0;
            if (cols == NR) {
                for (; k + 16 <= kc; k += 16) {
                    for (int h = 0; h < 2; h++) transpose16(src + h * 16 * ldb + k, ldb, 16, panel + k * NR + h * 16, NR, 0xFFFF);
                }
            }
            for (; k < kc; k++) {
                float *d = panel + k * NR;
                ptrdiff_t c = 0;
                for (; c < cols; c++) d[c] = src[c * ldb + k];
                for (; c < NR; c++) d[c] = 0;
            }
        }
    }
}

// The register tile: C[0..<rows][0..<cols] = alpha * (Ap * Bp) + beta * C  (beta == 0: C is not read), rows <= 12.
// The k loop is inline assembly so that it runs at full speed in unoptimized (debug) builds too, where SwiftPM compiles
// C targets at -O0 and intrinsics would spill every register: zmm0-23 accumulate row r in zmm(2r), zmm(2r+1), zmm24/25
// hold the k-th row of the B panel, zmm26-29 take turns holding a broadcast element of A. The assembly is built from
// groups of 4 rows; a last, partial panel of rows runs only the groups it needs (8 or 4 rows of accumulators). Every
// element is computed the same way in each (same products in the same order), so the same bits.
// Each pass asks for the B panel's lines 16 values of k ahead (2 KB; the packed panels lie end to end, so near a panel's
// end it fetches the next tile's): a recurrent layer's per-step GEMM streams its 1 MB weight panel from beyond L1
// every step, and the loads waited on it (char_lstm_train ~7% faster, paired runs; 512 B ahead was slower, 4 KB the
// same). Prefetches change no value.
#define EK_ZERO2(x, y) \
    "vpxord %%zmm" #x ", %%zmm" #x ", %%zmm" #x "\n\t" "vpxord %%zmm" #y ", %%zmm" #y ", %%zmm" #y "\n\t"
#define EK_ROW(off, bc, x, y) "vbroadcastss " #off "(%[a]), %%zmm" #bc "\n\t" \
    "vfmadd231ps %%zmm" #bc ", %%zmm24, %%zmm" #x "\n\t" "vfmadd231ps %%zmm" #bc ", %%zmm25, %%zmm" #y "\n\t"
#define EK_SAVE(x, y, o0, o1) "vmovups %%zmm" #x ", " #o0 "(%[acc])\n\t" "vmovups %%zmm" #y ", " #o1 "(%[acc])\n\t"
#define EK_G0_ZERO EK_ZERO2(0, 1) EK_ZERO2(2, 3) EK_ZERO2(4, 5) EK_ZERO2(6, 7)
#define EK_G1_ZERO EK_ZERO2(8, 9) EK_ZERO2(10, 11) EK_ZERO2(12, 13) EK_ZERO2(14, 15)
#define EK_G2_ZERO EK_ZERO2(16, 17) EK_ZERO2(18, 19) EK_ZERO2(20, 21) EK_ZERO2(22, 23)
#define EK_G0_ROWS EK_ROW(0, 26, 0, 1) EK_ROW(4, 27, 2, 3) EK_ROW(8, 28, 4, 5) EK_ROW(12, 29, 6, 7)
#define EK_G1_ROWS EK_ROW(16, 26, 8, 9) EK_ROW(20, 27, 10, 11) EK_ROW(24, 28, 12, 13) EK_ROW(28, 29, 14, 15)
#define EK_G2_ROWS EK_ROW(32, 26, 16, 17) EK_ROW(36, 27, 18, 19) EK_ROW(40, 28, 20, 21) EK_ROW(44, 29, 22, 23)
#define EK_G0_SAVE EK_SAVE(0, 1, 0, 64) EK_SAVE(2, 3, 128, 192) EK_SAVE(4, 5, 256, 320) EK_SAVE(6, 7, 384, 448)
#define EK_G1_SAVE EK_SAVE(8, 9, 512, 576) EK_SAVE(10, 11, 640, 704) EK_SAVE(12, 13, 768, 832) EK_SAVE(14, 15, 896, 960)
#define EK_G2_SAVE \
    EK_SAVE(16, 17, 1024, 1088) EK_SAVE(18, 19, 1152, 1216) EK_SAVE(20, 21, 1280, 1344) EK_SAVE(22, 23, 1408, 1472)
#define EK_TILE_ASM(ZERO, ROWS, SAVE)                                                                                  \
    __asm__ volatile(ZERO "test %[kc], %[kc]\n\t"                                                                      \
                          "jz 2f\n\t"                                                                                  \
                          "1:\n\t"                                                                                     \
                          "prefetcht0 2048(%[b])\n\t"                                                                  \
                          "prefetcht0 2112(%[b])\n\t"                                                                  \
                          "vmovups (%[b]), %%zmm24\n\t"                                                                \
                          "vmovups 64(%[b]), %%zmm25\n\t" ROWS "add $48, %[a]\n\t"                                     \
                          "add $128, %[b]\n\t"                                                                         \
                          "dec %[kc]\n\t"                                                                              \
                          "jnz 1b\n\t"                                                                                 \
                          "2:\n\t" SAVE                                                                                \
                     : [a] "+r"(ap), [b] "+r"(bp), [kc] "+r"(kc)                                                       \
                     : [acc] "r"(acc)                                                                                  \
                     : "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10",     \
                       "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20",    \
                       "zmm21", "zmm22", "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "memory",   \
                       "cc")

static void kernel_tile(ptrdiff_t kc, const float *ap, const float *bp, float *c, ptrdiff_t ldc, int rows, int cols,
                        float alpha, float beta) {
    float acc[MR * NR] __attribute__((aligned(64)));
    // The tile of C is read (or written) after the k loop: ask for its lines now, so that a C too large for the
    // caches (reread once per block of k) is not waited for at the end.
    for (int r = 0; r < rows; r++) {
        __builtin_prefetch(c + r * ldc, 1, 3);
        __builtin_prefetch(c + r * ldc + 16, 1, 3);
    }
    if (rows > 8) {
        EK_TILE_ASM(EK_G0_ZERO EK_G1_ZERO EK_G2_ZERO, EK_G0_ROWS EK_G1_ROWS EK_G2_ROWS,
                    EK_G0_SAVE EK_G1_SAVE EK_G2_SAVE);
    } else if (rows > 4) {
        EK_TILE_ASM(EK_G0_ZERO EK_G1_ZERO, EK_G0_ROWS EK_G1_ROWS, EK_G0_SAVE EK_G1_SAVE);
    } else {
        EK_TILE_ASM(EK_G0_ZERO, EK_G0_ROWS, EK_G0_SAVE);
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
    for (int r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * NR)), v1 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * NR + 16));
        if (beta == 1.0f) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
        } else if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), v1);
        }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

// The blocked loops. B comes either from (trans_b, b, ldb), packed per block here, or already packed whole by
// ek_sgemm_pack_b (`packed`: panel p of 32 columns at packed + 32 p k, k-major; a block of k starts 32 pc further).
static int gemm_blocked(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                        ptrdiff_t lda, const float *b, ptrdiff_t ldb, const float *packed, float beta, float *c,
                        ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (k <= 0 || alpha == 0.0f) {
        for (ptrdiff_t i = 0; i < m; i++)
            for (ptrdiff_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return 1;
    }
    float *ap = ek_gemm_buffer(&ek_gemm_apack, (size_t)MC * KC);
    float *bp = packed ? 0 : ek_gemm_buffer(&ek_gemm_bpack, (size_t)NC * KC);
    if (!ap || (!packed && !bp)) return 0;
    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            float bet = pc == 0 ? beta : 1.0f;
            if (!packed) pack_b(trans_b, b, ldb, pc, kc, jc, nc, bp);
            for (ptrdiff_t ic = 0; ic < m; ic += MC) {
                ptrdiff_t mc = m - ic < MC ? m - ic : MC;
                pack_a(trans_a, a, lda, ic, mc, pc, kc, ap);
                for (ptrdiff_t jr = 0; jr < nc; jr += NR) {
                    int cols = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *panel = packed ? packed + (jc + jr) * k + pc * NR : bp + jr * kc;
                    for (ptrdiff_t ir = 0; ir < mc; ir += MR) {
                        int rows = (int)(mc - ir < MR ? mc - ir : MR);
                        kernel_tile(kc, ap + ir * kc, panel, c + (ic + ir) * ldc + jc + jr, ldc, rows, cols, alpha, bet);
                    }
                }
            }
        }
    }
    return 1;
}

int ek_sgemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                 ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    if (ek_active_variant() != EK_AVX512) return 0;
    return gemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, beta, c, ldc);
}

ptrdiff_t ek_sgemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n) {
    if (ek_active_variant() != EK_AVX512) return 0;
    return ((n + NR - 1) / NR) * NR * (k > 0 ? k : 1);
}

int ek_sgemm_pack_b(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst) {
    return ek_sgemm_pack_b_panels(trans_b, k, n, b, ldb, dst, 0, (n + NR - 1) / NR);
}

int ek_sgemm_pack_b_panels(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst,
                           ptrdiff_t first, ptrdiff_t end) {
    if (ek_active_variant() != EK_AVX512) return 0;
    for (ptrdiff_t j = first * NR; j < n && j < end * NR; j += NR) {
        ptrdiff_t cols = n - j < NR ? n - j : NR;
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            pack_b(trans_b, b, ldb, pc, kc, j, cols, dst + j * k + pc * NR);
        }
    }
    return 1;
}

int ek_sgemm_f32_packed_b(int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                          ptrdiff_t lda, const float *packed_b, ptrdiff_t col0, float beta, float *c, ptrdiff_t ldc) {
    if (ek_active_variant() != EK_AVX512 || col0 % NR != 0) return 0;
    return gemm_blocked(trans_a, 0, m, n, k, alpha, a, lda, 0, 0, packed_b + col0 * k, beta, c, ldc);
}

#pragma clang attribute pop

#else
int ek_sgemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                 ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
    return 0;
}
ptrdiff_t ek_sgemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n) { return 0; }
int ek_sgemm_pack_b(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst) { return 0; }
int ek_sgemm_pack_b_panels(int trans_b, ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb, float *dst,
                           ptrdiff_t first, ptrdiff_t end) {
    return 0;
}
int ek_sgemm_f32_packed_b(int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                          ptrdiff_t lda, const float *packed_b, ptrdiff_t col0, float beta, float *c, ptrdiff_t ldc) {
    return 0;
}
#endif
