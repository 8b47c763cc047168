/* Block-quantised weights: Q8_0 and Q4_0 (32 values per block, one f16 scale per block; the layouts
 * and rounding of llama.cpp's formats of the same names, so the same weights quantise to the same bits).
 *
 * A row of `cols` values is nb = ceil(cols / 32) blocks; the last block is zero-padded. Payload and
 * scales are separate planes: Q8_0 payload int8 [rows, nb*32], Q4_0 payload uint8 [rows, nb*16] where
 * byte j of a block holds value j in its low nibble and value j+16 in its high nibble, stored as q+8;
 * scales f16 [rows, nb]. Value = scale * q (Q8_0) or scale * (nibble - 8) (Q4_0).
 *
 * Mat-vec quantises the activation once to Q8 blocks (int8 with an f32 scale per block) and uses
 * integer multiply-adds. Every path gives bit-identical results: the scalar path reproduces the AVX2
 * path's eight float lanes (lane l holds the integer dot product of values 4l..4l+3 of each block,
 * accumulated with fused multiply-adds) and its final reduction order. */
#include "CKernels.h"
#include "kernels_internal.h"

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

#define QK 32
#define VV_ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static int force_scalar = 0;
void vv_set_force_scalar(int on) { force_scalar = on; }
static inline int use_simd(void) { return !force_scalar && vv_cpu_has_avx2(); }

size_t vv_q_blocks(size_t cols) { return (cols + QK - 1) / QK; }

/* ---------------- weight quantisation (llama.cpp's reference rounding) ---------------- */

/* One padded block of 32 values from row x (cols long), block b. */
static inline void load_block(const float *x, size_t cols, size_t b, float out[QK]) {
    size_t base = b * QK;
    for (int j = 0; j < QK; j++) out[j] = base + j < cols ? x[base + j] : 0.0f;
}

int vv_quantize_rows_q8_0(const float *src, size_t rows, size_t cols, int8_t *q, uint16_t *d) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        for (size_t b = 0; b < nb; b++) {
            float v[QK];
            load_block(x, cols, b, v);
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

int vv_quantize_rows_q4_0(const float *src, size_t rows, size_t cols, uint8_t *q, uint16_t *d) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        for (size_t b = 0; b < nb; b++) {
            float v[QK];
            load_block(x, cols, b, v);
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK; j++) {
                if (!isfinite(v[j])) return -1;
                if (amax < fabsf(v[j])) { amax = fabsf(v[j]); max = v[j]; }
            }
            const float dd = max / -8.0f;
            const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
            uint16_t h = vv_f32_to_f16(dd);
            if ((h & 0x7c00u) == 0x7c00u) return -2;
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

/* ---------------- dequantisation (tiles for sgemm, embedding rows) ---------------- */

void vv_dequant_rows_q8_0(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
    size_t nb = vv_q_blocks(cols);
    for (size_t r = 0; r < n; r++) {
        const int8_t *qr = q + (r0 + r) * nb * QK;
        const uint16_t *dr = d + (r0 + r) * nb;
        float *out = dst + r * cols;
        for (size_t c = 0; c < cols; c++) out[c] = vv_f16_to_f32(dr[c / QK]) * (float)qr[c];
    }
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

/* ---------------- activation quantisation ---------------- */

/* Scalar block: the reference for the AVX2 path (same operations, same rounding: nearest-even). */
static void quantize_act_block_scalar(const float v[QK], int8_t *qx, float *dx) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(v[j]));
    const float dd = amax / 127.0f;
    const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
    *dx = dd;
    for (int j = 0; j < QK; j++) qx[j] = (int8_t)nearbyintf(v[j] * id);
}

#ifdef VV_X86
VV_AVX2 static void quantize_act_avx2(const float *x, size_t full, int8_t *qx, float *dx) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t b = 0; b < full; b++) {
        const float *p = x + b * QK;
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
        __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float dd = amax / 127.0f;
        const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
        dx[b] = dd;
        const __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), VV_ROUND_NEAREST));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), VV_ROUND_NEAREST));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), VV_ROUND_NEAREST));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), VV_ROUND_NEAREST));
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        _mm256_storeu_si256((__m256i *)(qx + b * QK), _mm256_permutevar8x32_epi32(i0, perm));
    }
}
#endif

void vv_quantize_act_q8(const float *x, size_t cols, int8_t *qx, float *dx) {
    size_t nb = vv_q_blocks(cols);
    size_t full = cols / QK;
    size_t b = 0;
#ifdef VV_X86
    if (use_simd()) { quantize_act_avx2(x, full, qx, dx); b = full; }
#endif
    for (; b < nb; b++) {
        float v[QK];
        load_block(x, cols, b, v);
        quantize_act_block_scalar(v, qx + b * QK, dx + b);
    }
}

/* ---------------- mat-vec ---------------- */

/* Signed value j of block b of a Q4_0 row. */
static inline int q4_value(const uint8_t *block, int j) {
    uint8_t byte = block[j % (QK / 2)];
    return (j < QK / 2 ? (byte & 0x0f) : (byte >> 4)) - 8;
}

/* Scalar twins of the AVX2 kernels: eight lanes per row, lane l = values 4l..4l+3 of each block. */
static void matvec_q8_0_scalar(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
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

static void matvec_q4_0_scalar(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
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
/* Eight int32 lanes of w·x (lane l: bytes 4l..4l+3), as floats. w is in [-127, 127] or [-8, 7], so
 * the pairwise 16-bit sums of maddubs cannot saturate. */
VV_AVX2 static inline __m256 dot_i8_lanes(__m256i w, __m256i x) {
    const __m256i aw = _mm256_sign_epi8(w, w);
    const __m256i sx = _mm256_sign_epi8(x, w);
    const __m256i d16 = _mm256_maddubs_epi16(aw, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(d16, _mm256_set1_epi16(1)));
}

VV_AVX2 static inline __m256i load_q4(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    v = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

VV_AVX2 static inline __m256i load_q8(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

#define VV_QMATVEC_AVX2(NAME, T, BLOCK_BYTES, LOAD)                                                     \
VV_AVX2 static void NAME(const T *q, const uint16_t *d, const int8_t *qx, const float *dx,             \
                         float *y, size_t nb, size_t r0, size_t r1) {                                 \
    const size_t stride = nb * (BLOCK_BYTES);                                                         \
    size_t r = r0;                                                                                    \
    for (; r + 4 <= r1; r += 4) {                                                                     \
        const T *qa = q + r * stride, *qb = qa + stride, *qc = qb + stride, *qd = qc + stride;        \
        const uint16_t *da = d + r * nb, *db = da + nb, *dc = db + nb, *dd = dc + nb;                 \
        __m256 aa = _mm256_setzero_ps(), ab = _mm256_setzero_ps();                                    \
        __m256 ac = _mm256_setzero_ps(), ad = _mm256_setzero_ps();                                    \
        for (size_t b = 0; b < nb; b++) {                                                             \
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + b * QK));                    \
            const float s = dx[b];                                                                    \
            aa = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(da[b]) * s),                                \
                                 dot_i8_lanes(LOAD(qa + b * (BLOCK_BYTES)), xv), aa);                 \
            ab = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(db[b]) * s),                                \
                                 dot_i8_lanes(LOAD(qb + b * (BLOCK_BYTES)), xv), ab);                 \
            ac = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dc[b]) * s),                                \
                                 dot_i8_lanes(LOAD(qc + b * (BLOCK_BYTES)), xv), ac);                 \
            ad = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dd[b]) * s),                                \
                                 dot_i8_lanes(LOAD(qd + b * (BLOCK_BYTES)), xv), ad);                 \
        }                                                                                             \
        y[r] = vv_hsum256(aa); y[r + 1] = vv_hsum256(ab);                                             \
        y[r + 2] = vv_hsum256(ac); y[r + 3] = vv_hsum256(ad);                                         \
    }                                                                                                 \
    for (; r < r1; r++) {                                                                             \
        const T *qa = q + r * stride;                                                                 \
        const uint16_t *da = d + r * nb;                                                              \
        __m256 aa = _mm256_setzero_ps();                                                              \
        for (size_t b = 0; b < nb; b++) {                                                             \
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + b * QK));                    \
            aa = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(da[b]) * dx[b]),                            \
                                 dot_i8_lanes(LOAD(qa + b * (BLOCK_BYTES)), xv), aa);                 \
        }                                                                                             \
        y[r] = vv_hsum256(aa);                                                                        \
    }                                                                                                 \
}

VV_QMATVEC_AVX2(matvec_q8_0_avx2, int8_t, QK, load_q8)
VV_QMATVEC_AVX2(matvec_q4_0_avx2, uint8_t, QK / 2, load_q4)

/* One weight row against J <= 4 activation rows: the weight block is loaded and its magnitudes taken once,
 * then each activation row goes through the one-row kernel's arithmetic (same lanes, same fused
 * multiply-adds in block order, same reduction), so each output equals vv_matvec_* of that row bit for bit. */
#define VV_QMATMUL_GROUP_AVX2(NAME, T, BLOCK_BYTES, LOAD)                                               \
VV_AVX2 static inline __attribute__((always_inline)) void NAME(const T *qr, const uint16_t *dr,          \
        const int8_t *qx, const float *dx, float *y, size_t ldy, size_t nb, const int J) {               \
    __m256 acc[4];                                                                                    \
    for (int j = 0; j < J; j++) acc[j] = _mm256_setzero_ps();                                         \
    for (size_t b = 0; b < nb; b++) {                                                                 \
        const __m256i w = LOAD(qr + b * (BLOCK_BYTES));                                               \
        const __m256i aw = _mm256_sign_epi8(w, w);                                                    \
        const float dw = _cvtsh_ss(dr[b]);                                                            \
        for (int j = 0; j < J; j++) {                                                                 \
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + (j * nb + b) * QK));        \
            const __m256i d16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w));                    \
            const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(d16, _mm256_set1_epi16(1)));      \
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[j * nb + b]), dot, acc[j]);               \
        }                                                                                             \
    }                                                                                                 \
    for (int j = 0; j < J; j++) y[j * ldy] = vv_hsum256(acc[j]);                                       \
}

#define VV_QMATMUL_AVX2(NAME, GROUP, T, BLOCK_BYTES)                                                   \
VV_AVX2 static void NAME(const T *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,  \
                         float *y, size_t ldy, size_t nb, size_t r0, size_t r1) {                     \
    for (size_t r = r0; r < r1; r++) {                                                                \
        const T *qr = q + r * nb * (BLOCK_BYTES);                                                     \
        const uint16_t *dr = d + r * nb;                                                              \
        for (size_t j0 = 0; j0 < m; j0 += 4) {                                                        \
            const int8_t *xj = qx + j0 * nb * QK;                                                     \
            const float *sj = dx + j0 * nb;                                                           \
            float *yj = y + j0 * ldy + r;                                                             \
            switch (m - j0 >= 4 ? 4 : (int)(m - j0)) {                                                \
            case 4: GROUP(qr, dr, xj, sj, yj, ldy, nb, 4); break;                                     \
            case 3: GROUP(qr, dr, xj, sj, yj, ldy, nb, 3); break;                                     \
            case 2: GROUP(qr, dr, xj, sj, yj, ldy, nb, 2); break;                                     \
            default: GROUP(qr, dr, xj, sj, yj, ldy, nb, 1); break;                                    \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
}

VV_QMATMUL_GROUP_AVX2(qmatmul_group_q8_0, int8_t, QK, load_q8)
VV_QMATMUL_GROUP_AVX2(qmatmul_group_q4_0, uint8_t, QK / 2, load_q4)
VV_QMATMUL_AVX2(matmul_q8_0_avx2, qmatmul_group_q8_0, int8_t, QK)
VV_QMATMUL_AVX2(matmul_q4_0_avx2, qmatmul_group_q4_0, uint8_t, QK / 2)
#endif

void vv_matvec_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    if (use_simd()) { matvec_q8_0_avx2(q, d, qx, dx, y, nb, r0, r1); return; }
#endif
    matvec_q8_0_scalar(q, d, qx, dx, y, nb, r0, r1);
}

void vv_matvec_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    if (use_simd()) { matvec_q4_0_avx2(q, d, qx, dx, y, nb, r0, r1); return; }
#endif
    matvec_q4_0_scalar(q, d, qx, dx, y, nb, r0, r1);
}

void vv_matmul_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    if (use_simd()) { matmul_q8_0_avx2(q, d, qx, dx, m, y, ldy, nb, r0, r1); return; }
#endif
    for (size_t j = 0; j < m; j++) matvec_q8_0_scalar(q, d, qx + j * nb * QK, dx + j * nb, y + j * ldy, nb, r0, r1);
}

void vv_matmul_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    if (use_simd()) { matmul_q4_0_avx2(q, d, qx, dx, m, y, ldy, nb, r0, r1); return; }
#endif
    for (size_t j = 0; j < m; j++) matvec_q4_0_scalar(q, d, qx + j * nb * QK, dx + j * nb, y + j * ldy, nb, r0, r1);
}
