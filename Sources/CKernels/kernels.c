// AVX2 versions of AttentionKit's hottest float32 loops (see CKernels.h). Only the functions marked with the avx2
// target attribute use AVX2; the file itself builds for baseline x86-64, and `ak_has_avx2` decides at run time.
// No fused multiply-adds (contraction off, and the fma feature is never enabled): every operation is the one the
// Swift loop performs, so the results are the same bits.
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

// OpenBLAS's own entry points (not in cblas.h). Weak, so that CKernels links without OpenBLAS; the library links it.
extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

// 0: SSE-era kernels, 1: AVX (no AVX2), 2: AVX2, 3: AVX-512, -1: a name this list does not know (left alone).
static int openblas_core_rank(const char *core) {
    static const char *const sse[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                      "coppermine", "northwood", "banias", "athlon", "opteron", "opteron_sse3",
                                      "barcelona", "nano", "bobcat", "unknown"};
    static const char *const avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"};
    static const char *const avx2[] = {"haswell", "zen"};
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof sse / sizeof *sse; i++)
        if (strcasecmp(core, sse[i]) == 0) return 0;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (strcasecmp(core, avx[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcasecmp(core, avx2[i]) == 0) return 2;
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(core, avx512[i]) == 0) return 3;
    return -1;
}

static void copy_core_name(char *name, long size) {
    if (size <= 0) return;
    const char *core = openblas_get_corename ? openblas_get_corename() : NULL;
    strncpy(name, core ? core : "", (size_t)size - 1);
    name[size - 1] = 0;
}

int ak_openblas_choose_core(char *name, long size) {
    int switched = 0;
#if defined(__x86_64__)
    if (openblas_get_corename && gotoblas_dynamic_init && gotoblas_dynamic_quit && !getenv("OPENBLAS_CORETYPE")) {
        const char *core = openblas_get_corename();
        int rank = core ? openblas_core_rank(core) : -1;
        __builtin_cpu_init();
        int hasAVX512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
        int hasAVX2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        if (rank >= 0 && rank < 2 && hasAVX2) {
            setenv("OPENBLAS_CORETYPE", hasAVX512 ? "SkylakeX" : "Haswell", 0);
            gotoblas_dynamic_quit();
            gotoblas_dynamic_init();
            switched = 1;
        }
    }
#endif
    copy_core_name(name, size);
    return switched;
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#pragma clang fp contract(off)

int ak_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}

#define AVX2 __attribute__((target("avx2")))

// cond ? a : b, lane by lane (cond all ones or all zeros)
AVX2 static inline __m256 select8(__m256 cond, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, cond); }

// fastExp's arithmetic on the clamped input xc, for any vector width: m = xc·log2(e) + 1.5·2²³ (n rounded into m's
// low mantissa bits), n = m − 1.5·2²³, r = xc − n·ln2 (in two parts), p the degree-6 polynomial of e^r
#define EXP_POLYNOMIAL(V, mul, add, sub, set1)                                                                      \
    const V m = add(mul(xc, set1(1.44269504f)), magic);                                                          \
    const V n = sub(m, magic);                                                                                     \
    const V r = sub(sub(xc, mul(n, set1(0.693145751953125f))), mul(n, set1(1.428606765330187e-06f)));             \
    V p = set1(1.0f / 720.0f);                                                                                     \
    p = add(mul(p, r), set1(1.0f / 120.0f));                                                                       \
    p = add(mul(p, r), set1(1.0f / 24.0f));                                                                        \
    p = add(mul(p, r), set1(1.0f / 6.0f));                                                                         \
    p = add(mul(p, r), set1(0.5f));                                                                                \
    p = add(mul(p, r), set1(1.0f));                                                                                \
    p = add(mul(p, r), set1(1.0f));

// fastExp (FastMath.swift): 2^n·p(r), the input clamped to [-87.3, 88.7], exactly 0 below -87.3, NaN kept.
AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.7f), magic = _mm256_set1_ps(12582912.0f);
    const __m256 below = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = select8(_mm256_cmp_ps(x, hi, _CMP_GT_OQ), hi, x);
    xc = select8(below, lo, xc);
    EXP_POLYNOMIAL(__m256, _mm256_mul_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_set1_ps)
    const __m256i k = _mm256_sub_epi32(_mm256_castps_si256(m), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
    return _mm256_andnot_ps(below, _mm256_mul_ps(p, scale));
}

// the softmax statistics' max: 8 lanes over the full blocks, m_i = s >= m_i ? s : m_i (Swift.max(m_i, s); NaN never
// taken), the lanes in a fixed tree, then the tail in order; 0 for a row of all −∞
AVX2 static inline float statistics_max(const float *s, long n) {
    const long blocks = n - n % 8;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    long j = 0;
    for (; j < blocks; j += 8) {
        const __m256 v = _mm256_loadu_ps(s + j);
        mv = select8(_mm256_cmp_ps(v, mv, _CMP_GE_OQ), v, mv);
    }
    float l[8];
    _mm256_storeu_ps(l, mv);
#define MAX2(a, b) ((b) >= (a) ? (b) : (a))
    float m = MAX2(MAX2(MAX2(l[0], l[1]), MAX2(l[2], l[3])), MAX2(MAX2(l[4], l[5]), MAX2(l[6], l[7])));
    for (; j < n; j++) m = MAX2(m, s[j]);
#undef MAX2
    return m == -INFINITY ? 0 : m;
}

AVX2 void ak_softmax_statistics_avx2(const float *s, float *d, long n, float *maxOut, float *sumOut) {
    const long blocks = n - n % 8;
    const float m = statistics_max(s, n);
    const __m256 m8 = _mm256_set1_ps(m);
    __m256 z = _mm256_setzero_ps();
    long j;
    for (j = 0; j < blocks; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m8));
        _mm256_storeu_ps(d + j, e);
        z = _mm256_add_ps(z, e);
    }
    if (j < n) {  // the tail through the same 8-lane code, padded
        float t[8] = {0};
        for (long i = j; i < n; i++) t[i - j] = s[i] - m;
        _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
        for (long i = j; i < n; i++) d[i] = t[i - j];
    }
    float zl[8];
    _mm256_storeu_ps(zl, z);
    float sum = ((zl[0] + zl[1]) + (zl[2] + zl[3])) + ((zl[4] + zl[5]) + (zl[6] + zl[7]));
    for (j = blocks; j < n; j++) sum += d[j];
    *maxOut = m;
    *sumOut = sum;
}

// Swift's SIMD16<Float>.sum(): the 16 lanes added in order, from −0
static inline float sum16_in_order(const float l[16]) {
    float r = -0.0f;
    for (int i = 0; i < 16; i++) r += l[i];
    return r;
}

AVX2 float ak_scale_max_avx2(float *x, long n, float scale) {
    const __m256 s8 = _mm256_set1_ps(scale);
    __m256 mv = _mm256_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), s8);
        _mm256_storeu_ps(x + j, v);
        mv = select8(_mm256_cmp_ps(v, mv, _CMP_GE_OQ), v, mv);
    }
    float l[8];
    _mm256_storeu_ps(l, mv);
    float m = -INFINITY;
    for (int i = 0; i < 8; i++) m = l[i] >= m ? l[i] : m;
    for (; j < n; j++) {
        x[j] *= scale;
        m = x[j] >= m ? x[j] : m;
    }
    return m;
}

AVX2 void ak_softmax_row_finish_avx2(float *x, long n, float m) {
    const __m256 m8 = _mm256_set1_ps(m);
    long j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), m8)));
    if (j < n) {  // the tail through the same 8-lane code, padded
        float t[8] = {0};
        for (long i = j; i < n; i++) t[i - j] = x[i] - m;
        _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
        for (long i = j; i < n; i++) x[i] = t[i - j];
    }
    // vectorSum: 16 lanes (two 8-lane halves) over the full blocks of 16, those lanes in order, then the tail in order
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(x + i + 8));
    }
    float l[16];
    _mm256_storeu_ps(l, a);
    _mm256_storeu_ps(l + 8, b);
    float z = sum16_in_order(l);
    for (; i < n; i++) z += x[i];
    const float rz = 1.0f / z;
    const __m256 r8 = _mm256_set1_ps(rz);
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), r8));
    for (; j < n; j++) x[j] *= rz;
}

// fastErf (FastMath.swift): x·P(x²)/Q(x²) on x clamped to [-4, 4]. Its subtractions `a − c` are written as additions
// of −c here, which IEEE arithmetic computes exactly alike.
static const float erfP[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                              -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                              -1.60960333262415e-02f};
static const float erfQ[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                              -7.37332916720468e-03f, -1.42647390514189e-02f};

AVX2 static inline __m256 erf8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-4.0f), hi = _mm256_set1_ps(4.0f);
    __m256 xc = select8(_mm256_cmp_ps(x, hi, _CMP_GT_OQ), hi, x);
    xc = select8(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), lo, xc);
    const __m256 x2 = _mm256_mul_ps(xc, xc);
    __m256 p = _mm256_set1_ps(erfP[0]), q = _mm256_set1_ps(erfQ[0]);
    for (int i = 1; i < 7; i++) p = _mm256_add_ps(_mm256_mul_ps(p, x2), _mm256_set1_ps(erfP[i]));
    for (int i = 1; i < 5; i++) q = _mm256_add_ps(_mm256_mul_ps(q, x2), _mm256_set1_ps(erfQ[i]));
    return _mm256_div_ps(_mm256_mul_ps(xc, p), q);
}

AVX2 void ak_gelu_erf_avx2(const float *x, float *y, long n) {
    const __m256 c = _mm256_set1_ps(0.70710678f), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    for (long j = 0; j < n; j += 8) {
        float t[8] = {0};
        const long lanes = n - j < 8 ? n - j : 8;
        const float *p = x + j;
        float *q = y + j;
        if (lanes < 8) {  // the tail through the same 8-lane code, padded
            for (long i = 0; i < lanes; i++) t[i] = p[i];
            p = q = t;
        }
        const __m256 v = _mm256_loadu_ps(p);
        const __m256 e = erf8(_mm256_mul_ps(v, c));
        _mm256_storeu_ps(q, _mm256_mul_ps(_mm256_mul_ps(v, _mm256_add_ps(one, e)), half));
        if (lanes < 8)
            for (long i = 0; i < lanes; i++) y[j + i] = t[i];
    }
}

// (Φ(x), φ(x)) as FastMath.swift's normalCDFAndPDF: ((1 + fastErf(x·0.70710678))·0.5, fastExp((−0.5·x)·x)·0.39894228)
#define GELU_GRAD_BODY(V, erf, exp, mul, add, set1)                                                                 \
    const V cdf = mul(add(set1(1.0f), erf(mul(x, set1(0.70710678f)))), set1(0.5f));                                \
    const V pdf = mul(exp(mul(mul(set1(-0.5f), x), x)), set1(0.39894228f));                                          \
    const V value = mul(x, cdf), grad = mul(g, add(cdf, mul(x, pdf)));

AVX2 void ak_gelu_erf_and_grad_avx2(const float *gp, const float *xp, float *valueOut, float *gradOut, long n) {
    for (long j = 0; j < n; j += 8) {
        const long lanes = n - j < 8 ? n - j : 8;
        float tg[8] = {0}, tx[8] = {0};
        const float *pg = gp + j, *px = xp + j;
        if (lanes < 8) {  // the tail through the same 8-lane code, padded
            for (long i = 0; i < lanes; i++) tg[i] = pg[i], tx[i] = px[i];
            pg = tg, px = tx;
        }
        const __m256 g = _mm256_loadu_ps(pg), x = _mm256_loadu_ps(px);
        GELU_GRAD_BODY(__m256, erf8, exp8, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps)
        if (lanes == 8) {
            _mm256_storeu_ps(valueOut + j, value);
            _mm256_storeu_ps(gradOut + j, grad);
        } else {
            _mm256_storeu_ps(tg, value);
            _mm256_storeu_ps(tx, grad);
            for (long i = 0; i < lanes; i++) valueOut[j + i] = tg[i], gradOut[j + i] = tx[i];
        }
    }
}

#define AVX512F __attribute__((target("avx512f")))

int ak_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

// erf8 on 16 lanes: the same operations per lane, so the same bits
AVX512F static inline __m512 erf16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-4.0f), hi = _mm512_set1_ps(4.0f);
    __m512 xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), x, hi);
    xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), xc, lo);
    const __m512 x2 = _mm512_mul_ps(xc, xc);
    __m512 p = _mm512_set1_ps(erfP[0]), q = _mm512_set1_ps(erfQ[0]);
    for (int i = 1; i < 7; i++) p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(erfP[i]));
    for (int i = 1; i < 5; i++) q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(erfQ[i]));
    return _mm512_div_ps(_mm512_mul_ps(xc, p), q);
}

AVX512F void ak_gelu_erf_avx512(const float *x, float *y, long n) {
    const __m512 c = _mm512_set1_ps(0.70710678f), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    for (long j = 0; j < n; j += 16) {
        const long lanes = n - j < 16 ? n - j : 16;
        const __mmask16 m = lanes == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << lanes) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + j);  // the tail's missing lanes are zeros, never stored
        const __m512 e = erf16(_mm512_mul_ps(v, c));
        _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_mul_ps(v, _mm512_add_ps(one, e)), half));
    }
}

// exp8 on 16 lanes: the same operations per lane, so the same bits (the lanes below -87.3 zeroed by a mask move,
// as andnot zeroes them there)
AVX512F static inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.7f), magic = _mm512_set1_ps(12582912.0f);
    const __mmask16 below = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    __m512 xc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), x, hi);
    xc = _mm512_mask_blend_ps(below, xc, lo);
    EXP_POLYNOMIAL(__m512, _mm512_mul_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_set1_ps)
    const __m512i k = _mm512_sub_epi32(_mm512_castps_si512(m), _mm512_set1_epi32(0x4B400000));
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23));
    return _mm512_maskz_mov_ps((__mmask16)~below, _mm512_mul_ps(p, scale));
}

// ak_softmax_statistics_avx2 with the exponentials 16 lanes at a time. The max is the 8-lane pass's; each 16-lane
// block's two halves are added to the same 8-lane sum one after the other, elements j, j+8, j+16, … in order in lane
// j mod 8, exactly as the 8-lane loop adds them: the same bits.
AVX512F void ak_softmax_statistics_avx512(const float *s, float *d, long n, float *maxOut, float *sumOut) {
    const long blocks = n - n % 8;
    const float m = statistics_max(s, n);
    const __m512 m16 = _mm512_set1_ps(m);
    __m256 z = _mm256_setzero_ps();
    long j;
    for (j = 0; j < blocks; j += 16) {
        const long lanes = blocks - j < 16 ? 8 : 16;  // a last block of 8
        const __mmask16 mask = lanes == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), m16));
        _mm512_mask_storeu_ps(d + j, mask, e);
        z = _mm256_add_ps(z, _mm512_castps512_ps256(e));
        if (lanes == 16) z = _mm256_add_ps(z, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
    if (blocks < n) {  // the tail through the same code, its missing lanes zeros (never stored)
        const __mmask16 mask = (__mmask16)((1u << (n - blocks)) - 1);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + blocks), m16));
        _mm512_mask_storeu_ps(d + blocks, mask, e);
    }
    float zl[8];
    _mm256_storeu_ps(zl, z);
    float sum = ((zl[0] + zl[1]) + (zl[2] + zl[3])) + ((zl[4] + zl[5]) + (zl[6] + zl[7]));
    for (j = blocks; j < n; j++) sum += d[j];
    *maxOut = m;
    *sumOut = sum;
}

AVX512F float ak_scale_max_avx512(float *x, long n, float scale) {
    const __m512 s16 = _mm512_set1_ps(scale);
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (long j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), s16);
        _mm512_mask_storeu_ps(x + j, k, v);
        mv = _mm512_mask_blend_ps(_mm512_mask_cmp_ps_mask(k, v, mv, _CMP_GE_OQ), mv, v);
    }
    float l[16];
    _mm512_storeu_ps(l, mv);
    float m = -INFINITY;
    for (int i = 0; i < 16; i++) m = l[i] >= m ? l[i] : m;
    return m;
}

AVX512F void ak_softmax_row_finish_avx512(float *x, long n, float m) {
    const __m512 m16 = _mm512_set1_ps(m);
    __m512 acc = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), m16));
        _mm512_storeu_ps(x + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (j < n) {  // the tail: its exponentials through the same code, added one by one after the lanes
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(x + j, k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), m16)));
    }
    float l[16];
    _mm512_storeu_ps(l, acc);
    float z = sum16_in_order(l);
    for (long i = j; i < n; i++) z += x[i];
    const float rz = 1.0f / z;
    const __m512 r16 = _mm512_set1_ps(rz);
    for (j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), r16));
    }
}

AVX512F void ak_gelu_erf_and_grad_avx512(const float *gp, const float *xp, float *valueOut, float *gradOut, long n) {
    for (long j = 0; j < n; j += 16) {
        const long lanes = n - j < 16 ? n - j : 16;
        const __mmask16 m = lanes == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << lanes) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gp + j), x = _mm512_maskz_loadu_ps(m, xp + j);
        GELU_GRAD_BODY(__m512, erf16, exp16, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps)
        _mm512_mask_storeu_ps(valueOut + j, m, value);
        _mm512_mask_storeu_ps(gradOut + j, m, grad);
    }
}

AVX2 void ak_dequantize_row_avx2(const int32_t *acc, float *out, long width, int32_t zero, const int32_t *rowSums,
                                 float scale, const float *weightScales, const float *bias) {
    const __m256i z8 = _mm256_set1_epi32(zero);
    const __m256 s8 = _mm256_set1_ps(scale);
    long j = 0;
    for (; j + 8 <= width; j += 8) {
        const __m256i a = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)),
                                           _mm256_mullo_epi32(z8, _mm256_loadu_si256((const __m256i *)(rowSums + j))));
        __m256 o = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_mul_ps(s8, _mm256_loadu_ps(weightScales + j)));
        if (bias) o = _mm256_add_ps(o, _mm256_loadu_ps(bias + j));
        _mm256_storeu_ps(out + j, o);
    }
    for (; j < width; j++) {
        const int32_t a = (int32_t)((uint32_t)acc[j] - (uint32_t)zero * (uint32_t)rowSums[j]);
        float o = (float)a * (scale * weightScales[j]);
        if (bias) o = o + bias[j];
        out[j] = o;
    }
}

AVX2 void ak_quantize_row_avx2(const float *x, long k, float levels, uint8_t *q, float *scaleOut, int32_t *zeroOut) {
    const long blocks = k - k % 8;
    __m256 lv = _mm256_setzero_ps(), hv = _mm256_setzero_ps();
    long c = 0;
    for (; c < blocks; c += 8) {  // l_i = p < l_i ? p : l_i, h_i = p > h_i ? p : h_i
        const __m256 v = _mm256_loadu_ps(x + c);
        lv = select8(_mm256_cmp_ps(v, lv, _CMP_LT_OQ), v, lv);
        hv = select8(_mm256_cmp_ps(v, hv, _CMP_GT_OQ), v, hv);
    }
    float ls[8], hs[8];
    _mm256_storeu_ps(ls, lv);
    _mm256_storeu_ps(hs, hv);
#define MIN2(a, b) ((b) < (a) ? (b) : (a))
#define MAX2(a, b) ((b) >= (a) ? (b) : (a))
    float l = MIN2(MIN2(MIN2(ls[0], ls[1]), MIN2(ls[2], ls[3])), MIN2(MIN2(ls[4], ls[5]), MIN2(ls[6], ls[7])));
    float h = MAX2(MAX2(MAX2(hs[0], hs[1]), MAX2(hs[2], hs[3])), MAX2(MAX2(hs[4], hs[5]), MAX2(hs[6], hs[7])));
    for (; c < k; c++) {
        l = MIN2(l, x[c]);
        h = MAX2(h, x[c]);
    }
    const float scale = h > l ? (h - l) / levels : 1.0f;
    const float zero = nearbyintf(-l / scale);
    const float inverse = 1.0f / scale;
    const __m256 inv8 = _mm256_set1_ps(inverse), zero8 = _mm256_set1_ps(zero), lev8 = _mm256_set1_ps(levels);
    const __m256 nil = _mm256_setzero_ps();
    for (c = 0; c + 8 <= k; c += 8) {
        const __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + c), inv8), zero8);
        const __m256 mn = select8(_mm256_cmp_ps(t, lev8, _CMP_LT_OQ), t, lev8);   // Swift.min(levels, t)
        const __m256 mx = select8(_mm256_cmp_ps(mn, nil, _CMP_GE_OQ), mn, nil);  // Swift.max(0, ·)
        const __m256i i32 = _mm256_cvtps_epi32(mx);  // round half to even, as the 1.5·2²³ trick
        const __m256i i16 = _mm256_packus_epi32(i32, i32);
        const __m256i i8 = _mm256_packus_epi16(i16, i16);
        const int32_t lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(i8));
        const int32_t hi4 = _mm_cvtsi128_si32(_mm256_extracti128_si256(i8, 1));
        __builtin_memcpy(q + c, &lo, 4);
        __builtin_memcpy(q + c + 4, &hi4, 4);
    }
    for (; c < k; c++) {
        const float t = x[c] * inverse + zero;
        const float mn = t < levels ? t : levels;
        const float mx = mn >= 0 ? mn : 0;
        q[c] = (uint8_t)nearbyintf(mx);
    }
#undef MIN2
#undef MAX2
    *scaleOut = scale;
    *zeroOut = (int32_t)zero;
}

#else  // not x86-64: the Swift loops run

int ak_has_avx2(void) { return 0; }
void ak_softmax_statistics_avx2(const float *s, float *d, long n, float *max, float *sum) {
    (void)s, (void)d, (void)n, (void)max, (void)sum;
}
void ak_gelu_erf_avx2(const float *x, float *y, long n) { (void)x, (void)y, (void)n; }
void ak_gelu_erf_and_grad_avx2(const float *g, const float *x, float *value, float *grad, long n) {
    (void)g, (void)x, (void)value, (void)grad, (void)n;
}
void ak_gelu_erf_and_grad_avx512(const float *g, const float *x, float *value, float *grad, long n) {
    (void)g, (void)x, (void)value, (void)grad, (void)n;
}
int ak_has_avx512(void) { return 0; }
void ak_gelu_erf_avx512(const float *x, float *y, long n) { (void)x, (void)y, (void)n; }
void ak_softmax_statistics_avx512(const float *s, float *d, long n, float *max, float *sum) {
    (void)s, (void)d, (void)n, (void)max, (void)sum;
}
float ak_scale_max_avx2(float *x, long n, float scale) { return (void)x, (void)n, (void)scale, 0; }
float ak_scale_max_avx512(float *x, long n, float scale) { return (void)x, (void)n, (void)scale, 0; }
void ak_softmax_row_finish_avx2(float *x, long n, float m) { (void)x, (void)n, (void)m; }
void ak_softmax_row_finish_avx512(float *x, long n, float m) { (void)x, (void)n, (void)m; }
void ak_dequantize_row_avx2(const int32_t *acc, float *out, long width, int32_t zero, const int32_t *rowSums,
                            float scale, const float *weightScales, const float *bias) {
    (void)acc, (void)out, (void)width, (void)zero, (void)rowSums, (void)scale, (void)weightScales, (void)bias;
}
void ak_quantize_row_avx2(const float *x, long k, float levels, uint8_t *q, float *scale, int32_t *zero) {
    (void)x, (void)k, (void)levels, (void)q, (void)scale, (void)zero;
}
#endif
