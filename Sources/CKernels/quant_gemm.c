/* Several rows times a Q8_0 weight with integer multiply-adds (the opt-in integer prefill).
 *
 * Each activation row is quantised once to 16-bit integers with one f32 scale per row (dx = max|x| / 32767,
 * round to nearest even). A weight block's 32 int8 values are widened to int16 once per tile and every product
 * block takes two vpmaddwd (16 multiply-adds each, twice an f32 FMA's 8) and one add; the block's integer sum is
 * exact (at most 4 * 32767 * 127 < 2^24 per lane, so its conversion to f32 is exact too) and is scaled by the
 * weight block's f16 scale with one FMA:  y[i, o] = dx[i] * sum_b f16(dw[o, b]) * dot(qw[o, b, :], qx[i, b, :]).
 * With a per-row activation scale no per-pair scale product is needed, and 16 bits keep the activations about
 * 250 times finer than the mat-vec's 8-bit blocks. The weights stay 8-bit: no widened f32 tiles.
 *
 * Register tile: 4 activation rows x 2 weight rows, 8 accumulators of eight lanes; lane l of a block sums values
 * 2l, 2l+1, 16+2l and 17+2l (the vpmaddwd pairs). Activation rows are taken in blocks that stay in L2 while the
 * weight rows stream past. The scalar path repeats the lanes and the reduction order (bit-identical). */
#include "CKernels.h"
#include "fused_internal.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define QK 32
#define TR 4   /* activation rows per tile */
#define TC 2   /* weight rows per tile */

/* ---------------- activation rows to int16 ---------------- */

static float row_scale(const float *x, size_t cols) {
    float amax = 0.0f;
    for (size_t i = 0; i < cols; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax / 32767.0f;
}

#ifdef VV_X86
VV_AVX2 static size_t quantize_row_avx2(const float *x, size_t cols, float id, int16_t *q) {
    const __m256 mul = _mm256_set1_ps(id);
    size_t i = 0;
    for (; i + 16 <= cols; i += 16) {
        __m256i a = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), mul),
                                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i b = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), mul),
                                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* packs interleaves 128-bit lanes: a0-3 b0-3 a4-7 b4-7; permute back to order */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(q + i), p);
    }
    return i;
}
#endif

void vv_quantize_rows_act_i16(const float *x, size_t rows, size_t cols, int16_t *q, float *dx) {
    size_t padded = vv_q_blocks(cols) * QK;
    int simd = vv_fused_simd();
    (void)simd;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        int16_t *qr = q + r * padded;
        const float d = row_scale(xr, cols);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[r] = d;
        size_t i = 0;
#ifdef VV_X86
        if (simd) i = quantize_row_avx2(xr, cols, id, qr);
#endif
        for (; i < cols; i++) qr[i] = (int16_t)nearbyintf(xr[i] * id);
        for (; i < padded; i++) qr[i] = 0;
    }
}

/* ---------------- scalar path ---------------- */

static void tile_scalar(size_t rows, size_t cols, const int16_t *const *qx, const int8_t *const *qw,
                        const float *const *dw, size_t nb, float *const *y, const float *dx, int accumulate) {
    float acc[TR][TC][8];
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            for (int l = 0; l < 8; l++) acc[r][c][l] = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        for (size_t r = 0; r < rows; r++) {
            const int16_t *xb = qx[r] + b * QK;
            for (size_t c = 0; c < cols; c++) {
                const int8_t *wb = qw[c] + b * QK;
                for (int l = 0; l < 8; l++) {
                    int32_t lo = (int32_t)xb[2 * l] * wb[2 * l] + (int32_t)xb[2 * l + 1] * wb[2 * l + 1];
                    int32_t hi = (int32_t)xb[16 + 2 * l] * wb[16 + 2 * l] + (int32_t)xb[17 + 2 * l] * wb[17 + 2 * l];
                    acc[r][c][l] = fmaf((float)(lo + hi), dw[c][b], acc[r][c][l]);
                }
            }
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float v = dx[r] * vv_hsum8(acc[r][c]);
            y[r][c] = accumulate ? y[r][c] + v : v;
        }
}

/* ---------------- AVX2 path ---------------- */
#ifdef VV_X86

#define QG_ROW(r)                                                                                        \
    if (R > r) {                                                                                         \
        __m256i xa = _mm256_loadu_si256((const __m256i *)(qx[r] + b * QK));                              \
        __m256i xb = _mm256_loadu_si256((const __m256i *)(qx[r] + b * QK + 16));                         \
        __m256i d0 = _mm256_add_epi32(_mm256_madd_epi16(xa, w00), _mm256_madd_epi16(xb, w01));           \
        a##r##0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), s0, a##r##0);                                  \
        if (C > 1) {                                                                                     \
            __m256i d1 = _mm256_add_epi32(_mm256_madd_epi16(xa, w10), _mm256_madd_epi16(xb, w11));       \
            a##r##1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), s1, a##r##1);                              \
        }                                                                                                \
    }
#define QG_STORE(dst, v) dst = accumulate ? dst + (v) : (v)
#define QG_OUT(r)                                                     \
    if (R > r) {                                                      \
        QG_STORE(y[r][0], dx[r] * vv_hsum256(a##r##0));               \
        if (C > 1) QG_STORE(y[r][1], dx[r] * vv_hsum256(a##r##1));    \
    }

VV_AVX2 static inline __attribute__((always_inline))
void tile_avx2(const int R, const int C, const int16_t *const *qx, const int8_t *const *qw, const float *const *dw,
               size_t nb, float *const *y, const float *dx, int accumulate) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (size_t b = 0; b < nb; b++) {
        __m256i w00 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qw[0] + b * QK)));
        __m256i w01 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qw[0] + b * QK + 16)));
        __m256i w10 = w00, w11 = w01;
        if (C > 1) {
            w10 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qw[1] + b * QK)));
            w11 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qw[1] + b * QK + 16)));
        }
        __m256 s0 = _mm256_broadcast_ss(dw[0] + b), s1 = C > 1 ? _mm256_broadcast_ss(dw[1] + b) : s0;
        QG_ROW(0) QG_ROW(1) QG_ROW(2) QG_ROW(3)
    }
    QG_OUT(0) QG_OUT(1) QG_OUT(2) QG_OUT(3)
}

VV_AVX2 static void tile_dispatch(size_t rows, size_t cols, const int16_t *const *qx, const int8_t *const *qw,
                                  const float *const *dw, size_t nb, float *const *y, const float *dx, int accumulate) {
    if (cols == 2) {
        switch (rows) {
        case 4: tile_avx2(4, 2, qx, qw, dw, nb, y, dx, accumulate); return;
        case 3: tile_avx2(3, 2, qx, qw, dw, nb, y, dx, accumulate); return;
        case 2: tile_avx2(2, 2, qx, qw, dw, nb, y, dx, accumulate); return;
        default: tile_avx2(1, 2, qx, qw, dw, nb, y, dx, accumulate); return;
        }
    }
    switch (rows) {
    case 4: tile_avx2(4, 1, qx, qw, dw, nb, y, dx, accumulate); return;
    case 3: tile_avx2(3, 1, qx, qw, dw, nb, y, dx, accumulate); return;
    case 2: tile_avx2(2, 1, qx, qw, dw, nb, y, dx, accumulate); return;
    default: tile_avx2(1, 1, qx, qw, dw, nb, y, dx, accumulate); return;
    }
}
#endif

/* TC rows of f32 scales, then (x8 layout) TC rows of payload and of f16 scales copied out of the layout. */
size_t vv_gemm_q8_0_scratch_floats(size_t nb) { return TC * nb + TC * nb * QK / 4 + (TC * nb + 1) / 2; }

/* Row r of an x8-layout Q8_0 weight (vv_q8_0_interleave8) as a plain row: payload nb*32, scales nb. */
static void x8_row(const int8_t *qw, const uint16_t *dw, size_t nb, size_t r, int8_t *q, uint16_t *d) {
    const size_t g = r / 8, i = r % 8;
    for (size_t b = 0; b < nb; b++) {
        const int8_t *blk = qw + (g * nb + b) * 8 * QK;
        for (int c = 0; c < 8; c++) memcpy(q + b * QK + 4 * c, blk + 32 * c + 4 * i, 4);
        d[b] = dw[(g * nb + b) * 8 + i];
    }
}

void vv_gemm_q8_0(const int16_t *qx, const float *dx, size_t m, const int8_t *qw, const uint16_t *dw, size_t nb,
                  size_t o0, size_t o1, float *y, size_t ldy, int accumulate, int x8, float *scratch) {
    if (m == 0 || o1 <= o0) return;
    int simd = vv_fused_simd();
    /* Activation rows per block: about 192 KB stays in L2 while the weight rows stream past. */
    size_t mb = (192 * 1024) / (nb * QK * sizeof(int16_t));
    mb = mb < TR ? TR : mb / TR * TR;
    float *dwf[TC] = {scratch, scratch + nb};
    int8_t *rowq = (int8_t *)(scratch + TC * nb);
    uint16_t *rowd = (uint16_t *)(rowq + TC * nb * QK);
    for (size_t i0 = 0; i0 < m; i0 += mb) {
        size_t i1 = i0 + mb < m ? i0 + mb : m;
        for (size_t o = o0; o < o1; o += TC) {
            size_t cols = o1 - o < TC ? o1 - o : TC;
            const int8_t *qwr[TC];
            for (size_t c = 0; c < cols; c++) {
                if (x8) {
                    x8_row(qw, dw, nb, o + c, rowq + c * nb * QK, rowd + c * nb);
                    qwr[c] = rowq + c * nb * QK;
                    vv_widen_f16(rowd + c * nb, dwf[c], nb);
                } else {
                    qwr[c] = qw + (o + c) * nb * QK;
                    vv_widen_f16(dw + (o + c) * nb, dwf[c], nb);
                }
            }
            for (size_t i = i0; i < i1; i += TR) {
                size_t rows = i1 - i < TR ? i1 - i : TR;
                const int16_t *qxr[TR];
                float *yr[TR];
                for (size_t r = 0; r < rows; r++) {
                    qxr[r] = qx + (i + r) * nb * QK;
                    yr[r] = y + (i + r) * ldy + o;
                }
#ifdef VV_X86
                if (simd) {
                    tile_dispatch(rows, cols, qxr, qwr, (const float *const *)dwf, nb, yr, dx + i, accumulate);
                    continue;
                }
#endif
                tile_scalar(rows, cols, qxr, qwr, (const float *const *)dwf, nb, yr, dx + i, accumulate);
            }
        }
    }
    (void)simd;
}
