#include "CKernels.h"
#include "kernels_internal.h"
#include <stdlib.h>
#include <stdatomic.h>

/* Results must not depend on whether the compiler fuses a multiply and an add (the multi-row kernels
 * reproduce the one-row kernels bit for bit). */
#pragma STDC FP_CONTRACT OFF

/* ---------------- scalar paths ---------------- */

static void widen_bf16_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vv_bf16_to_f32(src[i]);
}
static void widen_f16_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vv_f16_to_f32(src[i]);
}
static void matvec_f32_scalar(const float *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        const float *row = w + r * cols;
        float acc = 0.f;
        for (size_t c = 0; c < cols; c++) acc += row[c] * x[c];
        y[r] = acc;
    }
}
static void matvec_bf16_scalar(const uint16_t *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        float acc = 0.f;
        for (size_t c = 0; c < cols; c++) acc += vv_bf16_to_f32(row[c]) * x[c];
        y[r] = acc;
    }
}
static void matvec_f16_scalar(const uint16_t *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * cols;
        float acc = 0.f;
        for (size_t c = 0; c < cols; c++) acc += vv_f16_to_f32(row[c]) * x[c];
        y[r] = acc;
    }
}

/* ---------------- AVX2 paths ---------------- */
#ifdef VV_X86
VV_AVX2 static inline __m256 load_bf16x8(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    __m256i w = _mm256_cvtepu16_epi32(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

VV_AVX2 static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

VV_AVX2 static void widen_bf16_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(src + i));
    for (; i < n; i++) dst[i] = vv_bf16_to_f32(src[i]);
}
VV_AVX2 static void widen_f16_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    for (; i < n; i++) dst[i] = vv_f16_to_f32(src[i]);
}

/* Four rows at a time share each load of x; four accumulators per row hide FMA latency. */
#define VV_MATVEC_AVX2(NAME, T, LOAD, SCALAR)                                                        \
VV_AVX2 static void NAME(const T *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) { \
    size_t r = r0;                                                                                   \
    for (; r + 4 <= r1; r += 4) {                                                                    \
        const T *a = w + r * cols, *b = a + cols, *c = b + cols, *d = c + cols;                      \
        __m256 sa0 = _mm256_setzero_ps(), sa1 = _mm256_setzero_ps();                                 \
        __m256 sb0 = _mm256_setzero_ps(), sb1 = _mm256_setzero_ps();                                 \
        __m256 sc0 = _mm256_setzero_ps(), sc1 = _mm256_setzero_ps();                                 \
        __m256 sd0 = _mm256_setzero_ps(), sd1 = _mm256_setzero_ps();                                 \
        size_t k = 0;                                                                                \
        for (; k + 16 <= cols; k += 16) {                                                            \
            __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);                     \
            sa0 = _mm256_fmadd_ps(LOAD(a + k), x0, sa0); sa1 = _mm256_fmadd_ps(LOAD(a + k + 8), x1, sa1); \
            sb0 = _mm256_fmadd_ps(LOAD(b + k), x0, sb0); sb1 = _mm256_fmadd_ps(LOAD(b + k + 8), x1, sb1); \
            sc0 = _mm256_fmadd_ps(LOAD(c + k), x0, sc0); sc1 = _mm256_fmadd_ps(LOAD(c + k + 8), x1, sc1); \
            sd0 = _mm256_fmadd_ps(LOAD(d + k), x0, sd0); sd1 = _mm256_fmadd_ps(LOAD(d + k + 8), x1, sd1); \
        }                                                                                            \
        float ya = vv_hsum256(_mm256_add_ps(sa0, sa1)), yb = vv_hsum256(_mm256_add_ps(sb0, sb1));          \
        float yc = vv_hsum256(_mm256_add_ps(sc0, sc1)), yd = vv_hsum256(_mm256_add_ps(sd0, sd1));          \
        for (; k < cols; k++) {                                                                      \
            ya += SCALAR(a[k]) * x[k]; yb += SCALAR(b[k]) * x[k];                                    \
            yc += SCALAR(c[k]) * x[k]; yd += SCALAR(d[k]) * x[k];                                    \
        }                                                                                            \
        y[r] = ya; y[r + 1] = yb; y[r + 2] = yc; y[r + 3] = yd;                                      \
    }                                                                                                \
    for (; r < r1; r++) {                                                                            \
        const T *a = w + r * cols;                                                                   \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                   \
        size_t k = 0;                                                                                \
        for (; k + 16 <= cols; k += 16) {                                                            \
            s0 = _mm256_fmadd_ps(LOAD(a + k), _mm256_loadu_ps(x + k), s0);                           \
            s1 = _mm256_fmadd_ps(LOAD(a + k + 8), _mm256_loadu_ps(x + k + 8), s1);                   \
        }                                                                                            \
        float acc = vv_hsum256(_mm256_add_ps(s0, s1));                                                  \
        for (; k < cols; k++) acc += SCALAR(a[k]) * x[k];                                            \
        y[r] = acc;                                                                                  \
    }                                                                                                \
}

#define VV_ID(v) (v)
VV_MATVEC_AVX2(matvec_f32_avx2, float, _mm256_loadu_ps, VV_ID)
VV_MATVEC_AVX2(matvec_f16_avx2, uint16_t, load_f16x8, vv_f16_to_f32)

/* Several activation rows (m <= 8) against the same weight rows, streaming each weight row once: row r of
 * W against x_j is computed exactly as the one-row kernel computes it (two accumulators over alternate
 * 8-wide chunks, the same reduction, the same scalar tail), so every output is bit-identical to a mat-vec
 * of that row alone. Up to four x rows share one pass over a weight row; a fifth to eighth reuse it from cache. */
#define VV_MATMUL_GROUP_AVX2(NAME, T, LOAD, SCALAR)                                                  \
VV_AVX2 static inline __attribute__((always_inline)) void NAME(const T *a, const float *x, size_t ldx,  \
                                                               float *y, size_t ldy, size_t cols, const int J) { \
    __m256 s0[4], s1[4];                                                                             \
    for (int j = 0; j < J; j++) { s0[j] = _mm256_setzero_ps(); s1[j] = _mm256_setzero_ps(); }       \
    size_t k = 0;                                                                                    \
    for (; k + 16 <= cols; k += 16) {                                                                \
        const __m256 w0 = LOAD(a + k), w1 = LOAD(a + k + 8);                                         \
        for (int j = 0; j < J; j++) {                                                                \
            s0[j] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + j * ldx + k), s0[j]);                    \
            s1[j] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + j * ldx + k + 8), s1[j]);                \
        }                                                                                            \
    }                                                                                                \
    for (int j = 0; j < J; j++) {                                                                    \
        float acc = vv_hsum256(_mm256_add_ps(s0[j], s1[j]));                                         \
        for (size_t t = k; t < cols; t++) acc += SCALAR(a[t]) * x[j * ldx + t];                      \
        y[j * ldy] = acc;                                                                            \
    }                                                                                                \
}

#define VV_MATMUL_AVX2(NAME, GROUP, T)                                                               \
VV_AVX2 static void NAME(const T *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy,     \
                         size_t cols, size_t r0, size_t r1) {                                        \
    for (size_t r = r0; r < r1; r++) {                                                               \
        const T *a = w + r * cols;                                                                   \
        for (size_t j0 = 0; j0 < m; j0 += 4) {                                                       \
            const float *xj = x + j0 * ldx;                                                          \
            float *yj = y + j0 * ldy + r;                                                            \
            switch (m - j0 >= 4 ? 4 : (int)(m - j0)) {                                               \
            case 4: GROUP(a, xj, ldx, yj, ldy, cols, 4); break;                                      \
            case 3: GROUP(a, xj, ldx, yj, ldy, cols, 3); break;                                      \
            case 2: GROUP(a, xj, ldx, yj, ldy, cols, 2); break;                                      \
            default: GROUP(a, xj, ldx, yj, ldy, cols, 1); break;                                     \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
}

VV_MATMUL_GROUP_AVX2(matmul_group_f32, float, _mm256_loadu_ps, VV_ID)
VV_MATMUL_GROUP_AVX2(matmul_group_f16, uint16_t, load_f16x8, vv_f16_to_f32)
VV_MATMUL_AVX2(matmul_f32_avx2, matmul_group_f32, float)
VV_MATMUL_AVX2(matmul_f16_avx2, matmul_group_f16, uint16_t)

/* bf16: a 32-byte load of 16 weights is widened by interleaving with zeros (unpacklo/hi_epi16),
 * which puts each bf16 in the high half of a 32-bit lane at no shift cost but permutes the order
 * within each 128-bit lane: lo = w0-3,w8-11 and hi = w4-7,w12-15. x is permuted the same way
 * once per call, so the dot products are unchanged. */
VV_AVX2 static void matvec_bf16_avx2(const uint16_t *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
    size_t body = cols & ~(size_t)15;
    float *xp = (float *)aligned_alloc(32, (body ? body : 16) * sizeof(float));
    if (!xp) { matvec_bf16_scalar(w, x, y, cols, r0, r1); return; }
    for (size_t k = 0; k < body; k += 16) {
        for (int j = 0; j < 4; j++) {
            xp[k + j] = x[k + j];           xp[k + 4 + j] = x[k + 8 + j];
            xp[k + 8 + j] = x[k + 4 + j];   xp[k + 12 + j] = x[k + 12 + j];
        }
    }
    const __m256i zero = _mm256_setzero_si256();
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint16_t *a = w + r * cols, *b = a + cols, *c = b + cols, *d = c + cols;
        __m256 sa0 = _mm256_setzero_ps(), sa1 = _mm256_setzero_ps();
        __m256 sb0 = _mm256_setzero_ps(), sb1 = _mm256_setzero_ps();
        __m256 sc0 = _mm256_setzero_ps(), sc1 = _mm256_setzero_ps();
        __m256 sd0 = _mm256_setzero_ps(), sd1 = _mm256_setzero_ps();
        for (size_t k = 0; k < body; k += 16) {
            __m256 xl = _mm256_load_ps(xp + k), xh = _mm256_load_ps(xp + k + 8);
            __m256i va = _mm256_loadu_si256((const __m256i *)(a + k));
            __m256i vb = _mm256_loadu_si256((const __m256i *)(b + k));
            __m256i vc = _mm256_loadu_si256((const __m256i *)(c + k));
            __m256i vd = _mm256_loadu_si256((const __m256i *)(d + k));
            sa0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va)), xl, sa0);
            sa1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va)), xh, sa1);
            sb0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vb)), xl, sb0);
            sb1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vb)), xh, sb1);
            sc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vc)), xl, sc0);
            sc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vc)), xh, sc1);
            sd0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vd)), xl, sd0);
            sd1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vd)), xh, sd1);
        }
        float ya = vv_hsum256(_mm256_add_ps(sa0, sa1)), yb = vv_hsum256(_mm256_add_ps(sb0, sb1));
        float yc = vv_hsum256(_mm256_add_ps(sc0, sc1)), yd = vv_hsum256(_mm256_add_ps(sd0, sd1));
        for (size_t k = body; k < cols; k++) {
            ya += vv_bf16_to_f32(a[k]) * x[k]; yb += vv_bf16_to_f32(b[k]) * x[k];
            yc += vv_bf16_to_f32(c[k]) * x[k]; yd += vv_bf16_to_f32(d[k]) * x[k];
        }
        y[r] = ya; y[r + 1] = yb; y[r + 2] = yc; y[r + 3] = yd;
    }
    for (; r < r1; r++) {
        const uint16_t *a = w + r * cols;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (size_t k = 0; k < body; k += 16) {
            __m256i va = _mm256_loadu_si256((const __m256i *)(a + k));
            s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va)), _mm256_load_ps(xp + k), s0);
            s1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va)), _mm256_load_ps(xp + k + 8), s1);
        }
        float acc = vv_hsum256(_mm256_add_ps(s0, s1));
        for (size_t k = body; k < cols; k++) acc += vv_bf16_to_f32(a[k]) * x[k];
        y[r] = acc;
    }
    free(xp);
}

/* bf16 against up to four permuted x rows at once; the arithmetic of matvec_bf16_avx2's per-row path. */
VV_AVX2 static inline __attribute__((always_inline)) void matmul_group_bf16(
        const uint16_t *a, const float *xp, size_t ldp, const float *x, size_t ldx, float *y, size_t ldy,
        size_t cols, size_t body, const int J) {
    const __m256i zero = _mm256_setzero_si256();
    __m256 s0[4], s1[4];
    for (int j = 0; j < J; j++) { s0[j] = _mm256_setzero_ps(); s1[j] = _mm256_setzero_ps(); }
    for (size_t k = 0; k < body; k += 16) {
        const __m256i va = _mm256_loadu_si256((const __m256i *)(a + k));
        const __m256 lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va));
        const __m256 hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va));
        for (int j = 0; j < J; j++) {
            s0[j] = _mm256_fmadd_ps(lo, _mm256_load_ps(xp + j * ldp + k), s0[j]);
            s1[j] = _mm256_fmadd_ps(hi, _mm256_load_ps(xp + j * ldp + k + 8), s1[j]);
        }
    }
    for (int j = 0; j < J; j++) {
        float acc = vv_hsum256(_mm256_add_ps(s0[j], s1[j]));
        for (size_t k = body; k < cols; k++) acc += vv_bf16_to_f32(a[k]) * x[j * ldx + k];
        y[j * ldy] = acc;
    }
}

VV_AVX2 static void matmul_bf16_avx2(const uint16_t *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy,
                                     size_t cols, size_t r0, size_t r1) {
    size_t body = cols & ~(size_t)15;
    size_t ldp = body ? body : 16;
    float *xp = (float *)aligned_alloc(32, m * ldp * sizeof(float));
    if (!xp) {
        for (size_t j = 0; j < m; j++) matvec_bf16_avx2(w, x + j * ldx, y + j * ldy, cols, r0, r1);
        return;
    }
    for (size_t j = 0; j < m; j++) {
        const float *xj = x + j * ldx;
        float *pj = xp + j * ldp;
        for (size_t k = 0; k < body; k += 16) {
            for (int t = 0; t < 4; t++) {
                pj[k + t] = xj[k + t];           pj[k + 4 + t] = xj[k + 8 + t];
                pj[k + 8 + t] = xj[k + 4 + t];   pj[k + 12 + t] = xj[k + 12 + t];
            }
        }
    }
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *a = w + r * cols;
        for (size_t j0 = 0; j0 < m; j0 += 4) {
            const float *pj = xp + j0 * ldp, *xj = x + j0 * ldx;
            float *yj = y + j0 * ldy + r;
            switch (m - j0 >= 4 ? 4 : (int)(m - j0)) {
            case 4: matmul_group_bf16(a, pj, ldp, xj, ldx, yj, ldy, cols, body, 4); break;
            case 3: matmul_group_bf16(a, pj, ldp, xj, ldx, yj, ldy, cols, body, 3); break;
            case 2: matmul_group_bf16(a, pj, ldp, xj, ldx, yj, ldy, cols, body, 2); break;
            default: matmul_group_bf16(a, pj, ldp, xj, ldx, yj, ldy, cols, body, 1); break;
            }
        }
    }
    free(xp);
}

#endif

int vv_cpu_has_avx2(void) {
#ifdef VV_X86
    /* Atomic: the first calls can come from several kernel threads at once (found by the thread sanitizer).
     * Each computes the same value, so relaxed ordering is enough. */
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}

int vv_cpu_has_avxvnni(void) {
#ifdef VV_X86
    static _Atomic int cached = -1;       /* atomic for the same reason as vv_cpu_has_avx2's */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = vv_cpu_has_avx2() && __builtin_cpu_supports("avxvnni");
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}

int vv_cpu_has_avx512vnni(void) {
#ifdef VV_X86
    static _Atomic int cached = -1;       /* atomic for the same reason as vv_cpu_has_avx2's */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        /* compiler-rt reports the AVX-512 features only when XCR0 shows the OS saves the 512-bit state. */
        v = vv_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vnni");
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}

int vv_cpu_has_avx512(void) {
#ifdef VV_X86
    __builtin_cpu_init();
    return vv_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512cd");
#else
    return 0;
#endif
}

int vv_kernels_simd_enabled(void) { return vv_cpu_has_avx2(); }

void vv_widen_bf16(const uint16_t *src, float *dst, size_t n) {
#ifdef VV_X86
    if (vv_cpu_has_avx2()) { widen_bf16_avx2(src, dst, n); return; }
#endif
    widen_bf16_scalar(src, dst, n);
}
void vv_widen_f16(const uint16_t *src, float *dst, size_t n) {
#ifdef VV_X86
    if (vv_cpu_has_avx2()) { widen_f16_avx2(src, dst, n); return; }
#endif
    widen_f16_scalar(src, dst, n);
}
void vv_matvec_f32(const float *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
#ifdef VV_X86
    if (vv_cpu_has_avx2()) { matvec_f32_avx2(w, x, y, cols, r0, r1); return; }
#endif
    matvec_f32_scalar(w, x, y, cols, r0, r1);
}
void vv_matvec_bf16(const uint16_t *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
#ifdef VV_X86
    if (vv_cpu_has_avx2()) { matvec_bf16_avx2(w, x, y, cols, r0, r1); return; }
#endif
    matvec_bf16_scalar(w, x, y, cols, r0, r1);
}
void vv_matvec_f16(const uint16_t *w, const float *x, float *y, size_t cols, size_t r0, size_t r1) {
#ifdef VV_X86
    if (vv_cpu_has_avx2()) { matvec_f16_avx2(w, x, y, cols, r0, r1); return; }
#endif
    matvec_f16_scalar(w, x, y, cols, r0, r1);
}

/* ---- several activation rows (m <= 8), each bit-identical to vv_matvec_* of that row ---- */

#define VV_MATMUL_DISPATCH(NAME, T, AVX2, MATVEC_SCALAR)                                              \
void NAME(const T *w, const float *x, size_t ldx, size_t m, float *y, size_t ldy, size_t cols,       \
          size_t r0, size_t r1) {                                                                     \
    VV_IF_AVX2(AVX2(w, x, ldx, m, y, ldy, cols, r0, r1); return;)                                     \
    for (size_t j = 0; j < m; j++) MATVEC_SCALAR(w, x + j * ldx, y + j * ldy, cols, r0, r1);         \
}
#ifdef VV_X86
#define VV_IF_AVX2(stmt) if (vv_cpu_has_avx2()) { stmt }
#else
#define VV_IF_AVX2(stmt)
#endif
VV_MATMUL_DISPATCH(vv_matmul_f32, float, matmul_f32_avx2, matvec_f32_scalar)
VV_MATMUL_DISPATCH(vv_matmul_bf16, uint16_t, matmul_bf16_avx2, matvec_bf16_scalar)
VV_MATMUL_DISPATCH(vv_matmul_f16, uint16_t, matmul_f16_avx2, matvec_f16_scalar)
