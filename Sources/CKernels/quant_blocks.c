/* Block-quantised weights, shared parts: Q8_0 and Q4_0 (32 values per block, one f16 scale per block; the
 * layouts and rounding of llama.cpp's formats of the same names, so the same weights quantise to the same bits).
 * Each format's quantiser and kernels live in quant_q8_0.c and quant_q4_0.c; this file holds the activation
 * quantisation and the one dispatch point between their AVX2 and scalar paths.
 *
 * A row of `cols` values is nb = ceil(cols / 32) blocks; the last block is zero-padded. Payload and
 * scales are separate planes: Q8_0 payload int8 [rows, nb*32], Q4_0 payload uint8 [rows, nb*16] where
 * byte j of a block holds value j in its low nibble and value j+16 in its high nibble, stored as q+8;
 * scales f16 [rows, nb]. Value = scale * q (Q8_0) or scale * (nibble - 8) (Q4_0).
 *
 * Mat-vec quantises the activation once to Q8 blocks (int8 with an f32 scale per block) and uses
 * integer multiply-adds. Every path gives bit-identical results: the scalar path reproduces the AVX2
 * path's eight float lanes (lane l holds the integer dot product of values 4l..4l+3 of each block,
 * accumulated with fused multiply-adds) and its final reduction order. */
#include "quant_internal.h"

/* Results must not depend on whether the compiler fuses a multiply and an add. */
#pragma STDC FP_CONTRACT OFF

#define VV_ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static int max_level = VV_QUANT_AVX512VNNI;

static int cpu_level(void) {
    if (vv_cpu_has_avx512vnni()) return VV_QUANT_AVX512VNNI;
    if (vv_cpu_has_avxvnni()) return VV_QUANT_AVXVNNI;
    return vv_cpu_has_avx2() ? VV_QUANT_AVX2 : VV_QUANT_SCALAR;
}

int vv_quant_level(void) {
    const int cpu = cpu_level();
    const int level = max_level < cpu ? max_level : cpu;
    /* The levels are ordered, the instruction sets not quite: Zen 4 has AVX-512 VNNI and not AVX-VNNI. */
    return level == VV_QUANT_AVXVNNI && !vv_cpu_has_avxvnni() ? VV_QUANT_AVX2 : level;
}

int vv_quant_set_max_level(int level) {
    max_level = level < VV_QUANT_SCALAR ? VV_QUANT_SCALAR : level;
    return vv_quant_level();
}

void vv_set_force_scalar(int on) { vv_quant_set_max_level(on ? VV_QUANT_SCALAR : VV_QUANT_AVX512VNNI); }

int vv_x8_default_matvec_streams(void) {
#ifdef VV_X86
    /* AMD Zen 4: two streams per thread made the multi-row products dearer (see quant_internal.h). */
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") ? 1 : 2;
#else
    return 2;
#endif
}

int vv_x8_matvec_streams = 2;

/* The CPU's default, set before any kernel runs (reading the global in the kernels stays a plain load). */
__attribute__((constructor)) static void vv_x8_init_matvec_streams(void) {
    vv_x8_matvec_streams = vv_x8_default_matvec_streams();
}

int vv_x8_set_matvec_streams(int streams) {
    if (streams > 0) vv_x8_matvec_streams = streams >= 2 ? 2 : 1;
    return vv_x8_matvec_streams;
}

size_t vv_q_blocks(size_t cols) { return (cols + QK - 1) / QK; }

/* ---------------- activation quantisation ---------------- */

/* Scalar block: the reference for the AVX2 path (same operations, same rounding: nearest-even). */
static void quantize_act_block_scalar(const float v[QK], int8_t *qx, float *dx) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(v[j]));
    const float dd = amax / 127.0f;
    const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
    *dx = dd;
    for (int j = 0; j < QK; j++) qx[j] = (int8_t)nearbyintf(v[j] * id);
}

#ifdef VV_X86
VV_AVX2 static void quantize_act_avx2(const float *x, size_t full, int8_t *qx, float *dx) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t b = 0; b < full; b++) {
        const float *p = x + b * QK;
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
        __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float dd = amax / 127.0f;
        const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
        dx[b] = dd;
        const __m256 mul = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), VV_ROUND_NEAREST));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), VV_ROUND_NEAREST));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), VV_ROUND_NEAREST));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), VV_ROUND_NEAREST));
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        _mm256_storeu_si256((__m256i *)(qx + b * QK), _mm256_permutevar8x32_epi32(i0, perm));
    }
}
#endif

void vv_quantize_act_q8(const float *x, size_t cols, int8_t *qx, float *dx) {
    size_t nb = vv_q_blocks(cols);
    size_t full = cols / QK;
    size_t b = 0;
#ifdef VV_X86
    if (vv_quant_level() >= VV_QUANT_AVX2) { quantize_act_avx2(x, full, qx, dx); b = full; }
#endif
    for (; b < nb; b++) {
        float v[QK];
        vv_q_load_block(x, cols, b, v);
        quantize_act_block_scalar(v, qx + b * QK, dx + b);
    }
}

/* ---------------- dispatch ---------------- */

void vv_matvec_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    switch (vv_quant_level()) {
    case VV_QUANT_AVX512VNNI: vv_matvec_q8_0_avx512vnni(q, d, qx, dx, y, nb, r0, r1); return;
    case VV_QUANT_AVXVNNI: vv_matvec_q8_0_avxvnni(q, d, qx, dx, y, nb, r0, r1); return;
    case VV_QUANT_AVX2: vv_matvec_q8_0_avx2(q, d, qx, dx, y, nb, r0, r1); return;
    default: break;
    }
#endif
    vv_matvec_q8_0_scalar(q, d, qx, dx, y, nb, r0, r1);
}

void vv_matvec_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx,
                    float *y, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    switch (vv_quant_level()) {
    case VV_QUANT_AVX512VNNI: vv_matvec_q4_0_avx512vl(q, d, qx, dx, y, nb, r0, r1); return;
    case VV_QUANT_AVXVNNI: vv_matvec_q4_0_avxvnni(q, d, qx, dx, y, nb, r0, r1); return;
    case VV_QUANT_AVX2: vv_matvec_q4_0_avx2(q, d, qx, dx, y, nb, r0, r1); return;
    default: break;
    }
#endif
    vv_matvec_q4_0_scalar(q, d, qx, dx, y, nb, r0, r1);
}

void vv_matmul_q8_0(const int8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    switch (vv_quant_level()) {
    case VV_QUANT_AVX512VNNI: vv_matmul_q8_0_avx512vl(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    case VV_QUANT_AVXVNNI: vv_matmul_q8_0_avxvnni(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    case VV_QUANT_AVX2: vv_matmul_q8_0_avx2(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    default: break;
    }
#endif
    for (size_t j = 0; j < m; j++) vv_matvec_q8_0_scalar(q, d, qx + j * nb * QK, dx + j * nb, y + j * ldy, nb, r0, r1);
}

void vv_matmul_q4_0(const uint8_t *q, const uint16_t *d, const int8_t *qx, const float *dx, size_t m,
                    float *y, size_t ldy, size_t nb, size_t r0, size_t r1) {
#ifdef VV_X86
    switch (vv_quant_level()) {
    case VV_QUANT_AVX512VNNI: vv_matmul_q4_0_avx512vl(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    case VV_QUANT_AVXVNNI: vv_matmul_q4_0_avxvnni(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    case VV_QUANT_AVX2: vv_matmul_q4_0_avx2(q, d, qx, dx, m, y, ldy, nb, r0, r1); return;
    default: break;
    }
#endif
    for (size_t j = 0; j < m; j++) vv_matvec_q4_0_scalar(q, d, qx + j * nb * QK, dx + j * nb, y + j * ldy, nb, r0, r1);
}
