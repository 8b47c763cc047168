/* Row-wise and element-wise kernels of the speech encoders: channel RMSNorm, the ConvNeXt mixer (norm, depthwise
 * causal convolution and layer scale fused in one pass over the rows), exact GELU, and the bias / layer-scale
 * epilogues that follow a BLAS product. Time-major activations [rows, channels].
 *
 * The scalar paths repeat the AVX2 paths' operations in the same order (eight lanes, fused multiply-adds spelled
 * as fmaf, the same final reduction), so both give bit-identical results. */
#include "CKernels.h"
#include "fused_internal.h"

#pragma STDC FP_CONTRACT OFF

static int fused_scalar = 0;
void vv_set_fused_kernels_scalar(int on) { fused_scalar = on; }
int vv_fused_simd(void) { return !fused_scalar && vv_cpu_has_avx2(); }
int vv_fused_kernels_simd_enabled(void) { return vv_fused_simd(); }

/* ---------------- RMSNorm: out = w * (x * (1 / sqrt(mean(x^2) + eps))) ---------------- */

static float rms_scale_scalar(const float *x, size_t d, float eps) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] = fmaf(x[i + l], x[i + l], lanes[l]);
    float ss = vv_hsum8(lanes);
    for (; i < d; i++) ss = fmaf(x[i], x[i], ss);
    return 1.0f / sqrtf(ss / (float)d + eps);
}

static void rmsnorm_row_scalar(const float *x, size_t d, const float *w, float eps, float *out) {
    float s = rms_scale_scalar(x, d, eps);
    for (size_t i = 0; i < d; i++) out[i] = w[i] * (x[i] * s);
}

#ifdef VV_X86
VV_AVX2 static float rms_scale_avx2(const float *x, size_t d, float eps) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float ss = vv_hsum256(acc);
    for (; i < d; i++) ss = fmaf(x[i], x[i], ss);
    return 1.0f / sqrtf(ss / (float)d + eps);
}

VV_AVX2 static void rmsnorm_row_avx2(const float *x, size_t d, const float *w, float eps, float *out) {
    float s = rms_scale_avx2(x, d, eps);
    __m256 sv = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), sv)));
    for (; i < d; i++) out[i] = w[i] * (x[i] * s);
}
#endif

static inline void rmsnorm_row(const float *x, size_t d, const float *w, float eps, float *out, int simd) {
#ifdef VV_X86
    if (simd) { rmsnorm_row_avx2(x, d, w, eps, out); return; }
#endif
    (void)simd;
    rmsnorm_row_scalar(x, d, w, eps, out);
}

void vv_rmsnorm_rows(const float *x, size_t ldx, size_t rows, size_t d, const float *w, float eps, float *out,
                     size_t ldo) {
    int simd = vv_fused_simd();
    for (size_t r = 0; r < rows; r++) rmsnorm_row(x + r * ldx, d, w, eps, out + r * ldo, simd);
}

/* ---------------- ConvNeXt mixer ----------------
 * x[t] += gamma * (bias + sum_j kern[j] * h[t - (k-1) + j]), h = RMSNorm(x) (the values before this call's
 * updates). `history` holds the k-1 normed rows before the first row and is replaced by the last k-1. `ring`
 * is scratch for k rows. */

static void mix_row_scalar(float *x, size_t d, const float *const *taps, size_t k, const float *kern,
                           const float *bias, const float *gamma) {
    for (size_t c = 0; c < d; c++) {
        float m = bias[c];
        for (size_t j = 0; j < k; j++) m = fmaf(kern[j * d + c], taps[j][c], m);
        x[c] = fmaf(gamma[c], m, x[c]);
    }
}

#ifdef VV_X86
VV_AVX2 static void mix_row_avx2(float *x, size_t d, const float *const *taps, size_t k, const float *kern,
                                 const float *bias, const float *gamma) {
    size_t c = 0;
    for (; c + 8 <= d; c += 8) {
        __m256 m = _mm256_loadu_ps(bias + c);
        for (size_t j = 0; j < k; j++)
            m = _mm256_fmadd_ps(_mm256_loadu_ps(kern + j * d + c), _mm256_loadu_ps(taps[j] + c), m);
        _mm256_storeu_ps(x + c, _mm256_fmadd_ps(_mm256_loadu_ps(gamma + c), m, _mm256_loadu_ps(x + c)));
    }
    for (; c < d; c++) {
        float m = bias[c];
        for (size_t j = 0; j < k; j++) m = fmaf(kern[j * d + c], taps[j][c], m);
        x[c] = fmaf(gamma[c], m, x[c]);
    }
}
#endif

int vv_convnext_mixer(float *x, size_t rows, size_t d, const float *norm_w, float eps, const float *kern, size_t k,
                      const float *bias, const float *gamma, float *history, float *ring) {
    if (k < 1 || k > VV_MIXER_MAX_KERNEL) return -1;
    int simd = vv_fused_simd();
    /* sequence index s: history rows are 0..k-2, row t is t+k-1; slot = s mod k */
    for (size_t s = 0; s + 1 < k; s++) memcpy(ring + s * d, history + s * d, d * sizeof(float));
    const float *taps[VV_MIXER_MAX_KERNEL];
    for (size_t t = 0; t < rows; t++) {
        float *xr = x + t * d;
        rmsnorm_row(xr, d, norm_w, eps, ring + ((t + k - 1) % k) * d, simd);
        for (size_t j = 0; j < k; j++) taps[j] = ring + ((t + j) % k) * d;
#ifdef VV_X86
        if (simd) { mix_row_avx2(xr, d, taps, k, kern, bias, gamma); continue; }
#endif
        mix_row_scalar(xr, d, taps, k, kern, bias, gamma);
    }
    for (size_t i = 0; i + 1 < k; i++) memcpy(history + i * d, ring + ((rows + i) % k) * d, d * sizeof(float));
    return 0;
}

/* ---------------- GELU and the epilogues after a BLAS product ---------------- */
/* Each AVX2 helper handles the first multiple of 8 values of a row and returns how many it did. */

#ifdef VV_X86
VV_AVX2 static size_t gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, vv_gelu8(_mm256_loadu_ps(x + i)));
    return i;
}

VV_AVX2 static size_t bias_gelu_avx2(float *y, size_t n, const float *bias) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, vv_gelu8(_mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(bias + i))));
    return i;
}

VV_AVX2 static size_t bias_scale_add_avx2(float *x, const float *y, size_t n, const float *bias, const float *scale) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = bias ? _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(bias + i)) : _mm256_loadu_ps(y + i);
        _mm256_storeu_ps(x + i, _mm256_fmadd_ps(_mm256_loadu_ps(scale + i), v, _mm256_loadu_ps(x + i)));
    }
    return i;
}
#define VV_SIMD_PART(simd, call) ((simd) ? (call) : 0)
#else
#define VV_SIMD_PART(simd, call) 0
#endif

void vv_gelu_f32(float *x, size_t n) {
    int simd = vv_fused_simd();
    (void)simd;
    for (size_t i = VV_SIMD_PART(simd, gelu_avx2(x, n)); i < n; i++) x[i] = vv_gelu_scalar(x[i]);
}

void vv_bias_gelu_rows(float *y, size_t ldy, size_t rows, size_t n, const float *bias) {
    int simd = vv_fused_simd();
    (void)simd;
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        for (size_t i = VV_SIMD_PART(simd, bias_gelu_avx2(yr, n, bias)); i < n; i++) yr[i] = vv_gelu_scalar(yr[i] + bias[i]);
    }
}

void vv_bias_scale_add_rows(float *x, size_t ldx, const float *y, size_t ldy, size_t rows, size_t n,
                            const float *bias, const float *scale) {
    int simd = vv_fused_simd();
    (void)simd;
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ldx;
        const float *yr = y + r * ldy;
        for (size_t i = VV_SIMD_PART(simd, bias_scale_add_avx2(xr, yr, n, bias, scale)); i < n; i++) {
            float v = bias ? yr[i] + bias[i] : yr[i];
            xr[i] = fmaf(scale[i], v, xr[i]);
        }
    }
}

void vv_bias_rows(float *y, size_t ldy, size_t rows, size_t n, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        for (size_t i = 0; i < n; i++) yr[i] = yr[i] + bias[i];
    }
}
