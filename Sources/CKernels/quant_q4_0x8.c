/* Q4_0 in the decode layout "x8": the same blocks, 8 rows interleaved, so that one 256-bit register holds the
 * same 4 payload bytes of 8 rows and one integer multiply-add covers 8 rows at once. The scales of 8 rows for a
 * block sit side by side, so one F16C conversion and one fused multiply-add finish a block for 8 rows (the
 * plain layout needs both per row and block). Made in memory from plain Q4_0 (vv_q4_0_interleave8) for the
 * decoder's matrices; never written to disk (the checkpoint format stays llama.cpp's plain layout).
 *
 * Layout: rows are padded to groups of 8 (padding rows have zero payload and zero scales). Group g, block b:
 *   payload: 128 bytes at q + (g*nb + b)*128; chunk c (0..3) is 32 bytes: for row i (0..7) the 4 plain bytes
 *            4c..4c+3 of row 8g+i's block b (low nibbles = values 4c..4c+3, high nibbles = values 16+4c..16+4c+3);
 *   scales:  8 f16 at d + (g*nb + b)*8, row i's scale at i.
 *
 * The arithmetic every path reproduces, per output row r: acc = 0; for each block b in order,
 * acc = fmaf(f16(d[r,b]) * dx[b], (float)s_b, acc) where s_b is the exact integer dot product of the block's
 * 32 values (nibble - 8) with qx's block; y[r] = acc. (This order differs from the plain layout's eight lanes,
 * so x8 results are compared with the x8 scalar twin, not with vv_matvec_q4_0.) */
#include "quant_internal.h"
#include <string.h>

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

#define G 8
#define BLOCK_BYTES (G * QK / 2)

size_t vv_q4_0x8_groups(size_t rows) { return (rows + G - 1) / G; }

void vv_q4_0_interleave8(const uint8_t *q, const uint16_t *d, size_t rows, size_t nb, uint8_t *qo, uint16_t *dout) {
    const size_t groups = vv_q4_0x8_groups(rows);
    for (size_t g = 0; g < groups; g++) {
        for (size_t b = 0; b < nb; b++) {
            uint8_t *blk = qo + (g * nb + b) * BLOCK_BYTES;
            uint16_t *sc = dout + (g * nb + b) * G;
            for (int i = 0; i < G; i++) {
                const size_t r = g * G + (size_t)i;
                const uint8_t *src = r < rows ? q + (r * nb + b) * (QK / 2) : NULL;
                sc[i] = src ? d[r * nb + b] : 0;
                for (int c = 0; c < 4; c++)
                    for (int t = 0; t < 4; t++) blk[c * 32 + i * 4 + t] = src ? src[4 * c + t] : 0x88;
            }
        }
    }
}

/* Payload byte j (0..15) of row i's block at blk (0x88 = two zero values in a padding row). */
static inline uint8_t x8_byte(const uint8_t *blk, int i, int j) { return blk[(j / 4) * 32 + i * 4 + (j % 4)]; }

static void dequant_x8_scalar(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst,
                              size_t c0) {
    const size_t nb = vv_q_blocks(cols);
    for (size_t k = 0; k < n; k++) {
        const size_t r = r0 + k, g = r / G;
        const int i = (int)(r % G);
        float *out = dst + k * cols;
        for (size_t c = c0; c < cols; c++) {
            const size_t b = c / QK;
            const int j = (int)(c % QK);
            const uint8_t *blk = q + (g * nb + b) * BLOCK_BYTES;
            const uint8_t byte = x8_byte(blk, i, j % 16);
            const int nib = j < 16 ? (byte & 0x0f) : (byte >> 4);
            out[c] = vv_f16_to_f32(d[(g * nb + b) * G + i]) * (float)(nib - 8);
        }
    }
}

#ifdef VV_X86

/* The same products as the scalar path (one multiply of the f16 scale by the small integer: exact to the same
 * rounding), a block of 32 columns at a time; a partial last block goes to the scalar path. */
VV_AVX2 static void dequant_x8_avx2(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
    const size_t nb = vv_q_blocks(cols), full = cols / QK;
    const __m128i m = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (size_t k = 0; k < n; k++) {
        const size_t r = r0 + k, g = r / G;
        const int i = (int)(r % G);
        const uint8_t *qg = q + g * nb * BLOCK_BYTES + (size_t)i * 4;
        const uint16_t *dg = d + g * nb * G + i;
        float *out = dst + k * cols;
        for (size_t b = 0; b < full; b++) {
            const uint8_t *blk = qg + b * BLOCK_BYTES;
            const __m128i v = _mm_setr_epi32(vv_load4(blk), vv_load4(blk + 32), vv_load4(blk + 64), vv_load4(blk + 96));
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m), eight);
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight);
            const __m256 sc = _mm256_set1_ps(vv_f16_to_f32(dg[b * G]));
            float *o = out + b * QK;
            _mm256_storeu_ps(o, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
            _mm256_storeu_ps(o + 8, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
            _mm256_storeu_ps(o + 16, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
            _mm256_storeu_ps(o + 24, _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
        }
        if (full * QK < cols) dequant_x8_scalar(q, d, cols, r, 1, out, full * QK);
    }
}
#endif

void vv_dequant_rows_q4_0x8(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst) {
#ifdef VV_X86
    if (vv_quant_level() >= VV_QUANT_AVX2) { dequant_x8_avx2(q, d, cols, r0, n, dst); return; }
#endif
    dequant_x8_scalar(q, d, cols, r0, n, dst, 0);
}

/* The reference. */
static void matvec_x8_scalar(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, float *y,
                             size_t nb, size_t rows, size_t g0, size_t g1) {
    for (size_t g = g0; g < g1; g++) {
        for (int i = 0; i < G; i++) {
            const size_t r = g * G + (size_t)i;
            if (r >= rows) break;
            float acc = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = q + (g * nb + b) * BLOCK_BYTES;
                const int8_t *a = qx + b * QK;
                int sum = 0;
                for (int j = 0; j < 16; j++) {
                    const uint8_t byte = x8_byte(blk, i, j);
                    sum += ((int)(byte & 0x0f) - 8) * (int)a[j] + ((int)(byte >> 4) - 8) * (int)a[j + 16];
                }
                const float s = vv_f16_to_f32(d[(g * nb + b) * G + i]) * dx[b];
                acc = fmaf(s, (float)sum, acc);
            }
            y[r] = acc;
        }
    }
}

#ifdef VV_X86
/* A block's 128 payload bytes as 4 + 4 registers of unsigned nibbles (lo[c]: values 4c..4c+3 of the 8 rows,
 * hi[c]: values 16+4c..16+4c+3). */
VV_AVX2 static inline void x8_unpack(const uint8_t *blk, __m256i lo[4], __m256i hi[4]) {
    const __m256i m = _mm256_set1_epi8(0x0f);
    for (int c = 0; c < 4; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 32 * c));
        lo[c] = _mm256_and_si256(v, m);
        hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    }
}

/* The 8 rows' integer dot products of one unpacked block with activation block x (no -8 offset), 8 int32
 * lanes. AVX2: the eight maddubs results are summed as int16 (each pair sum is at most 2·15·127 = 3810, eight
 * of them 30480 < 32768), then widened once; AVX-VNNI: eight vpdpbusd. Both exact, so both agree bit for bit. */
VV_AVX2 static inline __m256i x8_dot_avx2(const __m256i lo[4], const __m256i hi[4], const int8_t *x) {
    __m256i s16 = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo[c], _mm256_set1_epi32(vv_load4(x + 4 * c))));
        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(hi[c], _mm256_set1_epi32(vv_load4(x + 16 + 4 * c))));
    }
    return _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
}

VV_AVXVNNI static inline __m256i x8_dot_avxvnni(const __m256i lo[4], const __m256i hi[4], const int8_t *x) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        s = _mm256_dpbusd_avx_epi32(s, lo[c], _mm256_set1_epi32(vv_load4(x + 4 * c)));
        s = _mm256_dpbusd_avx_epi32(s, hi[c], _mm256_set1_epi32(vv_load4(x + 16 + 4 * c)));
    }
    return s;
}

/* The same with AVX-512 VNNI's EVEX-encoded 256-bit vpdpbusd. */
VV_AVX512VNNI static inline __m256i x8_dot_avx512vl(const __m256i lo[4], const __m256i hi[4], const int8_t *x) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        s = _mm256_dpbusd_epi32(s, lo[c], _mm256_set1_epi32(vv_load4(x + 4 * c)));
        s = _mm256_dpbusd_epi32(s, hi[c], _mm256_set1_epi32(vv_load4(x + 16 + 4 * c)));
    }
    return s;
}

/* -8·Σx of each activation block (exact). */
static inline int32_t x8_offset(const int8_t *x) {
    int32_t s = 0;
    for (int j = 0; j < QK; j++) s += x[j];
    return -8 * s;
}


/* Software prefetch of the payload this many blocks ahead (4 KB; a hint only, it never faults past the end), into
 * L2 (as in quant_q8_0x8.c). One core's hardware prefetchers keep too few lines in flight for this stream:
 * measured on the 2-core host, 18944x3584 matrices, 2 threads, alternated, 14-15 GB/s without against 16-18 GB/s
 * with (distances 16-32 alike, 4 and 8 less). With the hint at L2 instead of L1 and 32 blocks instead of 16, on
 * the AMD EPYC host (131072x3584, 2 threads, best of 10 alternated runs, three times): 1 row 7.7-9.7 ms against
 * 8.3-11.2 ms; 4 and 8 rows within the runs' noise of each other. */
#define X8_PREFETCH_BLOCKS 32
static inline void x8_prefetch(const uint8_t *p) {
    _mm_prefetch((const char *)p, _MM_HINT_T1);
    _mm_prefetch((const char *)p + 64, _MM_HINT_T1);
}

/* One block b of group qg/dg folded into acc (the one-row arithmetic). */
#define X8_BLOCK(ISA, qg, dg, b, acc) do {                                                                         \
        __m256i lo[4], hi[4];                                                                                     \
        x8_unpack((qg) + (b) * BLOCK_BYTES, lo, hi);                                                              \
        const __m256i s = _mm256_add_epi32(x8_dot_##ISA(lo, hi, qx + (b) * QK), _mm256_set1_epi32(off[b]));      \
        const __m256 sc = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((dg) + (b) * G))),      \
                                        _mm256_set1_ps(dx[b]));                                                   \
        acc = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s), acc);                                                    \
    } while (0)

#define X8_KERNELS(ISA, TARGET, JT, MR2)                                                                                    \
VV_X8_STREAMED_MATVEC(matvec_x8_##ISA, TARGET, uint8_t, BLOCK_BYTES, X8_BLOCK, ISA)                              \
/* J <= JT activation rows against block b of one group: the payload is unpacked once for all J (each row keeps \
 * the one-row arithmetic, so each output equals the mat-vec of that row bit for bit). */                        \
TARGET static inline __attribute__((always_inline)) void rows_block_x8_##ISA(const uint8_t *blk,                  \
        const uint16_t *dgb, const int8_t *qx, const float *dx, const int32_t *off, size_t nb, size_t b,          \
        __m256 *acc, const int J) {                                                                               \
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dgb));                                     \
    __m256i lo[4], hi[4];                                                                                         \
    x8_unpack(blk, lo, hi);                                                                                       \
    for (int j = 0; j < J; j++) {                                                                                 \
        const __m256i s = _mm256_add_epi32(x8_dot_##ISA(lo, hi, qx + (j * nb + b) * QK),                          \
                                           _mm256_set1_epi32(off[j * nb + b]));                                   \
        acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx[j * nb + b])), _mm256_cvtepi32_ps(s), acc[j]); \
    }                                                                                                             \
}                                                                                                                 \
VV_X8_GROUP_ROWS(group_x8_##ISA, TARGET, uint8_t, BLOCK_BYTES, rows_block_x8_##ISA)                            \
VV_X8_TILED_MATMUL(matmul_x8_tiled_##ISA, TARGET, uint8_t, BLOCK_BYTES, group_x8_##ISA, JT)                      \
VV_X8_PAIRED_MATMUL(matmul_x8_##ISA, TARGET, uint8_t, BLOCK_BYTES, rows_block_x8_##ISA, matmul_x8_tiled_##ISA, JT, \
                    MR2)

/* JT: activation rows per register tile, 4 with 16 vector registers, 8 with AVX-512's 32. MR2: up to JT rows walk
 * two groups side by side (measured on the Intel Xeon host only, where the AVX-512 path runs). */
X8_KERNELS(avx2, VV_AVX2, 4, 0)
X8_KERNELS(avxvnni, VV_AVXVNNI, 4, 0)
X8_KERNELS(avx512vl, VV_AVX512VNNI, 8, 1)
#endif

VV_X8_ENTRY_POINTS(q4_0x8, uint8_t)
