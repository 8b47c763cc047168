#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Hot loops over weights in their stored dtype. Each has an AVX2/FMA/F16C path chosen at run
 * time and a portable scalar path. Row-major W[rows, cols]; y[r] = dot(W[r, :], x). */

/* Widen n elements to f32. */
void vv_widen_bf16(const uint16_t *src, float *dst, size_t n);
void vv_widen_f16(const uint16_t *src, float *dst, size_t n);

/* y[r] = sum_c W[r,c] * x[c] for r in [row_begin, row_end). */
void vv_matvec_f32(const float *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end);
void vv_matvec_bf16(const uint16_t *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end);
void vv_matvec_f16(const uint16_t *w, const float *x, float *y, size_t cols, size_t row_begin, size_t row_end);

/* Several activation rows at once (m <= 8; x row j at x + j*ldx, output row j at y + j*ldy): each weight row is
 * streamed once for all of them, and every output is bit-identical to vv_matvec_* of that x row alone. */
void vv_matmul_f32(const float *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy, size_t cols,
                   size_t row_begin, size_t row_end);
void vv_matmul_bf16(const uint16_t *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy, size_t cols,
                    size_t row_begin, size_t row_end);
void vv_matmul_f16(const uint16_t *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy, size_t cols,
                   size_t row_begin, size_t row_end);

/* *p += v atomically; returns the old value (work counters shared by the threads of one parallel loop). */
static inline long vv_atomic_fetch_add(long *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

/* 1 when the AVX2 paths are in use (for reports). */
int vv_kernels_simd_enabled(void);

/* ---- Block-quantised weights (quant_blocks.c, quant_q8_0.c, quant_q4_0.c) ----
 * 32 values per block, one f16 scale per block; a row of `cols` values has vv_q_blocks(cols) blocks,
 * the last zero-padded. Q8_0 payload: int8 [rows, nb*32]. Q4_0 payload: uint8 [rows, nb*16], byte j
 * of a block = value j (low nibble) and value j+16 (high nibble), each stored as q+8. Scales: f16 [rows, nb]. */
size_t vv_q_blocks(size_t cols);

/* Quantise f32 rows (llama.cpp's reference rounding). Returns 0, -1 for a non-finite value, -2 for a
 * scale that does not fit in f16. */
int vv_quantize_rows_q8_0(const float *src, size_t rows, size_t cols, int8_t *q, uint16_t *d);
int vv_quantize_rows_q4_0(const float *src, size_t rows, size_t cols, uint8_t *q, uint16_t *d);

/* Rows [r0, r0+n) widened to f32, cols values each, written densely to dst. */
void vv_dequant_rows_q8_0(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst);
void vv_dequant_rows_q4_0(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst);

/* An activation row quantised to Q8 blocks: qx int8 [nb*32], dx f32 [nb] (nearest-even rounding). */
void vv_quantize_act_q8(const float *x, size_t cols, int8_t *qx, float *dx);

/* y[r] = sum_b f16(d[r,b]) * dx[b] * dot(q[r,b,:], qx[b,:]) for r in [r0, r1). Bit-identical on every path. */
void vv_matvec_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1);
void vv_matvec_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1);

/* m activation rows (qx row j at qx + j*nb*32, dx + j*nb; output row j at y + j*ldy), each output bit-identical
 * to vv_matvec_q* of that row alone, the weight rows streamed once. */
void vv_matmul_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1);
void vv_matmul_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1);

/* Q4_0 in the in-memory decode layout x8 (quant_q4_0x8.c): 8 rows interleaved per block so that one integer
 * multiply-add, one scale conversion and one fused multiply-add serve 8 rows. Rows are padded to groups of 8.
 * Payload: vv_q4_0x8_groups(rows) * nb * 128 bytes; scales: groups * nb * 8 f16. Its own arithmetic (per row,
 * one fused multiply-add per block in block order), identical on every path; g0..g1: groups of 8 output rows,
 * only rows < `rows` written. */
size_t vv_q4_0x8_groups(size_t rows);
void vv_q4_0_interleave8(const uint8_t *q, const uint16_t *d, size_t rows, size_t nb, uint8_t *qo, uint16_t *dout);
void vv_dequant_rows_q4_0x8(const uint8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst);
void vv_matvec_q4_0x8(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, float *y,
                      size_t nb, size_t rows, size_t g0, size_t g1);
void vv_matmul_q4_0x8(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                      float *y, size_t ldy, size_t nb, size_t rows, size_t g0, size_t g1);
/* Q8_0 in the same x8 decode layout (quant_q8_0x8.c): payload groups * nb * 256 bytes, scales groups * nb * 8
 * f16 (groups = vv_q4_0x8_groups(rows)); the same per-row arithmetic as the Q4_0 x8 layout. Its multi-row product
 * also serves the integer prefill (any m: cache-blocked over L2-sized tiles of groups when m is large). */
void vv_q8_0_interleave8(const int8_t *q, const uint16_t *d, size_t rows, size_t nb, int8_t *qo, uint16_t *dout);
void vv_dequant_rows_q8_0x8(const int8_t *q, const uint16_t *d, size_t cols, size_t r0, size_t n, float *dst);
void vv_matvec_q8_0x8(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, float *y,
                      size_t nb, size_t rows, size_t g0, size_t g1);
void vv_matmul_q8_0x8(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                      float *y, size_t ldy, size_t nb, size_t rows, size_t g0, size_t g1);

/* Paths of the block-format kernels (activation quantisation, mat-vec, multi-row), all bit-identical: */
enum { VV_QUANT_SCALAR = 0, VV_QUANT_AVX2 = 1, VV_QUANT_AVXVNNI = 2, VV_QUANT_AVX512VNNI = 3 };
/* Caps the path at `level` (for tests and comparisons; the default is the best the CPU has) and returns the
 * path now in use. */
int vv_quant_set_max_level(int level);
/* The path in use. */
int vv_quant_level(void);
/* 1 when the CPU has AVX2, FMA and F16C (checked once). */
int vv_cpu_has_avx2(void);
/* 1 when the CPU also has AVX-512 F, BW, VL, DQ and CD, with the OS saving their state. */
int vv_cpu_has_avx512(void);
/* Forces the portable scalar paths (1) or lifts the cap (0). */
void vv_set_force_scalar(int on);
/* Memory streams per thread of the x8 layouts' one-row mat-vec and, on the AVX-512 path, of their products of up to
 * 8 rows (1 or 2; default vv_x8_default_matvec_streams()): with 2, each thread walks the two halves of its groups
 * side by side. Results are the same either way; for comparisons. Returns the value in use (0 or less only asks). */
int vv_x8_set_matvec_streams(int streams);
/* The default of vv_x8_set_matvec_streams for this CPU: 1 on AMD processors, 2 elsewhere (measured on an AMD EPYC
 * Zen 4 and an Intel Xeon; see quant_internal.h). */
int vv_x8_default_matvec_streams(void);

#include "CKernelsFused.h"

#endif
