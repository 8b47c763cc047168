/* Q8_0 in the decode layout "x8": the same blocks, 8 rows interleaved (as Q4_0's x8 in quant_q4_0x8.c), so that
 * the payload of 8 rows is one sequential stream and each loaded activation value serves 8 rows. Made in memory
 * from plain Q8_0 (vv_q8_0_interleave8) for the decoder's matrices; never written to disk.
 *
 * Layout: rows are padded to groups of 8 (padding rows have zero payload and zero scales). Group g, block b:
 *   payload: 256 bytes at q + (g*nb + b)*256; chunk c (0..7) is 32 bytes: for row i (0..7) the 4 values
 *            4c..4c+3 of row 8g+i's block b;
 *   scales:  8 f16 at d + (g*nb + b)*8, row i's scale at i.
 *
 * The arithmetic every path reproduces, per output row r (that of the Q4_0 x8 layout): acc = 0; for each block b
 * in order, acc = fmaf(f16(d[r,b]) * dx[b], (float)s_b, acc) where s_b is the exact integer dot product of the
 * block's 32 values with qx's block; y[r] = acc. */
#include "quant_internal.h"
#include <string.h>

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

#define G 8
#define BLOCK_BYTES (G * QK)

/* Group by group, four bytes at a time: the source is read row by row (each row of a group sequentially), the
 * output written in order. */
void vv_q8_0_interleave8(const int8_t *q, const uint16_t *d, size_t rows, size_t nb, int8_t *qo, uint16_t *dout) {
    const size_t groups = vv_q4_0x8_groups(rows);
    for (size_t g = 0; g < groups; g++) {
        int8_t *og = qo + g * nb * BLOCK_BYTES;
        uint16_t *dg = dout + g * nb * G;
        for (int i = 0; i < G; i++) {
            const size_t r = g * G + (size_t)i;
            if (r >= rows) {
                for (size_t b = 0; b < nb; b++) {
                    dg[b * G + i] = 0;
                    for (int c = 0; c < 8; c++) memset(og + b * BLOCK_BYTES + c * 32 + i * 4, 0, 4);
                }
                continue;
            }
            const int8_t *src = q + r * nb * QK;
            for (size_t b = 0; b < nb; b++) {
                dg[b * G + i] = d[r * nb + b];
                for (int c = 0; c < 8; c++) memcpy(og + b * BLOCK_BYTES + c * 32 + i * 4, src + b * QK + 4 * c, 4);
            }
        }
    }
}

/* Value j (0..31) of row i's block at blk. */
static inline int8_t x8_value(const int8_t *blk, int i, int j) { return blk[(j / 4) * 32 + i * 4 + (j % 4)]; }

static void dequant_x8_scalar(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst,
                              size_t c0) {
    const size_t nb = vv_q_blocks(cols);
    for (size_t k = 0; k < n; k++) {
        const size_t r = r0 + k, g = r / G;
        const int i = (int)(r % G);
        float *out = dst + k * cols;
        for (size_t c = c0; c < cols; c++) {
            const size_t b = c / QK;
            const int8_t *blk = q + (g * nb + b) * BLOCK_BYTES;
            out[c] = vv_f16_to_f32(d[(g * nb + b) * G + i]) * (float)x8_value(blk, i, (int)(c % QK));
        }
    }
}

#ifdef VV_X86

/* The same products as the scalar path, a block of 32 columns at a time; a partial last block goes to the
 * scalar path. */
VV_AVX2 static void dequant_x8_avx2(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
    const size_t nb = vv_q_blocks(cols), full = cols / QK;
    for (size_t k = 0; k < n; k++) {
        const size_t r = r0 + k, g = r / G;
        const int i = (int)(r % G);
        const int8_t *qg = q + g * nb * BLOCK_BYTES + (size_t)i * 4;
        const uint16_t *dg = d + g * nb * G + i;
        float *out = dst + k * cols;
        for (size_t b = 0; b < full; b++) {
            const int8_t *blk = qg + b * BLOCK_BYTES;
            const __m256 sc = _mm256_set1_ps(vv_f16_to_f32(dg[b * G]));
            for (int h = 0; h < 4; h++) {
                const __m128i v = _mm_setr_epi32(vv_load4(blk + 64 * h), vv_load4(blk + 64 * h + 32), 0, 0);
                _mm256_storeu_ps(out + b * QK + 8 * h, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
            }
        }
        if (full * QK < cols) dequant_x8_scalar(q, d, cols, r, 1, out, full * QK);
    }
}
#endif

void vv_dequant_rows_q8_0x8(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
#ifdef VV_X86
    if (vv_quant_level() >= VV_QUANT_AVX2) { dequant_x8_avx2(q, d, cols, r0, n, dst); return; }
#endif
    dequant_x8_scalar(q, d, cols, r0, n, dst, 0);
}

/* The reference. */
static void matvec_x8_scalar(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, float *y,
                             size_t nb, size_t rows, size_t g0, size_t g1) {
    for (size_t g = g0; g < g1; g++) {
        for (int i = 0; i < G; i++) {
            const size_t r = g * G + (size_t)i;
            if (r >= rows) break;
            float acc = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                const int8_t *blk = q + (g * nb + b) * BLOCK_BYTES;
                const int8_t *a = qx + b * QK;
                int sum = 0;
                for (int j = 0; j < QK; j++) sum += (int)x8_value(blk, i, j) * (int)a[j];
                acc = fmaf(vv_f16_to_f32(d[(g * nb + b) * G + i]) * dx[b], (float)sum, acc);
            }
            y[r] = acc;
        }
    }
}

#ifdef VV_X86
/* The 8 rows' exact integer dot products of one block with activation block x, 8 int32 lanes. AVX2: the sign
 * trick (|w| times x with w's sign) through maddubs + madd; with VNNI: each weight byte w becomes w + 128 by XOR
 * and the sum starts from off = -128·Σx (exact, as in quant_q8_0_avx512.c). */
VV_AVX2 static inline __m256i x8_dot_avx2(const int8_t *blk, const int8_t *x, int32_t off) {
    (void)off;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 32 * c));
        const __m256i xv = _mm256_set1_epi32(vv_load4(x + 4 * c));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w)), ones));
    }
    return s;
}

#define X8_DOT_VNNI(ISA, TARGET, DPBUSD)                                                                          \
TARGET static inline __m256i x8_dot_##ISA(const int8_t *blk, const int8_t *x, int32_t off) {                    \
    const __m256i m80 = _mm256_set1_epi8((char)0x80);                                                             \
    __m256i s = _mm256_set1_epi32(off);                                                                           \
    for (int c = 0; c < 8; c++) {                                                                                 \
        const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 32 * c)), m80);             \
        s = DPBUSD(s, u, _mm256_set1_epi32(vv_load4(x + 4 * c)));                                                 \
    }                                                                                                             \
    return s;                                                                                                     \
}
X8_DOT_VNNI(avxvnni, VV_AVXVNNI, _mm256_dpbusd_avx_epi32)
X8_DOT_VNNI(avx512vl, VV_AVX512VNNI, _mm256_dpbusd_epi32)

/* -128·Σx of each activation block (exact). */
static inline int32_t x8_offset(const int8_t *x) {
    int32_t s = 0;
    for (int j = 0; j < QK; j++) s += x[j];
    return -128 * s;
}


/* Software prefetch of the payload this many blocks ahead (8 KB; a hint only, it never faults past the end),
 * into L2, not L1: an L1 prefetch holds one of the core's few L1 miss slots for the whole trip from memory, and
 * the many-row tiles' loads then wait behind them. On the 2-core AMD EPYC host, 131072x3584 (470 MB), 2 threads,
 * best of 8 alternated runs, twice: 1 row 15.9-16.0 ms with T1 at 32 blocks against 17.7 ms with T0 at 16
 * (16.5-16.7 ms without any prefetch); 8 rows 18.8-19.1 ms against 24.4-24.5 ms (48 ms without). T1 at 16-48
 * blocks were within 3% of each other. */
#define X8_PREFETCH_BLOCKS 32
static inline void x8_prefetch(const int8_t *p) {
    for (int l = 0; l < 4; l++) _mm_prefetch((const char *)p + 64 * l, _MM_HINT_T1);
}

/* One block b of group qg/dg folded into acc (the one-row arithmetic). */
#define X8_BLOCK(ISA, qg, dg, b, acc)                                                                              \
    acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((dg) + (b) * G))),     \
                                        _mm256_set1_ps(dx[b])),                                                   \
                          _mm256_cvtepi32_ps(x8_dot_##ISA((qg) + (b) * BLOCK_BYTES, qx + (b) * QK, off[b])), acc)

#define X8_KERNELS(ISA, TARGET)                                                                                    \
VV_X8_STREAMED_MATVEC(matvec_x8_##ISA, TARGET, int8_t, BLOCK_BYTES, X8_BLOCK, ISA)                               \
/* J <= 4 activation rows (16 vector registers) against one group, each with the one-row arithmetic (each      \
 * output equals the mat-vec of that row bit for bit); the group's payload is read from memory once for all J. */ \
TARGET static inline __attribute__((always_inline)) void group_x8_##ISA(const int8_t *qg, const uint16_t *dg,    \
        const int8_t *qx, const float *dx, const int32_t *off, float *y, size_t ldy, size_t nb, size_t valid,    \
        const int J) {                                                                                            \
    __m256 acc[8];                                                                                                \
    for (int j = 0; j < J; j++) acc[j] = _mm256_setzero_ps();                                                     \
    for (size_t b = 0; b < nb; b++) {                                                                             \
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dg + b * G)));                        \
        x8_prefetch(qg + (b + X8_PREFETCH_BLOCKS) * BLOCK_BYTES);                                                 \
        for (int j = 0; j < J; j++) {                                                                             \
            const __m256i s = x8_dot_##ISA(qg + b * BLOCK_BYTES, qx + (j * nb + b) * QK, off[j * nb + b]);        \
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx[j * nb + b])), _mm256_cvtepi32_ps(s),    \
                                     acc[j]);                                                                     \
        }                                                                                                         \
    }                                                                                                             \
    for (int j = 0; j < J; j++) vv_x8_store(y + j * ldy, acc[j], valid);                                             \
}                                                                                                                 \
VV_X8_TILED_MATMUL(matmul_x8_##ISA, TARGET, int8_t, BLOCK_BYTES, group_x8_##ISA, 4)

X8_KERNELS(avx2, VV_AVX2)
X8_KERNELS(avxvnni, VV_AVXVNNI)
X8_KERNELS(avx512vl, VV_AVX512VNNI)

/* AVX-512 VL (32 vector registers): J <= 8 activation rows against block b of one group, with the group's block
 * held in registers, its 8 chunks loaded and offset by XOR once for all J rows (the kernel above reloads them per
 * row), then 8 vpdpbusd per row with the activation bytes broadcast from memory. Each row keeps the one-row
 * arithmetic (the same integer sums, the same scale product and fused multiply-add per block in block order). */
VV_AVX512VNNI static inline __attribute__((always_inline)) void tile_block_avx512vl(const int8_t *blk,
        const uint16_t *dgb, const int8_t *qx, const float *dx, const int32_t *off, size_t nb, size_t b, __m256 *acc,
        const int J) {
    const __m256i m80 = _mm256_set1_epi8((char)0x80);
    __m256i w[8];
    for (int c = 0; c < 8; c++) w[c] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 32 * c)), m80);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dgb));
    for (int j = 0; j < J; j++) {
        const int8_t *xb = qx + (j * nb + b) * QK;
        __m256i s = _mm256_set1_epi32(off[j * nb + b]);
        for (int c = 0; c < 8; c++) s = _mm256_dpbusd_epi32(s, w[c], _mm256_set1_epi32(vv_load4(xb + 4 * c)));
        acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx[j * nb + b])), _mm256_cvtepi32_ps(s), acc[j]);
    }
}

VV_X8_GROUP_ROWS(tile_x8_avx512vl, VV_AVX512VNNI, int8_t, BLOCK_BYTES, tile_block_avx512vl)
VV_X8_TILED_MATMUL(matmul_x8_tiled_avx512vl, VV_AVX512VNNI, int8_t, BLOCK_BYTES, tile_x8_avx512vl, 8)
/* Up to 8 rows (a decode step's verify rows or a batch) walk two groups side by side. On the Intel Xeon host, costs
 * relative to the two-stream one-row mat-vec (`bench --draft-replay`'s multi-row costs, 3 alternated runs of two
 * builds): 5-8 rows 1.13-1.34 with two streams from 5 rows up against 1.31-1.50 with them only up to 4 rows; 2-4
 * rows 1.04-1.19 either way (`bench --multi-row` before the change: 1.13-1.24, 1.34-1.43 and 1.53-1.59 for 2, 4 and
 * 8 rows). */
VV_X8_PAIRED_MATMUL(matmul_x8_streams_avx512vl, VV_AVX512VNNI, int8_t, BLOCK_BYTES, tile_block_avx512vl,
                    matmul_x8_tiled_avx512vl, 8, 1)

/* The entry points below take these kernels on this path. */
#define matmul_x8_avx512vl matmul_x8_streams_avx512vl
#endif

VV_X8_ENTRY_POINTS(q8_0x8, int8_t)
