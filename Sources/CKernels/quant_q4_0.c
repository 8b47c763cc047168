/* Q4_0: 32 4-bit values and one f16 scale per block (llama.cpp's layout and rounding), value =
 * scale * (nibble - 8). Payload uint8 [rows, nb*16]: byte j of a block holds value j in its low nibble and
 * value j+16 in its high nibble; scales f16 [rows, nb]. The quantiser, dequantiser, the scalar mat-vec (the
 * reference every path reproduces bit for bit, see quant_internal.h) and the AVX2 mat-vec and multi-row
 * kernels. Dispatch: quant_blocks.c. */
#include "quant_internal.h"

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

int vv_quantize_rows_q4_0(const float *src, size_t rows, size_t cols, uint8_t *q, uint16_t *d) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        for (size_t b = 0; b < nb; b++) {
            float v[QK];
            vv_q_load_block(x, cols, b, v);
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK; j++) {
                if (!isfinite(v[j])) return -1;
                if (amax < fabsf(v[j])) { amax = fabsf(v[j]); max = v[j]; }
            }
            const float dd = max / -8.0f;
            const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
            uint16_t h = vv_f32_to_f16(dd);
            if ((h & 0x7c00u) == 0x7c00u) return -2;  /* scale does not fit in f16 */
            d[r * nb + b] = h;
            uint8_t *qb = q + (r * nb + b) * (QK / 2);
            for (int j = 0; j < QK / 2; j++) {
                int a = (int8_t)(v[j] * id + 8.5f);
                int c = (int8_t)(v[j + QK / 2] * id + 8.5f);
                uint8_t lo = (uint8_t)(a < 15 ? a : 15);
                uint8_t hi = (uint8_t)(c < 15 ? c : 15);
                qb[j] = (uint8_t)(lo | (hi << 4));
            }
        }
    }
    return 0;
}

void vv_dequant_rows_q4_0(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < n; r++) {
        const uint8_t *qr = q + (r0 + r) * nb * (QK / 2);
        const uint16_t *dr = d + (r0 + r) * nb;
        float *out = dst + r * cols;
        for (size_t c = 0; c < cols; c++) {
            size_t b = c / QK, j = c % QK;
            uint8_t byte = qr[b * (QK / 2) + (j % (QK / 2))];
            int nib = j < QK / 2 ? (byte & 0x0f) : (byte >> 4);
            out[c] = vv_f16_to_f32(dr[b]) * (float)(nib - 8);
        }
    }
}

/* Signed value j of a Q4_0 block. */
static inline int q4_value(const uint8_t *block, int j) {
    uint8_t byte = block[j % (QK / 2)];
    return (j < QK / 2 ? (byte & 0x0f) : (byte >> 4)) - 8;
}

/* The reference: eight lanes per row, lane l = values 4l..4l+3 of each block. */
void vv_matvec_q4_0_scalar(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                           float *y, size_t nb, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        float acc[8] = {0};
        const uint8_t *qr = q + r * nb * (QK / 2);
        for (size_t b = 0; b < nb; b++) {
            const float s = vv_f16_to_f32(d[r * nb + b]) * dx[b];
            const uint8_t *w = qr + b * (QK / 2);
            const int8_t *a = qx + b * QK;
            for (int l = 0; l < 8; l++) {
                int sum = 0;
                for (int j = 4 * l; j < 4 * l + 4; j++) sum += q4_value(w, j) * (int)a[j];
                acc[l] = fmaf(s, (float)sum, acc[l]);
            }
        }
        y[r] = vv_hsum8(acc);
    }
}

#ifdef VV_X86
/* The 32 nibbles of a block as unsigned bytes 0..15, in value order. */
VV_AVX2 static inline __m256i q4_nibbles(const uint8_t *qr, size_t b) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(qr + b * (QK / 2)));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

/* -8·(x[4l] + ... + x[4l+3]) per lane l, for n activation blocks: the lanes of Σ(nibble - 8)·x are this plus
 * Σ nibble·x, so the kernels multiply the unsigned nibbles directly (no sign trick, no subtraction of 8 per
 * weight). 15·127·2 fits maddubs's 16-bit pair sums. */
VV_AVX2 static void q4_act_offsets(const int8_t *qx, size_t n, __m256i *out) {
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (size_t b = 0; b < n; b++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(qx + b * QK));
        out[b] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(_mm256_maddubs_epi16(eight, x), ones));
    }
}

/* Offsets for up to this many blocks live on the stack; more take a heap buffer. */
#define Q4_STACK_BLOCKS 768

#define Q_TARGET VV_AVX2
#define Q_NAME(name) name##_avx2
#define Q_DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "quant_q4_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD

#define Q_TARGET VV_AVXVNNI
#define Q_NAME(name) name##_avxvnni
#define Q_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#include "quant_q4_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD

#define Q_TARGET VV_AVX512VNNI
#define Q_NAME(name) name##_avx512vl
#define Q_DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#include "quant_q4_0_simd.inc"
#undef Q_TARGET
#undef Q_NAME
#undef Q_DPBUSD
#endif
