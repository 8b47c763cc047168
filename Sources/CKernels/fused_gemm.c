/* A small f32 GEMM over weights packed in panels of 16 outputs, with the element-wise work that follows a layer
 * fused into its last step (bias, exact GELU, layer scale plus residual), so the output is written once while it is
 * still in registers. It is for the shapes where a general BLAS spends much of its time packing or waiting: the speech
 * encoders' feed-forwards and convolutions with 32 to 512 channels (K up to about 2048), tens of thousands of rows.
 *
 * Register tile: 6 rows x 16 outputs (12 accumulators). Row blocks are sized so a block of A stays in L2 while each
 * weight panel (K x 16) is swept over it. Rows of A may overlap (lda < k): a causal convolution's taps are then
 * consecutive input rows, read in place without an im2col copy.
 *
 * Each output lane is one sequential chain of fused multiply-adds over k, so the scalar path (used when the CPU has
 * no AVX2, or when forced for tests) gives bit-identical results. */
#include "CKernels.h"
#include "fused_internal.h"

#pragma STDC FP_CONTRACT OFF

#define PANEL 16
#define TILE_ROWS 6

size_t vv_packed_panels(size_t n) { return (n + PANEL - 1) / PANEL; }

void vv_pack_panels_f32(const float *w, size_t n, size_t k, size_t ldw, float *packed) {
    size_t np = vv_packed_panels(n);
    for (size_t p = 0; p < np; p++) {
        float *dst = packed + p * k * PANEL;
        for (size_t kk = 0; kk < k; kk++) {
            for (size_t j = 0; j < PANEL; j++) {
                size_t o = p * PANEL + j;
                dst[kk * PANEL + j] = o < n ? w[o * ldw + kk] : 0.0f;
            }
        }
    }
}

/* ---------------- scalar path ---------------- */

static void epilogue_scalar(const float *acc, float *c, size_t nv, int epi, const float *bias, const float *scale) {
    for (size_t j = 0; j < nv; j++) {
        float v = acc[j];
        if (epi != VV_EPI_STORE) v = v + bias[j];
        if (epi == VV_EPI_BIAS_GELU) v = vv_gelu_scalar(v);
        if (epi == VV_EPI_BIAS_SCALE_ADD) v = fmaf(scale[j], v, c[j]);
        c[j] = v;
    }
}

static void micro_scalar(size_t rows, const float *a, size_t lda, const float *b, size_t k, float *c, size_t ldc,
                         size_t nv, int epi, const float *bias, const float *scale) {
    float acc[TILE_ROWS][PANEL];
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < PANEL; j++) acc[r][j] = 0.0f;
    for (size_t kk = 0; kk < k; kk++) {
        const float *bk = b + kk * PANEL;
        for (size_t r = 0; r < rows; r++) {
            float av = a[r * lda + kk];
            for (size_t j = 0; j < PANEL; j++) acc[r][j] = fmaf(av, bk[j], acc[r][j]);
        }
    }
    for (size_t r = 0; r < rows; r++) epilogue_scalar(acc[r], c + r * ldc, nv, epi, bias, scale);
}

/* ---------------- AVX2 path ---------------- */
#ifdef VV_X86

VV_AVX2 static inline __attribute__((always_inline))
void epilogue_avx2(__m256 v0, __m256 v1, float *c, size_t nv, int epi, const float *bias, const float *scale) {
    if (epi != VV_EPI_STORE) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(bias));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(bias + 8));
    }
    if (epi == VV_EPI_BIAS_GELU) {
        v0 = vv_gelu8(v0);
        v1 = vv_gelu8(v1);
    }
    if (nv == PANEL) {
        if (epi == VV_EPI_BIAS_SCALE_ADD) {
            v0 = _mm256_fmadd_ps(_mm256_loadu_ps(scale), v0, _mm256_loadu_ps(c));
            v1 = _mm256_fmadd_ps(_mm256_loadu_ps(scale + 8), v1, _mm256_loadu_ps(c + 8));
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        return;
    }
    __m256i m0 = vv_lane_mask(nv < 8 ? nv : 8), m1 = vv_lane_mask(nv > 8 ? nv - 8 : 0);
    if (epi == VV_EPI_BIAS_SCALE_ADD) {
        v0 = _mm256_fmadd_ps(_mm256_loadu_ps(scale), v0, _mm256_maskload_ps(c, m0));
        v1 = _mm256_fmadd_ps(_mm256_loadu_ps(scale + 8), v1, _mm256_maskload_ps(c + 8, m1));
    }
    _mm256_maskstore_ps(c, m0, v0);
    _mm256_maskstore_ps(c + 8, m1, v1);
}

#define VV_ROW_FMA(r)                                                        \
    if (R > r) {                                                             \
        __m256 av = _mm256_broadcast_ss(a + (r) * lda + kk);                 \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);                          \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);                          \
    }
#define VV_ROW_EPI(r) \
    if (R > r) epilogue_avx2(c##r##0, c##r##1, c + (r) * ldc, nv, epi, bias, scale);

VV_AVX2 static inline __attribute__((always_inline))
void micro_avx2(const int R, const float *a, size_t lda, const float *b, size_t k, float *c, size_t ldc,
                size_t nv, int epi, const float *bias, const float *scale) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t kk = 0; kk < k; kk++) {
        __m256 b0 = _mm256_loadu_ps(b + kk * PANEL), b1 = _mm256_loadu_ps(b + kk * PANEL + 8);
        VV_ROW_FMA(0) VV_ROW_FMA(1) VV_ROW_FMA(2) VV_ROW_FMA(3) VV_ROW_FMA(4) VV_ROW_FMA(5)
    }
    VV_ROW_EPI(0) VV_ROW_EPI(1) VV_ROW_EPI(2) VV_ROW_EPI(3) VV_ROW_EPI(4) VV_ROW_EPI(5)
}

VV_AVX2 static void micro_dispatch_avx2(size_t rows, const float *a, size_t lda, const float *b, size_t k, float *c,
                                        size_t ldc, size_t nv, int epi, const float *bias, const float *scale) {
    switch (rows) {
    case 6: micro_avx2(6, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    case 5: micro_avx2(5, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    case 4: micro_avx2(4, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    case 3: micro_avx2(3, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    case 2: micro_avx2(2, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    default: micro_avx2(1, a, lda, b, k, c, ldc, nv, epi, bias, scale); break;
    }
}
#endif

void vv_gemm_packed_f32(const float *a, size_t lda, size_t m, size_t k, const float *packed, size_t n,
                        float *c, size_t ldc, int epi, const float *bias, const float *scale) {
    if (m == 0 || n == 0) return;
    size_t np = vv_packed_panels(n);
    /* A row block of about 96 KB stays in L2 while the panels sweep over it. */
    size_t block = (96 * 1024) / (4 * (k ? k : 1));
    block = block / TILE_ROWS * TILE_ROWS;
    if (block < TILE_ROWS) block = TILE_ROWS;
    if (block > 16 * TILE_ROWS) block = 16 * TILE_ROWS;
    int simd = vv_fused_simd();
    for (size_t i0 = 0; i0 < m; i0 += block) {
        size_t i1 = i0 + block < m ? i0 + block : m;
        for (size_t p = 0; p < np; p++) {
            size_t j0 = p * PANEL;
            size_t nv = n - j0 < PANEL ? n - j0 : PANEL;
            const float *bp = packed + p * k * PANEL;
            const float *bb = bias ? bias + j0 : NULL, *ss = scale ? scale + j0 : NULL;
            for (size_t i = i0; i < i1; i += TILE_ROWS) {
                size_t rows = i1 - i < TILE_ROWS ? i1 - i : TILE_ROWS;
#ifdef VV_X86
                if (simd) {
                    micro_dispatch_avx2(rows, a + i * lda, lda, bp, k, c + i * ldc + j0, ldc, nv, epi, bb, ss);
                    continue;
                }
#endif
                micro_scalar(rows, a + i * lda, lda, bp, k, c + i * ldc + j0, ldc, nv, epi, bb, ss);
            }
        }
    }
    (void)simd;
}
