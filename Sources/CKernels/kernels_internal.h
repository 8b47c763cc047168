#ifndef CKERNELS_INTERNAL_H
#define CKERNELS_INTERNAL_H
/* Helpers shared by the kernel files: element conversions, the AVX2 switch and reductions. */
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#define VV_X86 1
#include <immintrin.h>
#define VV_AVX2 __attribute__((target("avx2,fma,f16c")))
#define VV_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
/* AVX-512 VNNI without AVX-VNNI (AMD Zen 4, Intel Ice Lake and Cascade Lake have the first only): the 256-bit
 * _mm256_dpbusd_epi32 is then EVEX-encoded (AVX512VL). "avxvnni" must stay out of this target, or the compiler may
 * pick the shorter VEX encoding that those CPUs fault on. */
#define VV_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#endif

/* 1 when the CPU has AVX2, FMA and F16C (checked once). */
int vv_cpu_has_avx2(void);
/* 1 when the CPU also has AVX-VNNI (256-bit vpdpbusd; checked once). */
int vv_cpu_has_avxvnni(void);
/* 1 when the CPU also has AVX-512 F, BW, VL, DQ and VNNI, with the OS saving their state (checked once). */
int vv_cpu_has_avx512vnni(void);

static inline float vv_bf16_to_f32(uint16_t h) {
    uint32_t bits = ((uint32_t)h) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float vv_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal */
            int e = -1;
            do { e++; mant <<= 1; } while ((mant & 0x400) == 0);
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* f32 -> f16 with round-to-nearest-even, as F16C's vcvtps2ph with rounding mode 0 (subnormals kept,
 * overflow to infinity, NaN stays NaN). */
static inline uint16_t vv_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) { /* inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0));
    }
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (absx < 0x38800000u) { /* below the smallest normal f16: subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t e = absx >> 23;
        uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14 + (113 - e) */
        uint32_t q = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (absx >> 23) - 112;
    uint32_t mant = absx & 0x7fffffu;
    uint32_t h = (e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

#ifdef VV_X86
/* ((v0+v4)+(v1+v5)) + ((v2+v6)+(v3+v7)): the order the scalar paths reproduce. */
VV_AVX2 static inline float vv_hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
}
#endif

/* The scalar twin of vv_hsum256 over 8 lanes. */
static inline float vv_hsum8(const float v[8]) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

#endif
