#ifndef CKERNELS_FUSED_H
#define CKERNELS_FUSED_H
#include <stddef.h>
#include <stdint.h>

/* Kernels for the many-row work (speech encoders, prefill): a packed GEMM with fused epilogues, the ConvNeXt
 * mixer, RMSNorm rows and exact GELU (fused_gemm.c, encoder_kernels.c). Each has an AVX2 path and a scalar path
 * that gives bit-identical results. Row-major f32 throughout. */

/* Forces the scalar paths of these kernels (1) or lets the CPU decide (0): for tests and comparisons. */
void vv_set_fused_kernels_scalar(int on);
/* 1 when their AVX2 paths are in use. */
int vv_fused_kernels_simd_enabled(void);

/* Weight panels of 16 outputs: packed[p][kk][j] = w[(16p + j) * ldw + kk], zero past n; vv_packed_panels(n)
 * panels of k * 16 floats. */
size_t vv_packed_panels(size_t n);
void vv_pack_panels_f32(const float *w, size_t n, size_t k, size_t ldw, float *packed);

enum { VV_EPI_STORE = 0, VV_EPI_BIAS = 1, VV_EPI_BIAS_GELU = 2, VV_EPI_BIAS_SCALE_ADD = 3 };

/* For i < m, j < n, acc = sum over kk < k of a[i * lda + kk] * w[j][kk], then
 *   STORE: c = acc;  BIAS: c = acc + bias[j];  BIAS_GELU: c = gelu(acc + bias[j]);
 *   BIAS_SCALE_ADD: c = c + scale[j] * (acc + bias[j])   (c[i * ldc + j]).
 * bias and scale (when used) hold 16 * vv_packed_panels(n) values. Rows of a may overlap (lda < k). */
void vv_gemm_packed_f32(const float *a, size_t lda, size_t m, size_t k, const float *packed, size_t n,
                        float *c, size_t ldc, int epilogue, const float *bias, const float *scale);

/* out[r] = w * (x[r] * (1 / sqrt(mean(x[r]^2) + eps))) for rows of d values (out may alias x when ldo == ldx). */
void vv_rmsnorm_rows(const float *x, size_t ldx, size_t rows, size_t d, const float *w, float eps, float *out,
                     size_t ldo);

#define VV_MIXER_MAX_KERNEL 64
/* The ConvNeXt mixer over rows [rows, d] in place: x[t] += gamma * (bias + sum_j kern[j * d + c] *
 * h[t - (k-1) + j]) with h = RMSNorm(x; norm_w, eps) of the rows as they were. history [(k-1), d]: the normed rows
 * before the first (zeros at the start of a stream), replaced by the last k-1. ring: scratch of k * d floats.
 * Returns 0, or -1 when k is outside 1...VV_MIXER_MAX_KERNEL. */
int vv_convnext_mixer(float *x, size_t rows, size_t d, const float *norm_w, float eps, const float *kern, size_t k,
                      const float *bias, const float *gamma, float *history, float *ring);

/* Exact GELU, x * Phi(x), in place (a rational erf; within 2e-7 * max(1, |x|) of the exact value). */
void vv_gelu_f32(float *x, size_t n);
/* y[r, i] = gelu(y[r, i] + bias[i]) for i < n. */
void vv_bias_gelu_rows(float *y, size_t ldy, size_t rows, size_t n, const float *bias);
/* x[r, i] += scale[i] * (y[r, i] + bias[i]) for i < n (bias may be NULL). */
void vv_bias_scale_add_rows(float *x, size_t ldx, const float *y, size_t ldy, size_t rows, size_t n,
                            const float *bias, const float *scale);
/* y[r, i] += bias[i]. */
void vv_bias_rows(float *y, size_t ldy, size_t rows, size_t n, const float *bias);

/* ---- Causal attention over a key/value cache (attention.c) ----
 * Keys and values of one key/value head: [positions][hd], f32 or f16 (kv_f16 = 1). For each of `rows` query rows
 * q[r] (hd values) at position pos[r] (it attends to keys 0...pos[r]):
 *   out[r] = sum_j softmax_j(scale * q[r] . k_j) v_j,
 * computed over tiles of VV_ATT_TILE keys with an online softmax (scratch: vv_attention_scratch_floats floats,
 * bounded whatever the context). rows <= VV_ATT_MAX_ROWS. */
#define VV_ATT_TILE 128
#define VV_ATT_MAX_ROWS 256
size_t vv_attention_scratch_floats(size_t rows, size_t hd);
void vv_attention_rows(const float *const *q, const size_t *pos, size_t rows, const void *keys, const void *values,
                       int kv_f16, size_t hd, float scale, float *const *out, float *scratch);

/* f32 -> f16, round to nearest even (F16C's conversion; the scalar path gives the same bits). The way back is
 * vv_widen_f16. */
void vv_narrow_f16(const float *src, uint16_t *dst, size_t n);

#endif
