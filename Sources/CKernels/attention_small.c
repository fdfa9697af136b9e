// The two products of attention for a few query rows (see CKernels.h): decoding steps attend with 1 query row per
// hypothesis (self-attention) or `beams` rows per source (cross-attention), over 1–100 keys of 32–64 values per head.
// Called once per (row, head) item, OpenBLAS's small-matrix path costs more in call overhead than in arithmetic
// (8–9% of beam-search translation); these are plain loops on 8-lane AVX2 + FMA, used on AVX2 and AVX-512 hosts
// alike, so the bits are the same on both. Each dot product is 8-lane fused multiply-adds over the head's width in
// order, then its 8 lanes summed in one fixed tree; each output of P·V is fused multiply-adds over the keys in order.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#define AVX2FMA __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

// AVX2 and FMA, and not turned off by ATTENTIONKIT_NO_SMALL_ATTENTION=1 (to measure against OpenBLAS)
static int available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        const char *off = getenv("ATTENTIONKIT_NO_SMALL_ATTENTION");
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(off && *off && *off != '0');
    }
    return cached;
}

// the mask of lanes 0..<n (n in 1...8)
AVX2FMA INLINE __m256i first_lanes(long n) {
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(ones + 8 - n));
}

// lanes 0..<n of an 8-lane load, the rest 0; and the store of lanes 0..<n
AVX2FMA INLINE __m256 load_first(const float *p, long n) { return _mm256_maskload_ps(p, first_lanes(n)); }
AVX2FMA INLINE void store_first(float *p, __m256 v, long n) { _mm256_maskstore_ps(p, first_lanes(n), v); }

// the lane sums of a[0..<8], in order: ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)) for each
AVX2FMA static inline __m256 sum_lanes8(const __m256 a[8]) {
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

AVX2FMA static void scores(long tq, long tk, long dh, const float *q, long ldq, const float *k, long ldk, float *s,
                           long lds) {
    const long full = dh - dh % 8, tail = dh - full;
    for (long r = 0; r < tq; r++) {
        const float *qr = q + r * ldq;
        for (long j0 = 0; j0 < tk; j0 += 8) {
            const long n = tk - j0 < 8 ? tk - j0 : 8;
            const float *kp[8];
            __m256 acc[8];
            for (int u = 0; u < 8; u++) {  // a group of fewer than 8 keys repeats its last: the same code for all
                kp[u] = k + (j0 + (u < n ? u : n - 1)) * ldk;
                acc[u] = _mm256_setzero_ps();
            }
            for (long d = 0; d < full; d += 8) {
                const __m256 qv = _mm256_loadu_ps(qr + d);
                for (int u = 0; u < 8; u++) acc[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[u] + d), acc[u]);
            }
            if (tail) {
                const __m256 qv = load_first(qr + full, tail);
                for (int u = 0; u < 8; u++) acc[u] = _mm256_fmadd_ps(qv, load_first(kp[u] + full, tail), acc[u]);
            }
            const __m256 sums = sum_lanes8(acc);
            if (n == 8) _mm256_storeu_ps(s + r * lds + j0, sums);
            else store_first(s + r * lds + j0, sums, n);
        }
    }
}

// o[0..<cols] = Σ_j p[j]·v[j][0..<cols] for up to 32 columns (4 accumulators); inlined with cols 32 for full groups
AVX2FMA INLINE void weighted_columns(long cols, long tk, const float *p, const float *v, long ldv, float *o) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int chunks = (int)((cols + 7) / 8);
    for (long j = 0; j < tk; j++) {
        const __m256 w = _mm256_broadcast_ss(p + j);
        const float *vj = v + j * ldv;
        for (int u = 0; u < chunks; u++) {
            const long n = cols - 8 * u < 8 ? cols - 8 * u : 8;
            acc[u] = _mm256_fmadd_ps(w, n == 8 ? _mm256_loadu_ps(vj + 8 * u) : load_first(vj + 8 * u, n), acc[u]);
        }
    }
    for (int u = 0; u < chunks; u++) {
        const long n = cols - 8 * u < 8 ? cols - 8 * u : 8;
        if (n == 8) _mm256_storeu_ps(o + 8 * u, acc[u]);
        else store_first(o + 8 * u, acc[u], n);
    }
}

// three rows × 32 columns at once (12 accumulators): each V load feeds three rows, and twelve independent chains keep
// both FMA units busy where one row's four chains wait on their latency. Each output is the same chain over the keys
// in order as weighted_columns makes it: the same bits.
AVX2FMA INLINE void weighted_columns3(long tk, const float *p, long ldp, const float *v, long ldv, float *o,
                                      long ldo) {
    __m256 acc[3][4];
    for (int r = 0; r < 3; r++)
        for (int u = 0; u < 4; u++) acc[r][u] = _mm256_setzero_ps();
    for (long j = 0; j < tk; j++) {
        const __m256 w0 = _mm256_broadcast_ss(p + j), w1 = _mm256_broadcast_ss(p + ldp + j),
                     w2 = _mm256_broadcast_ss(p + 2 * ldp + j);
        const float *vj = v + j * ldv;
        for (int u = 0; u < 4; u++) {
            const __m256 x = _mm256_loadu_ps(vj + 8 * u);
            acc[0][u] = _mm256_fmadd_ps(w0, x, acc[0][u]);
            acc[1][u] = _mm256_fmadd_ps(w1, x, acc[1][u]);
            acc[2][u] = _mm256_fmadd_ps(w2, x, acc[2][u]);
        }
    }
    for (int r = 0; r < 3; r++)
        for (int u = 0; u < 4; u++) _mm256_storeu_ps(o + r * ldo + 8 * u, acc[r][u]);
}

AVX2FMA static void weighted_sum(long tq, long tk, long dv, const float *p, long ldp, const float *v, long ldv,
                                 float *o, long ldo) {
    const long full = dv - dv % 32;
    long r = 0;
    for (; r + 3 <= tq && full > 0; r += 3) {  // the full 32-column groups three rows at a time, the rest below
        for (long c0 = 0; c0 < full; c0 += 32) weighted_columns3(tk, p + r * ldp, ldp, v + c0, ldv, o + r * ldo + c0, ldo);
        if (full < dv)
            for (long i = r; i < r + 3; i++) weighted_columns(dv - full, tk, p + i * ldp, v + full, ldv, o + i * ldo + full);
    }
    for (; r < tq; r++)
        for (long c0 = 0; c0 < dv; c0 += 32) {
            if (dv - c0 >= 32) weighted_columns(32, tk, p + r * ldp, v + c0, ldv, o + r * ldo + c0);
            else weighted_columns(dv - c0, tk, p + r * ldp, v + c0, ldv, o + r * ldo + c0);
        }
}

int ak_attention_scores_small(long tq, long tk, long dh, const float *q, long ldq, const float *k, long ldk, float *s,
                              long lds) {
    if (!available()) return 0;
    if (tq > 0 && tk > 0) scores(tq, tk, dh, q, ldq, k, ldk, s, lds);
    return 1;
}

int ak_attention_weighted_sum_small(long tq, long tk, long dv, const float *p, long ldp, const float *v, long ldv,
                                    float *o, long ldo) {
    if (!available()) return 0;
    if (tq > 0 && dv > 0) weighted_sum(tq, tk, dv, p, ldp, v, ldv, o, ldo);
    return 1;
}

#else  // not x86-64: the callers keep their BLAS path
int ak_attention_scores_small(long tq, long tk, long dh, const float *q, long ldq, const float *k, long ldk, float *s,
                              long lds) {
    (void)tq, (void)tk, (void)dh, (void)q, (void)ldq, (void)k, (void)ldk, (void)s, (void)lds;
    return 0;
}
int ak_attention_weighted_sum_small(long tq, long tk, long dv, const float *p, long ldp, const float *v, long ldv,
                                    float *o, long ldo) {
    (void)tq, (void)tk, (void)dv, (void)p, (void)ldp, (void)v, (void)ldv, (void)o, (void)ldo;
    return 0;
}
#endif
