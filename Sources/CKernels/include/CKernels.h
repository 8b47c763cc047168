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

/* 1 when the AVX2 paths are in use (for reports). */
int vv_kernels_simd_enabled(void);

#endif
