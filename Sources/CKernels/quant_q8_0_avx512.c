/* The Q8_0 mat-vec with AVX-512 VNNI: two blocks per 512-bit vpdpbusd, and no sign trick. Each weight byte w
 * becomes the unsigned byte w + 128 (one XOR with 0x80), and the dot product starts from -128·Σx of the
 * activation's four values (computed once per call), so vpdpbusd gives the exact integer dot product of each
 * 4-value lane in one instruction (w = -128 included: 0·x - 128·Σx). The float part is the shared arithmetic of
 * quant_internal.h, lane for lane and block by block in order (the upper block's products are taken out of the
 * 512-bit register for their own fused multiply-add), so results equal the scalar path bit for bit.
 *
 * On a 2-core Intel host, 18944x3584 Q8_0, 2 threads, 40 alternated runs: 18.2 GB/s median against 16.4 for
 * the AVX-VNNI kernel, with a plain read of the same bytes at 18.7; from cache (256x3584, one thread) 30 against
 * 19-23 GB/s (both kernels then took four rows in lockstep). On the 2-core AMD EPYC (Zen 4) host, one row at a
 * time, it streams no faster than the AVX2 build (23.7-32.1 against 25.6-33.7 GB/s, 60 alternated runs): there
 * the stream is bound by memory either way. */
#include "quant_internal.h"

#pragma STDC FP_CONTRACT OFF

#ifdef VV_X86

/* Activation blocks whose -128·Σx lanes fit the stack buffer (32 KB); longer rows use the heap. */
#define BIAS_STACK_BLOCKS 1024

/* bias[8b + l] = -128 · (sum of values 4l..4l+3 of block b). */
VV_AVX512VNNI static void act_bias(const int8_t *qx, size_t nb, int32_t *bias) {
    const __m256i m80 = _mm256_set1_epi8((char)0x80);
    for (size_t b = 0; b < nb; b++) {
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), m80, _mm256_loadu_si256((const __m256i *)(qx + b * QK)));
        _mm256_storeu_si256((__m256i *)(bias + 8 * b), _mm256_sub_epi32(_mm256_setzero_si256(), s));
    }
}

/* One block, 256 bits: the partial group of fewer than 8 blocks at a row's end. */
VV_AVX512VNNI static inline __m256 dot1(const int8_t *w, const int8_t *x, const int32_t *bias) {
    const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)w), _mm256_set1_epi8((char)0x80));
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)bias), u,
                                                  _mm256_loadu_si256((const __m256i *)x)));
}

/* R weight rows (stride nb blocks) against one activation row: one row at a time, or four in lockstep for long
 * rows (VV_Q8_LOCKSTEP_BLOCKS in quant_internal.h). */
VV_AVX512VNNI static inline __attribute__((always_inline)) void rows_q8_0(const int8_t *q, const uint16_t *d,
        const int8_t *qx, const int32_t *bias, const float *dx, float *y, size_t nb, const int R) {
    const __m512i m80 = _mm512_set1_epi8((char)0x80);
    __m256 acc[4];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        float sc[4][8] __attribute__((aligned(32)));
        for (int i = 0; i < R; i++) _mm256_store_ps(sc[i], vv_q_scales8(d + i * nb + b, dx + b));
        vv_q8_prefetch_rows(q, nb, b, R);
        for (int k = 0; k < 8; k += 2) {
            const __m512i xv = _mm512_loadu_si512((const void *)(qx + (b + k) * QK));
            const __m512i bv = _mm512_loadu_si512((const void *)(bias + (b + k) * 8));
            for (int i = 0; i < R; i++) {
                const __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void *)(q + (i * nb + b + k) * QK)), m80);
                const __m512 dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(bv, u, xv));
                acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[i][k]), _mm512_castps512_ps256(dot), acc[i]);
                acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[i][k + 1]), _mm512_extractf32x8_ps(dot, 1), acc[i]);
            }
        }
    }
    for (; b < nb; b++) {
        for (int i = 0; i < R; i++) {
            const __m256 dot = dot1(q + (i * nb + b) * QK, qx + b * QK, bias + 8 * b);
            acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(d[i * nb + b]) * dx[b]), dot, acc[i]);
        }
    }
    for (int i = 0; i < R; i++) y[i] = vv_hsum256(acc[i]);
}

VV_AVX512VNNI void vv_matvec_q8_0_avx512vnni(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                                             float *y, size_t nb, size_t r0, size_t r1) {
    int32_t stack[BIAS_STACK_BLOCKS * 8];
    int32_t *bias = nb <= BIAS_STACK_BLOCKS ? stack : malloc(nb * 8 * sizeof(int32_t));
    if (!bias) { vv_matvec_q8_0_avx512vl(q, d, qx, dx, y, nb, r0, r1); return; }
    act_bias(qx, nb, bias);
    size_t r = r0;
    if (nb >= VV_Q8_LOCKSTEP_BLOCKS)
        for (; r + 4 <= r1; r += 4) rows_q8_0(q + r * nb * QK, d + r * nb, qx, bias, dx, y + r, nb, 4);
    for (; r < r1; r++) rows_q8_0(q + r * nb * QK, d + r * nb, qx, bias, dx, y + r, nb, 1);
    if (bias != stack) free(bias);
}
#endif
