/* Q8_0: 32 int8 values and one f16 scale per block (llama.cpp's layout and rounding), value = scale * q.
 * Payload int8 [rows, nb*32], scales f16 [rows, nb]. The quantiser, dequantiser, the scalar mat-vec (the
 * reference every path reproduces bit for bit, see quant_internal.h) and the AVX2 mat-vec and multi-row
 * kernels. Dispatch: quant_blocks.c. */
#include "quant_internal.h"

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

int vv_quantize_rows_q8_0(const float *src, size_t rows, size_t cols, int8_t *q, uint16_t *d) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        for (size_t b = 0; b < nb; b++) {
            float v[QK];
            vv_q_load_block(x, cols, b, v);
            float amax = 0.0f;
            for (int j = 0; j < QK; j++) {
                if (!isfinite(v[j])) return -1;
                amax = fmaxf(amax, fabsf(v[j]));
            }
            const float dd = amax / 127.0f;
            const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
            uint16_t h = vv_f32_to_f16(dd);
            if ((h & 0x7c00u) == 0x7c00u) return -2;  /* scale does not fit in f16 */
            d[r * nb + b] = h;
            int8_t *qb = q + (r * nb + b) * QK;
            for (int j = 0; j < QK; j++) qb[j] = (int8_t)roundf(v[j] * id);
        }
    }
    return 0;
}

static void dequant_q8_0_scalar(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst,
                                size_t c0) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < n; r++) {
        const int8_t *qr = q + (r0 + r) * nb * QK;
        const uint16_t *dr = d + (r0 + r) * nb;
        float *out = dst + r * cols;
        for (size_t c = c0; c < cols; c++) out[c] = vv_f16_to_f32(dr[c / QK]) * (float)qr[c];
    }
}

#ifdef VV_X86
/* The same products as the scalar path, a block of 32 columns at a time; a partial last block goes to it. */
VV_AVX2 static void dequant_q8_0_avx2(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
    const size_t nb = vv_q_blocks(cols), full = cols / QK;
    for (size_t r = 0; r < n; r++) {
        const int8_t *qr = q + (r0 + r) * nb * QK;
        const uint16_t *dr = d + (r0 + r) * nb;
        float *out = dst + r * cols;
        for (size_t b = 0; b < full; b++) {
            const __m256 sc = _mm256_set1_ps(vv_f16_to_f32(dr[b]));
            for (int k = 0; k < 4; k++) {
                const __m128i v = _mm_loadl_epi64((const __m128i *)(qr + b * QK + 8 * k));
                _mm256_storeu_ps(out + b * QK + 8 * k, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
            }
        }
        if (full * QK < cols) dequant_q8_0_scalar(q, d, cols, r0 + r, 1, out, full * QK);
    }
}
#endif

void vv_dequant_rows_q8_0(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
#ifdef VV_X86
    if (vv_quant_level() >= VV_QUANT_AVX2) { dequant_q8_0_avx2(q, d, cols, r0, n, dst); return; }
#endif
    dequant_q8_0_scalar(q, d, cols, r0, n, dst, 0);
}

/* The reference: eight lanes per row, lane l = values 4l..4l+3 of each block. */
void vv_matvec_q8_0_scalar(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                           float *y, size_t nb, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        float acc[8] = {0};
        const int8_t *qr = q + r * nb * QK;
        for (size_t b = 0; b < nb; b++) {
            const float s = vv_f16_to_f32(d[r * nb + b]) * dx[b];
            const int8_t *w = qr + b * QK, *a = qx + b * QK;
            for (int l = 0; l < 8; l++) {
                int sum = 0;
                for (int j = 4 * l; j < 4 * l + 4; j++) sum += (int)w[j] * (int)a[j];
                acc[l] = fmaf(s, (float)sum, acc[l]);
            }
        }
        y[r] = vv_hsum8(acc);
    }
}

#ifdef VV_X86
static inline const __m256i *q8_block(const int8_t *p, size_t b) { return (const __m256i *)(p + b * QK); }

#define Q_TARGET VV_AVX2
#define Q_NAME(name) name##_avx2
#define Q_DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "quant_q8_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD

#define Q_TARGET VV_AVXVNNI
#define Q_NAME(name) name##_avxvnni
#define Q_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#include "quant_q8_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD

#define Q_TARGET VV_AVX512VNNI
#define Q_NAME(name) name##_avx512vl
#define Q_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#include "quant_q8_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD
#endif
