/* Causal attention over a key/value cache, tiled with an online softmax (the flash-attention recurrence): keys
 * and values are read one tile of VV_ATT_TILE positions at a time, so scratch is bounded whatever the context and
 * no rows x context score matrix exists. The query rows of one call share the cache tiles: callers pass every
 * query head of one key/value head (grouped-query attention) for a few positions, so each tile is read once for
 * all of them.
 *
 * Per row r (a query vector q_r at position pos_r, keys 0...pos_r):
 *   s_j = scale * (q_r . k_j), masked to -inf past pos_r;  m' = max(m, max_j s_j);  a = exp(m - m');
 *   l = a*l + sum_j exp(s_j - m');  o = a*o + sum_j exp(s_j - m') v_j;   out_r = o / l.
 * Products use a 6-row x 16-column register tile (as fused_gemm.c); exp is a Cephes-style polynomial with
 * Cody-Waite reduction. The scalar path repeats the AVX2 path's operations lane for lane (bit-identical). */
#include "CKernels.h"
#include "fused_internal.h"

#pragma STDC FP_CONTRACT OFF

#define T VV_ATT_TILE
#define PANEL 16
#define ROWS 6

/* ---------------- exp (inputs below -87.3 give exactly 0, so masked scores vanish) ---------------- */

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365447504019f
#define LOG2E 1.44269504088896341f
#define LN2_C1 0.693359375f
#define LN2_C2 -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline float exp_scalar(float x) {
    if (!(x >= EXP_LO)) return 0.0f; /* also -inf (masked) */
    if (x > EXP_HI) x = EXP_HI;
    float n = nearbyintf(x * LOG2E);
    float r = fmaf(-n, LN2_C1, x);
    r = fmaf(-n, LN2_C2, r);
    float p = fmaf(fmaf(fmaf(fmaf(fmaf(EXP_P0, r, EXP_P1), r, EXP_P2), r, EXP_P3), r, EXP_P4), r, EXP_P5);
    float r2 = r * r;
    float y = fmaf(p, r2, r) + 1.0f;
    int32_t bits;
    memcpy(&bits, &y, 4);
    bits += (int32_t)n << 23;
    memcpy(&y, &bits, 4);
    return y;
}

#ifdef VV_X86
VV_AVX2 static inline __m256 exp8(__m256 x) {
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_GE_OQ);
    x = _mm256_min_ps(x, _mm256_set1_ps(EXP_HI));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_C1), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_C2), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), r, _mm256_set1_ps(EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    y = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), e));
    return _mm256_and_ps(y, keep);
}
#endif

/* ---------------- products: 6 rows (by pointer) x 16 columns of B (row stride ldb) ---------------- */

static void micro_scalar(size_t rows, const float *const *a, const float *b, size_t ldb, size_t k, float *const *c,
                         size_t nv, int accumulate) {
    float acc[ROWS][PANEL];
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < PANEL; j++) acc[r][j] = 0.0f;
    for (size_t kk = 0; kk < k; kk++)
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < PANEL; j++) acc[r][j] = fmaf(a[r][kk], b[kk * ldb + j], acc[r][j]);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < nv; j++) c[r][j] = accumulate ? c[r][j] + acc[r][j] : acc[r][j];
}

#ifdef VV_X86
#define ATT_FMA(r)                                              \
    if (R > r) {                                                \
        __m256 av = _mm256_broadcast_ss(a[r] + kk);             \
        c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);             \
        c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);             \
    }
#define ATT_OUT(r) \
    if (R > r) out_row(c##r##0, c##r##1, c[r], nv, accumulate);

VV_AVX2 static inline __attribute__((always_inline)) void out_row(__m256 v0, __m256 v1, float *c, size_t nv, int accumulate) {
    if (nv == PANEL) {
        if (accumulate) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
        return;
    }
    __m256i m0 = vv_lane_mask(nv < 8 ? nv : 8), m1 = vv_lane_mask(nv > 8 ? nv - 8 : 0);
    if (accumulate) {
        v0 = _mm256_add_ps(_mm256_maskload_ps(c, m0), v0);
        v1 = _mm256_add_ps(_mm256_maskload_ps(c + 8, m1), v1);
    }
    _mm256_maskstore_ps(c, m0, v0);
    _mm256_maskstore_ps(c + 8, m1, v1);
}

VV_AVX2 static inline __attribute__((always_inline))
void micro_avx2(const int R, const float *const *a, const float *b, size_t ldb, size_t k, float *const *c, size_t nv,
                int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t kk = 0; kk < k; kk++) {
        __m256 b0 = _mm256_loadu_ps(b + kk * ldb), b1 = _mm256_loadu_ps(b + kk * ldb + 8);
        ATT_FMA(0) ATT_FMA(1) ATT_FMA(2) ATT_FMA(3) ATT_FMA(4) ATT_FMA(5)
    }
    ATT_OUT(0) ATT_OUT(1) ATT_OUT(2) ATT_OUT(3) ATT_OUT(4) ATT_OUT(5)
}

VV_AVX2 static void micro_dispatch(size_t rows, const float *const *a, const float *b, size_t ldb, size_t k,
                                   float *const *c, size_t nv, int accumulate) {
    switch (rows) {
    case 6: micro_avx2(6, a, b, ldb, k, c, nv, accumulate); break;
    case 5: micro_avx2(5, a, b, ldb, k, c, nv, accumulate); break;
    case 4: micro_avx2(4, a, b, ldb, k, c, nv, accumulate); break;
    case 3: micro_avx2(3, a, b, ldb, k, c, nv, accumulate); break;
    case 2: micro_avx2(2, a, b, ldb, k, c, nv, accumulate); break;
    default: micro_avx2(1, a, b, ldb, k, c, nv, accumulate); break;
    }
}
#endif

/* c[r][0..n) (=|+=) sum_kk a[r][kk] * b[kk][j], b with row stride ldb; panels of 16 columns at b + 16p. */
static void product(size_t rows, const float *const *a, const float *b, size_t ldb, size_t k, size_t n,
                    float *const *c, int accumulate, int simd) {
    const float *ap[ROWS];
    float *cp[ROWS];
    for (size_t p = 0; p * PANEL < n; p++) {
        size_t nv = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
        for (size_t i = 0; i < rows; i += ROWS) {
            size_t rr = rows - i < ROWS ? rows - i : ROWS;
            for (size_t r = 0; r < rr; r++) { ap[r] = a[i + r]; cp[r] = c[i + r] + p * PANEL; }
#ifdef VV_X86
            if (simd) { micro_dispatch(rr, ap, b + p * PANEL, ldb, k, cp, nv, accumulate); continue; }
#endif
            micro_scalar(rr, ap, b + p * PANEL, ldb, k, cp, nv, accumulate);
        }
    }
    (void)simd;
}

/* ---------------- the attention recurrence ---------------- */

static inline size_t round16(size_t n) { return (n + 15) / 16 * 16; }

static inline float load_kv(const void *base, int f16, size_t i) {
    return f16 ? vv_f16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

size_t vv_attention_scratch_floats(size_t rows, size_t hd) {
    /* K tile transposed [hd][T], V tile [T][round16(hd)], scores [rows][T], o [rows][hd], m and l [rows] */
    return T * hd + T * round16(hd) + rows * T + rows * hd + 2 * rows;
}

#ifdef VV_X86
VV_AVX2 static void widen_f16_row(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = vv_f16_to_f32(src[i]);
}

/* Scores of one row: scale, mask past `valid`, tile max. Returns the max (-inf when all masked). */
VV_AVX2 static float scores_row_avx2(float *s, size_t nk, size_t valid, float scale) {
    __m256 sc = _mm256_set1_ps(scale), mx = _mm256_set1_ps(-INFINITY);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    size_t j = 0;
    for (; j + 8 <= nk; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + j), sc);
        __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)j), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 dead = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32((int)valid - 1)));
        v = _mm256_blendv_ps(v, ninf, dead);
        _mm256_storeu_ps(s + j, v);
        mx = _mm256_max_ps(mx, v);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float m = _mm_cvtss_f32(m4);
    for (; j < nk; j++) {
        float v = j < valid ? s[j] * scale : -INFINITY;
        s[j] = v;
        if (v > m) m = v;
    }
    return m;
}

/* p_j = exp(s_j - m) in place; returns sum_j p_j (eight lanes, then the tail, as the scalar twin). */
VV_AVX2 static float exp_row_avx2(float *s, size_t nk, float m) {
    __m256 mv = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= nk; j += 8) {
        __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
        _mm256_storeu_ps(s + j, p);
        acc = _mm256_add_ps(acc, p);
    }
    float sum = vv_hsum256(acc);
    for (; j < nk; j++) { s[j] = exp_scalar(s[j] - m); sum += s[j]; }
    return sum;
}

VV_AVX2 static void scale_row_avx2(float *o, size_t hd, float a) {
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), av));
    for (; i < hd; i++) o[i] *= a;
}
#endif

static float scores_row_scalar(float *s, size_t nk, size_t valid, float scale) {
    float lanes[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    size_t j = 0;
    for (; j + 8 <= nk; j += 8)
        for (int l = 0; l < 8; l++) {
            float v = j + l < valid ? s[j + l] * scale : -INFINITY;
            s[j + l] = v;
            if (v > lanes[l]) lanes[l] = v;
        }
    float m = -INFINITY;
    for (int l = 0; l < 8; l++) if (lanes[l] > m) m = lanes[l];
    for (; j < nk; j++) {
        float v = j < valid ? s[j] * scale : -INFINITY;
        s[j] = v;
        if (v > m) m = v;
    }
    return m;
}

static float exp_row_scalar(float *s, size_t nk, float m) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= nk; j += 8)
        for (int l = 0; l < 8; l++) { s[j + l] = exp_scalar(s[j + l] - m); lanes[l] = lanes[l] + s[j + l]; }
    float sum = vv_hsum8(lanes);
    for (; j < nk; j++) { s[j] = exp_scalar(s[j] - m); sum += s[j]; }
    return sum;
}

/* The K tile transposed, kt[d][j] = k[j0 + j][d], zero past nk up to the panel edge nkp. Whole 8 x 8 blocks go
 * through an AVX2 transpose (moves only: the same values as the scalar loop). */
#ifdef VV_X86
VV_AVX2 static inline __m256 load8_kv(const void *base, int f16, size_t i) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

VV_AVX2 static void transpose8_kv(float *kt, const void *keys, int f16, size_t j0, size_t j, size_t d, size_t hd) {
    __m256 r0 = load8_kv(keys, f16, (j0 + j + 0) * hd + d), r1 = load8_kv(keys, f16, (j0 + j + 1) * hd + d);
    __m256 r2 = load8_kv(keys, f16, (j0 + j + 2) * hd + d), r3 = load8_kv(keys, f16, (j0 + j + 3) * hd + d);
    __m256 r4 = load8_kv(keys, f16, (j0 + j + 4) * hd + d), r5 = load8_kv(keys, f16, (j0 + j + 5) * hd + d);
    __m256 r6 = load8_kv(keys, f16, (j0 + j + 6) * hd + d), r7 = load8_kv(keys, f16, (j0 + j + 7) * hd + d);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float *o = kt + d * T + j;
    _mm256_storeu_ps(o + 0 * T, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(o + 1 * T, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(o + 2 * T, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(o + 3 * T, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(o + 4 * T, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(o + 5 * T, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(o + 6 * T, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(o + 7 * T, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

static void pack_keys(float *kt, const void *keys, int f16, size_t j0, size_t nk, size_t nkp, size_t hd, int simd) {
    size_t jb = 0, db = 0;
#ifdef VV_X86
    if (simd) {
        jb = nk / 8 * 8;
        db = hd / 8 * 8;
        for (size_t j = 0; j < jb; j += 8)
            for (size_t d = 0; d < db; d += 8) transpose8_kv(kt, keys, f16, j0, j, d, hd);
    }
#endif
    (void)simd;
    for (size_t j = 0; j < nkp; j++)
        for (size_t d = j < jb ? db : 0; d < hd; d++) kt[d * T + j] = j < nk ? load_kv(keys, f16, (j0 + j) * hd + d) : 0.0f;
}

void vv_attention_rows(const float *const *q, const size_t *pos, size_t rows, const void *keys, const void *values,
                       int kv_f16, size_t hd, float scale, float *const *out, float *scratch) {
    if (rows == 0 || rows > VV_ATT_MAX_ROWS) return;
    int simd = vv_fused_simd();
    const size_t hdp = round16(hd);
    float *kt = scratch, *vt = kt + T * hd, *s = vt + T * hdp, *o = s + rows * T, *m = o + rows * hd, *l = m + rows;
    size_t keys_needed = 0;
    for (size_t r = 0; r < rows; r++) {
        if (pos[r] + 1 > keys_needed) keys_needed = pos[r] + 1;
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (size_t i = 0; i < hd; i++) o[r * hd + i] = 0.0f;
    }
    const float *qa[VV_ATT_MAX_ROWS], *pa[VV_ATT_MAX_ROWS];
    float *sa[VV_ATT_MAX_ROWS], *oa[VV_ATT_MAX_ROWS];
    size_t live_rows[VV_ATT_MAX_ROWS];
    for (size_t j0 = 0; j0 < keys_needed; j0 += T) {
        const size_t nk = keys_needed - j0 < T ? keys_needed - j0 : T, nkp = round16(nk);
        pack_keys(kt, keys, kv_f16, j0, nk, nkp, hd, simd);
        /* V tile with rows padded to whole panels. */
        for (size_t j = 0; j < nk; j++) {
            float *dst = vt + j * hdp;
            if (kv_f16) {
#ifdef VV_X86
                if (simd) widen_f16_row((const uint16_t *)values + (j0 + j) * hd, dst, hd);
                else
#endif
                for (size_t d = 0; d < hd; d++) dst[d] = vv_f16_to_f32(((const uint16_t *)values)[(j0 + j) * hd + d]);
            } else {
                memcpy(dst, (const float *)values + (j0 + j) * hd, hd * sizeof(float));
            }
            for (size_t d = hd; d < hdp; d++) dst[d] = 0.0f;
        }
        /* Rows whose position lies before this tile see none of it. */
        size_t live = 0;
        for (size_t r = 0; r < rows; r++) {
            if (pos[r] < j0) continue;
            live_rows[live] = r;
            qa[live] = q[r];
            sa[live] = s + r * T;
            pa[live] = s + r * T;
            oa[live] = o + r * hd;
            live++;
        }
        if (!live) continue;
        product(live, qa, kt, T, hd, nk, sa, 0, simd);
        for (size_t i = 0; i < live; i++) {
            size_t r = live_rows[i];
            size_t valid = pos[r] - j0 + 1;
            if (valid > nk) valid = nk;
            float *sr = s + r * T;
            float mx;
#ifdef VV_X86
            if (simd) mx = scores_row_avx2(sr, nk, valid, scale); else
#endif
            mx = scores_row_scalar(sr, nk, valid, scale);
            float mnew = mx > m[r] ? mx : m[r];
            float a = exp_scalar(m[r] - mnew);
            float sum;
#ifdef VV_X86
            if (simd) sum = exp_row_avx2(sr, nk, mnew); else
#endif
            sum = exp_row_scalar(sr, nk, mnew);
            l[r] = a * l[r] + sum;
            if (a != 1.0f) {
#ifdef VV_X86
                if (simd) scale_row_avx2(o + r * hd, hd, a); else
#endif
                for (size_t d = 0; d < hd; d++) o[r * hd + d] *= a;
            }
            m[r] = mnew;
        }
        product(live, pa, vt, hdp, nk, hd, oa, 1, simd);
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t d = 0; d < hd; d++) out[r][d] = o[r * hd + d] / l[r];
}

/* ---------------- f16 conversions for the cache ---------------- */

#ifdef VV_X86
VV_AVX2 static size_t to_f16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    return i;
}
#endif

void vv_narrow_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
#ifdef VV_X86
    if (vv_fused_simd()) i = to_f16_avx2(src, dst, n);
#endif
    for (; i < n; i++) dst[i] = vv_f32_to_f16(src[i]);
}
