#ifndef QUANT_INTERNAL_H
#define QUANT_INTERNAL_H
/* Shared by the block-format files (quant_blocks.c: activation quantisation and the one dispatch point;
 * quant_q8_0.c and quant_q4_0.c: each format's quantiser, scalar twins and AVX2 kernels).
 *
 * The arithmetic every path reproduces, per output row: eight float lanes, lane l accumulating, block by
 * block, fmaf(f16(d[b]) * dx[b], (float)dot_l, lane) where dot_l is the exact integer dot product of values
 * 4l..4l+3 of block b; then vv_hsum256's reduction order. The integers are exact, so the AVX2 paths may form
 * them any way they like (the Q4_0 kernels take the unsigned nibbles and subtract 8·Σx afterwards); the
 * float operations and their order are what must match. */
#include "CKernels.h"
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

#define QK 32

/* The kernel path in use: VV_QUANT_SCALAR, VV_QUANT_AVX2, VV_QUANT_AVXVNNI or VV_QUANT_AVX512VNNI (what the CPU has, capped by
 * vv_quant_set_max_level; a cap at VV_QUANT_AVXVNNI on a CPU with AVX-512 VNNI and not AVX-VNNI gives VV_QUANT_AVX2). */
int vv_quant_level(void);

/* One padded block of 32 values from row x (cols long), block b. */
static inline void vv_q_load_block(const float *x, size_t cols, size_t b, float out[QK]) {
    size_t base = b * QK;
    for (int j = 0; j < QK; j++) out[j] = base + j < cols ? x[base + j] : 0.0f;
}

/* Per-format kernels behind the dispatch in quant_blocks.c (r0..r1: output rows; m: activation rows). */
void vv_matvec_q8_0_scalar(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                           float *y, size_t nb, size_t r0, size_t r1);
void vv_matvec_q4_0_scalar(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                           float *y, size_t nb, size_t r0, size_t r1);
#ifdef VV_X86
/* Each SIMD kernel in three builds: _avx2 (AVX2, FMA, F16C), _avxvnni (the same with AVX-VNNI's vpdpbusd) and
 * _avx512vl (the same 256-bit code with AVX-512 VNNI's EVEX vpdpbusd, for CPUs that have AVX-512 VNNI and not
 * AVX-VNNI, such as AMD Zen 4). */
#define VV_Q_KERNELS(ISA)                                                                                      \
void vv_matvec_q8_0_##ISA(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,               \
                          float *y, size_t nb, size_t r0, size_t r1);                                          \
void vv_matvec_q4_0_##ISA(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,              \
                          float *y, size_t nb, size_t r0, size_t r1);                                          \
void vv_matmul_q8_0_##ISA(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,     \
                          float *y, size_t ldy, size_t nb, size_t r0, size_t r1);                              \
void vv_matmul_q4_0_##ISA(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,    \
                          float *y, size_t ldy, size_t nb, size_t r0, size_t r1);
VV_Q_KERNELS(avx2)
VV_Q_KERNELS(avxvnni)
VV_Q_KERNELS(avx512vl)
/* AVX-512 VNNI with 512-bit registers: the one-row Q8_0 mat-vec (quant_q8_0_avx512.c). */
void vv_matvec_q8_0_avx512vnni(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                               float *y, size_t nb, size_t r0, size_t r1);

/* Software prefetch of Q8_0 payload this many blocks ahead (a hint only; it never faults past the end). On the
 * 2-core host, 18944x3584 matrices, 2 threads, alternated: 11-14 GB/s without against 12-15 GB/s with. */
#define VV_Q8_PREFETCH_BLOCKS 16

/* The 4 cache lines of 8 Q8_0 blocks from p. */
static inline void vv_q8_prefetch8(const int8_t *p) {
    for (int l = 0; l < 4; l++) _mm_prefetch((const char *)p + 64 * l, _MM_HINT_T0);
}

/* For R rows (stride nb blocks) read at block b: the 8 blocks VV_Q8_PREFETCH_BLOCKS ahead in each row or, near a
 * row's end, the same distance into the next group's R rows, which would otherwise start cold (row i's
 * continuation is row i+1, already streaming): 19.8-21.2 against 18.3-19.1 GB/s medians, 18944x3584, 2 threads,
 * 60 alternated runs each. */
static inline void vv_q8_prefetch_rows(const int8_t *q, size_t nb, size_t b, int R) {
    size_t pb = b + VV_Q8_PREFETCH_BLOCKS, next = 0;
    if (pb >= nb) { pb -= nb; next = (size_t)R; }
    for (int i = 0; i < R; i++) vv_q8_prefetch8(q + (((size_t)i + next) * nb + pb) * QK);
}

/* The one-row Q8_0 mat-vec takes rows one at a time (one sequential stream: a row's continuation is the next row)
 * up to this many blocks per row, and four rows in lockstep beyond, where each loaded activation block then serves
 * four rows: a long row's activation no longer fits L1 beside the weight stream. On the 2-core AMD EPYC host,
 * 2 threads, 30 alternated runs each (AVX2 builds): 3584 columns (the decoder's q, k, v, o, gate, up and LM head)
 * one row at a time 27.2 and 21.6 GB/s against 18.9 and 16.7 in lockstep (18944 and 3584 rows); 18944 columns (the
 * down projection) 19.8 against 23.3 GB/s. One thread slows from 17.4 to 11.6 GB/s one row at a time as the
 * rows grow from 3584 to 18944 columns. */
#define VV_Q8_LOCKSTEP_BLOCKS 256

/* Memory streams per thread of the x8 one-row mat-vecs (vv_x8_set_matvec_streams). One sequential stream per
 * thread leaves memory idle on some hosts: on the 2-vCPU Intel Xeon host (2026-12-07), a plain 2-thread read reached
 * 25 GB/s with one stream per thread (software prefetch at its best distance) against 28-29 GB/s with two and 30-31
 * with four; the q8_0 x8 mat-vec alone (131072x3584, 470 MB, 2 threads, alternated) 22-26 GB/s with one stream
 * against 27-28 with two, q4_0 22-25 against 27-28; four streams gave nothing more. On the 2-vCPU AMD EPYC (Zen 4)
 * host (2026-12-07, `bench --multi-row --json --matvec-streams 1|2`, 7 alternated runs each) the one-row rate was the
 * same either way (q8_0 29-38 GB/s with one stream, 28-32 with two; q4_0 28-32 and 28-39), but two streams made the
 * multi-row products dearer: q4_0 4 and 8 rows cost 1.14-1.39 and 1.74-1.87 of one row with one stream against
 * 1.30-1.69 and 2.12-2.94 with two, q8_0 8 rows 1.13-1.49 against 1.26-1.67 (4 rows 1.02-1.13 either way). So the
 * default (vv_x8_default_matvec_streams) is one stream on AMD processors and two elsewhere. */
extern int vv_x8_matvec_streams;

/* 4 bytes from any address, as one int32 (the x8 layouts' 4-byte chunks and activation broadcasts). */
static inline int32_t vv_load4(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* Stores the 8 lanes of an x8 group, or only the first `valid` (the last group of a padded matrix). */
VV_AVX2 static inline void vv_x8_store(float *y, __m256 v, size_t valid) {
    if (valid >= 8) { _mm256_storeu_ps(y, v); return; }
    float t[8];
    _mm256_storeu_ps(t, v);
    for (size_t i = 0; i < valid; i++) y[i] = t[i];
}

/* The per-block scales f16(d[b]) * dx[b] of 8 blocks at once (the same single rounding as the scalar product). */
VV_AVX2 static inline __m256 vv_q_scales8(const uint16_t *d, const float *dx) {
    return _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d)), _mm256_loadu_ps(dx));
}
#endif


/* Groups per cache tile of an x8 layout's many-row product (the integer prefill): about 384 KB of payload
 * (block_bytes per group and block), which stays in L2 while every block of activation rows passes over it. */
static inline size_t vv_x8_tile_groups(size_t nb, size_t block_bytes) {
    const size_t t = (384u << 10) / (nb * block_bytes);
    return t ? t : 1;
}

/* Defines NAME, the multi-row product of an x8 layout (W payload, block_bytes per group and block) over groups
 * [g0, g1): GROUP(qg, dg, qx, dx, off, y, ldy, nb, valid, J) takes J <= JT activation rows against one group.
 * Up to JT rows take all the groups in one pass (the weights stream from memory once); more rows go over
 * L2-sized tiles of groups, one pass over a tile per block of JT rows (not per row). */
#define VV_X8_TILED_MATMUL(NAME, TARGET, W, BLOCK_BYTES, GROUP, JT)                                             \
TARGET __attribute__((unused)) static void NAME(const W *q, const uint16_t *d, const int8_t *qx, const float *dx, \
        const int32_t *off, size_t m, float *y, size_t ldy, size_t nb, size_t rows, size_t g0, size_t g1) {      \
    const size_t tg = m <= (JT) ? g1 - g0 : vv_x8_tile_groups(nb, BLOCK_BYTES);                               \
    for (size_t t0 = g0; t0 < g1; t0 += tg) {                                                                  \
        const size_t t1 = t0 + tg < g1 ? t0 + tg : g1;                                                         \
        for (size_t j0 = 0; j0 < m; j0 += (JT)) {                                                              \
            const int8_t *xj = qx + j0 * nb * QK;                                                              \
            const float *sj = dx + j0 * nb;                                                                    \
            const int32_t *oj = off + j0 * nb;                                                                 \
            const int J = m - j0 >= (JT) ? (JT) : (int)(m - j0);                                               \
            for (size_t g = t0; g < t1; g++) {                                                                 \
                const W *qg = q + g * nb * (BLOCK_BYTES);                                                      \
                const uint16_t *dg = d + g * nb * 8;                                                           \
                const size_t valid = rows - g * 8;                                                             \
                float *yj = y + j0 * ldy + g * 8;                                                              \
                switch (J) {                                                                                   \
                case 8: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 8); break;                               \
                case 7: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 7); break;                               \
                case 6: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 6); break;                               \
                case 5: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 5); break;                               \
                case 4: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 4); break;                               \
                case 3: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 3); break;                               \
                case 2: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 2); break;                               \
                default: GROUP(qg, dg, xj, sj, oj, yj, ldy, nb, valid, 1); break;                              \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
}

/* Defines NAME, the one-row mat-vec of an x8 layout (W payload, BLOCK_BYTES per group and block) over groups
 * [g0, g1): BLOCK(ISA, qg, dg, b, acc) folds block b of a group into acc (the format's one-row arithmetic; it reads
 * qx, dx and off), and the layout's file defines x8_prefetch and X8_PREFETCH_BLOCKS. With two streams
 * (vv_x8_matvec_streams), groups g0+k and g0+h+k go side by side, block by block. */
#define VV_X8_STREAMED_MATVEC(NAME, TARGET, W, BLOCK_BYTES, BLOCK, ISA)                                         \
TARGET static void NAME(const W *q, const uint16_t *d, const int8_t *qx, const float *dx, const int32_t *off,    \
                        float *y, size_t nb, size_t rows, size_t g0, size_t g1) {                                 \
    const size_t h = vv_x8_matvec_streams >= 2 ? (g1 - g0) / 2 : 0;                                               \
    for (size_t k = 0; k < h; k++) {                                                                              \
        const size_t ga = g0 + k, gb = g0 + h + k;                                                                \
        __m256 acca = _mm256_setzero_ps(), accb = _mm256_setzero_ps();                                           \
        const W *qa = q + ga * nb * (BLOCK_BYTES), *qb = q + gb * nb * (BLOCK_BYTES);                             \
        const uint16_t *da = d + ga * nb * 8, *db = d + gb * nb * 8;                                              \
        for (size_t b = 0; b < nb; b++) {                                                                         \
            x8_prefetch(qa + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                           \
            x8_prefetch(qb + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                           \
            BLOCK(ISA, qa, da, b, acca);                                                                          \
            BLOCK(ISA, qb, db, b, accb);                                                                          \
        }                                                                                                         \
        vv_x8_store(y + ga * 8, acca, rows - ga * 8);                                                             \
        vv_x8_store(y + gb * 8, accb, rows - gb * 8);                                                             \
    }                                                                                                             \
    for (size_t g = g0 + 2 * h; g < g1; g++) {                                                                    \
        __m256 acc = _mm256_setzero_ps();                                                                         \
        const W *qg = q + g * nb * (BLOCK_BYTES);                                                                 \
        const uint16_t *dg = d + g * nb * 8;                                                                      \
        for (size_t b = 0; b < nb; b++) {                                                                         \
            x8_prefetch(qg + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                           \
            BLOCK(ISA, qg, dg, b, acc);                                                                           \
        }                                                                                                         \
        vv_x8_store(y + g * 8, acc, rows - g * 8);                                                                \
    }                                                                                                             \
}

/* The multi-row products of an x8 layout over ROWS_BLOCK(blk, dgb, qx, dx, off, nb, b, acc, J), which folds block b
 * of one group into the accumulators of J <= 8 activation rows (the format's one-row arithmetic per row):
 * - VV_X8_GROUP_ROWS defines NAME, J rows against one group (the GROUP argument of VV_X8_TILED_MATMUL);
 * - VV_X8_PAIRED_MATMUL defines NAME, the product of up to JT rows: with ON and two streams
 *   (vv_x8_matvec_streams), groups g0+k and g0+h+k side by side, block by block, as in the one-row mat-vec; the
 *   groups left over, and more rows, go to TILED (a VV_X8_TILED_MATMUL product). */
#define VV_X8_GROUP_ROWS(NAME, TARGET, W, BLOCK_BYTES, ROWS_BLOCK)                                               \
TARGET static inline __attribute__((always_inline)) void NAME(const W *qg, const uint16_t *dg, const int8_t *qx,  \
        const float *dx, const int32_t *off, float *y, size_t ldy, size_t nb, size_t valid, const int J) {       \
    __m256 acc[8];                                                                                                \
    for (int j = 0; j < J; j++) acc[j] = _mm256_setzero_ps();                                                     \
    for (size_t b = 0; b < nb; b++) {                                                                             \
        x8_prefetch(qg + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                               \
        ROWS_BLOCK(qg + b * (BLOCK_BYTES), dg + b * 8, qx, dx, off, nb, b, acc, J);                               \
    }                                                                                                             \
    for (int j = 0; j < J; j++) vv_x8_store(y + j * ldy, acc[j], valid);                                          \
}

#define VV_X8_PAIRED_MATMUL(NAME, TARGET, W, BLOCK_BYTES, ROWS_BLOCK, TILED, JT, ON)                             \
TARGET static inline __attribute__((always_inline)) void NAME##_pair(const W *qa, const W *qb, const uint16_t *da, \
        const uint16_t *db, const int8_t *qx, const float *dx, const int32_t *off, float *ya, float *yb,          \
        size_t ldy, size_t nb, size_t valida, size_t validb, const int J) {                                       \
    __m256 acca[8], accb[8];                                                                                      \
    for (int j = 0; j < J; j++) acca[j] = accb[j] = _mm256_setzero_ps();                                          \
    for (size_t b = 0; b < nb; b++) {                                                                             \
        x8_prefetch(qa + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                               \
        x8_prefetch(qb + (b + X8_PREFETCH_BLOCKS) * (BLOCK_BYTES));                                               \
        ROWS_BLOCK(qa + b * (BLOCK_BYTES), da + b * 8, qx, dx, off, nb, b, acca, J);                              \
        ROWS_BLOCK(qb + b * (BLOCK_BYTES), db + b * 8, qx, dx, off, nb, b, accb, J);                              \
    }                                                                                                             \
    for (int j = 0; j < J; j++) {                                                                                 \
        vv_x8_store(ya + j * ldy, acca[j], valida);                                                               \
        vv_x8_store(yb + j * ldy, accb[j], validb);                                                               \
    }                                                                                                             \
}                                                                                                                 \
TARGET __attribute__((unused)) static void NAME(const W *q, const uint16_t *d, const int8_t *qx, const float *dx, \
        const int32_t *off, size_t m, float *y, size_t ldy, size_t nb, size_t rows, size_t g0, size_t g1) {      \
    const size_t h = (ON) && m <= (JT) && vv_x8_matvec_streams >= 2 ? (g1 - g0) / 2 : 0;                          \
    for (size_t k = 0; k < h; k++) {                                                                              \
        const size_t ga = g0 + k, gb = g0 + h + k;                                                                \
        const W *qa = q + ga * nb * (BLOCK_BYTES), *qb = q + gb * nb * (BLOCK_BYTES);                             \
        const uint16_t *da = d + ga * nb * 8, *db = d + gb * nb * 8;                                              \
        float *ya = y + ga * 8, *yb = y + gb * 8;                                                                 \
        const size_t va = rows - ga * 8, vb = rows - gb * 8;                                                      \
        switch (m) {                                                                                              \
        case 8: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 8); break;                      \
        case 7: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 7); break;                      \
        case 6: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 6); break;                      \
        case 5: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 5); break;                      \
        case 4: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 4); break;                      \
        case 3: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 3); break;                      \
        case 2: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 2); break;                      \
        default: NAME##_pair(qa, qb, da, db, qx, dx, off, ya, yb, ldy, nb, va, vb, 1); break;                     \
        }                                                                                                         \
    }                                                                                                             \
    TILED(q, d, qx, dx, off, m, y, ldy, nb, rows, g0 + 2 * h, g1);                                                \
}

/* The public mat-vec and multi-row entry points of an x8 layout (quant_q4_0x8.c, quant_q8_0x8.c), defined in
 * the layout's file over its own static kernels: x8_offset (the exact per-block offset the SIMD dot products
 * start from), matvec_x8_{avx2,avxvnni,avx512vl}, matmul_x8_* and the scalar reference matvec_x8_scalar. W is
 * the payload's element type. Offsets for up to VV_X8_STACK_BLOCKS activation blocks live on the stack. */
#define VV_X8_STACK_BLOCKS 1024
#ifdef VV_X86
#define VV_X8_SIMD_MATVEC                                                                                      \
    const int level = vv_quant_level();                                                                        \
    if (level >= VV_QUANT_AVX2) {                                                                              \
        int32_t stack[VV_X8_STACK_BLOCKS];                                                                     \
        int32_t *off = nb <= VV_X8_STACK_BLOCKS ? stack : malloc(nb * sizeof(int32_t));                        \
        if (off) {                                                                                             \
            for (size_t b = 0; b < nb; b++) off[b] = x8_offset(qx + b * QK);                                   \
            if (level >= VV_QUANT_AVX512VNNI) matvec_x8_avx512vl(q, d, qx, dx, off, y, nb, rows, g0, g1);      \
            else if (level == VV_QUANT_AVXVNNI) matvec_x8_avxvnni(q, d, qx, dx, off, y, nb, rows, g0, g1);     \
            else matvec_x8_avx2(q, d, qx, dx, off, y, nb, rows, g0, g1);                                       \
            if (off != stack) free(off);                                                                       \
            return;                                                                                            \
        }                                                                                                      \
    }
#define VV_X8_SIMD_MATMUL                                                                                      \
    const int level = vv_quant_level();                                                                        \
    if (level >= VV_QUANT_AVX2) {                                                                              \
        int32_t *off = malloc(m * nb * sizeof(int32_t) + 1);                                                   \
        if (off) {                                                                                             \
            for (size_t b = 0; b < m * nb; b++) off[b] = x8_offset(qx + b * QK);                               \
            if (level >= VV_QUANT_AVX512VNNI) matmul_x8_avx512vl(q, d, qx, dx, off, m, y, ldy, nb, rows, g0, g1); \
            else if (level == VV_QUANT_AVXVNNI) matmul_x8_avxvnni(q, d, qx, dx, off, m, y, ldy, nb, rows, g0, g1); \
            else matmul_x8_avx2(q, d, qx, dx, off, m, y, ldy, nb, rows, g0, g1);                               \
            free(off);                                                                                         \
            return;                                                                                            \
        }                                                                                                      \
    }
#else
#define VV_X8_SIMD_MATVEC
#define VV_X8_SIMD_MATMUL
#endif
#define VV_X8_ENTRY_POINTS(NAME, W)                                                                            \
void vv_matvec_##NAME(const W *q, const uint16_t *d, const int8_t *qx, const float *dx, float *y,             \
                      size_t nb, size_t rows, size_t g0, size_t g1) {                                          \
    VV_X8_SIMD_MATVEC                                                                                          \
    matvec_x8_scalar(q, d, qx, dx, y, nb, rows, g0, g1);                                                       \
}                                                                                                              \
void vv_matmul_##NAME(const W *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,             \
                      float *y, size_t ldy, size_t nb, size_t rows, size_t g0, size_t g1) {                    \
    VV_X8_SIMD_MATMUL                                                                                          \
    for (size_t j = 0; j < m; j++)                                                                             \
        matvec_x8_scalar(q, d, qx + j * nb * QK, dx + j * nb, y + j * ldy, nb, rows, g0, g1);                  \
}

#endif
