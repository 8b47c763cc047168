#ifndef VV_FUSED_INTERNAL_H
#define VV_FUSED_INTERNAL_H
/* Shared by the fused kernel files: the exact-GELU approximation (vector and scalar twins) and the switch that
 * forces their scalar paths. */
#include "kernels_internal.h"

/* 1 when the AVX2 paths of the fused kernels are in use (not forced off and the CPU has AVX2/FMA/F16C). */
int vv_fused_simd(void);

/* erf(z) = z * P(z^2) / Q(z^2) for |z| <= 4, clamped beyond (erf(4) rounds to 1 in f32). A (5,5) rational fitted
 * by minimax-weighted least squares to erf(z)/z on [0, 4] (relative error 2.5e-8 in exact arithmetic). Evaluated in
 * f32 with fused multiply-adds, GELU(x) = 0.5x + 0.5x * erf(x / sqrt 2) stays within 2e-7 * max(1, |x|) of the
 * exact value (tested): the same order as 0.5x(1 + erff(x / sqrt 2)) with a correctly rounded erff. */
#define VV_ERF_P0 1.1283791393442568f
#define VV_ERF_P1 0.19353946549445653f
#define VV_ERF_P2 0.053101002589500124f
#define VV_ERF_P3 0.003883104618195291f
#define VV_ERF_P4 0.00028456075542466347f
#define VV_ERF_P5 1.9868278465229317e-06f
#define VV_ERF_Q1 0.5048524419199673f
#define VV_ERF_Q2 0.11534768458415702f
#define VV_ERF_Q3 0.015206769512338575f
#define VV_ERF_Q4 0.001185513652901934f
#define VV_ERF_Q5 3.742037840161888e-05f
#define VV_SQRT1_2 0.70710678118654752440f

/* The scalar twin: the same operations in the same order as the vector lanes (fmaf is a single rounding, as FMA). */
static inline float vv_gelu_scalar(float x) {
    float z = x * VV_SQRT1_2;
    z = z > 4.0f ? 4.0f : (z < -4.0f ? -4.0f : z);
    float u = z * z;
    float p = fmaf(fmaf(fmaf(fmaf(fmaf(VV_ERF_P5, u, VV_ERF_P4), u, VV_ERF_P3), u, VV_ERF_P2), u, VV_ERF_P1), u, VV_ERF_P0);
    float q = fmaf(fmaf(fmaf(fmaf(fmaf(VV_ERF_Q5, u, VV_ERF_Q4), u, VV_ERF_Q3), u, VV_ERF_Q2), u, VV_ERF_Q1), u, 1.0f);
    float e = (z * p) / q;
    float h = 0.5f * x;
    return fmaf(h, e, h);
}

#ifdef VV_X86
VV_AVX2 static inline __m256 vv_gelu8(__m256 x) {
    const __m256 lim = _mm256_set1_ps(4.0f), nlim = _mm256_set1_ps(-4.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(VV_SQRT1_2));
    /* min/max return their second operand when one is NaN: z last, so NaN propagates as in the scalar twin */
    z = _mm256_max_ps(nlim, _mm256_min_ps(lim, z));
    __m256 u = _mm256_mul_ps(z, z);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(VV_ERF_P5), u, _mm256_set1_ps(VV_ERF_P4));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(VV_ERF_P3));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(VV_ERF_P2));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(VV_ERF_P1));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(VV_ERF_P0));
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(VV_ERF_Q5), u, _mm256_set1_ps(VV_ERF_Q4));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(VV_ERF_Q3));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(VV_ERF_Q2));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(VV_ERF_Q1));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.0f));
    __m256 e = _mm256_div_ps(_mm256_mul_ps(z, p), q);
    __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
    return _mm256_fmadd_ps(h, e, h);
}

/* A mask whose first n (0..8) 32-bit lanes are set. */
VV_AVX2 static inline __m256i vv_lane_mask(size_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}
#endif

#endif
