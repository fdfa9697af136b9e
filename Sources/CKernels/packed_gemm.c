// The packed-weight GEMM of inference (see CKernels.h): y = x·Wᵀ (+ bias) with W packed once in panels of `width`
// output columns, so no call re-packs it (OpenBLAS packs both operands on every call; at the 5–320 rows of a ViT
// image or a beam-search step the weight is the larger one). Unlike kernels.c, this file uses fused multiply-adds:
// each output is fma(x[i][kk], W[j][kk], acc) for kk = 0, 1, …, k−1 in order, from acc = bias[j] (or 0), in every
// kernel — the AVX-512 one (panels of 32), the AVX2 one (panels of 16), every row tile and every column split — so the
// bits do not depend on the machine's vector width, on how many rows are in the batch, or on the threads.
#include "CKernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

long ak_packed_width(void) {
    static long cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        if (getenv("ATTENTIONKIT_NO_PACKED_GEMM")) cached = 0;
        else if (__builtin_cpu_supports("avx512f") && !getenv("ATTENTIONKIT_NO_AVX512")) cached = 32;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) cached = 16;
        else cached = 0;
    }
    return cached;
}

#define AVX512 __attribute__((target("avx512f,fma")))
#define AVX2FMA __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

// ---- AVX-512: a tile is `mr` rows × `np` panels of 32 columns (mr·np·2 ≤ 24 accumulators) ----

AVX512 INLINE __mmask16 mask16(long cols) { return cols >= 16 ? (__mmask16)0xFFFF : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1); }

AVX512 INLINE void tile512(const int mr, const int np, long k, const float *x, long ldx, const float *panel,
                            long panelStride, const float *bias, float *y, long ldy, long cols) {
    __m512 c[12][8];
    __mmask16 m[8];
    UNROLL for (int p = 0; p < np; p++) {
        m[2 * p] = mask16(cols - 32 * p);
        m[2 * p + 1] = mask16(cols - 32 * p - 16);
        const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m[2 * p], bias + 32 * p) : _mm512_setzero_ps();
        const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m[2 * p + 1], bias + 32 * p + 16) : _mm512_setzero_ps();
        UNROLL for (int i = 0; i < mr; i++) {
            c[i][2 * p] = b0;
            c[i][2 * p + 1] = b1;
        }
    }
    for (long kk = 0; kk < k; kk++) {
        __m512 w[8];
        UNROLL for (int p = 0; p < np; p++) {
            w[2 * p] = _mm512_load_ps(panel + p * panelStride + kk * 32);
            w[2 * p + 1] = _mm512_load_ps(panel + p * panelStride + kk * 32 + 16);
        }
        UNROLL for (int i = 0; i < mr; i++) {
            const __m512 a = _mm512_set1_ps(x[i * ldx + kk]);
            UNROLL for (int v = 0; v < 2 * np; v++) c[i][v] = _mm512_fmadd_ps(a, w[v], c[i][v]);
        }
    }
    UNROLL for (int i = 0; i < mr; i++)
        UNROLL for (int v = 0; v < 2 * np; v++) _mm512_mask_storeu_ps(y + i * ldy + 16 * v, m[v], c[i][v]);
}

AVX512 static void gemm512(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed,
                           const float *bias, float *y, long ldy) {
    const long stride = 32 * k;
    long i = 0;
    // full tiles of 12 rows over groups of panels that stay in L2 (~512 KiB) while the row tiles pass: a
    // vocabulary-wide weight (8 MiB) is read from memory once, and each tile's rows stay in L1 across the group
    const long group = 32 * (k <= 256 ? 16 : k <= 512 ? 8 : 4);
    for (long g = n0; g < n1; g += group) {
        const long g1 = g + group < n1 ? g + group : n1;
        for (long r = 0; r + 12 <= m; r += 12)
            for (long j = g; j < g1; j += 32) {
                const float *panel = packed + (j / 32) * stride;
                const float *b = bias ? bias + (j - n0) : NULL;
                tile512(12, 1, k, x + r * ldx, ldx, panel, stride, b, y + r * ldy + (j - n0), ldy, n1 - j);
            }
    }
    i = m - m % 12;
    const long rest = m - i;
    if (rest == 0) return;
    // the last 1–11 rows: several panels per tile, so that a few rows still keep 8–24 accumulators busy
    const int np = rest >= 7 ? 1 : rest >= 4 ? 2 : 4;
    for (long j = n0; j < n1;) {
        const long left = (n1 - j + 31) / 32;
        const int p = left >= np ? np : 1;
        const float *panel = packed + (j / 32) * stride;
        const float *b = bias ? bias + (j - n0) : NULL;
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy + (j - n0);
        const long cols = n1 - j;
#define CASE(r, q)                                                                                                   \
    case r: tile512(r, q, k, xi, ldx, panel, stride, b, yi, ldy, cols); break;
        if (p == 1) {
            switch (rest) { CASE(1, 1) CASE(2, 1) CASE(3, 1) CASE(4, 1) CASE(5, 1) CASE(6, 1) CASE(7, 1) CASE(8, 1) CASE(9, 1) CASE(10, 1) CASE(11, 1) default: break; }
        } else if (p == 2) {
            switch (rest) { CASE(4, 2) CASE(5, 2) CASE(6, 2) default: break; }
        } else {
            switch (rest) { CASE(1, 4) CASE(2, 4) CASE(3, 4) default: break; }
        }
#undef CASE
        j += 32 * p;
    }
}

// ---- AVX2: a tile is `mr` rows × `np` panels of 16 columns (mr·np·2 ≤ 12 accumulators) ----

AVX2FMA INLINE void tile256(const int mr, const int np, long k, const float *x, long ldx, const float *panel,
                             long panelStride, const float *bias, float *y, long ldy, long cols) {
    __m256 c[6][8];
    float edge[64];  // bias and results of a last panel narrower than 16 columns go through this
    const int full = cols >= 16 * np;
    UNROLL for (int v = 0; v < 2 * np; v++) {
        __m256 b = _mm256_setzero_ps();
        if (bias) {
            if (full) b = _mm256_loadu_ps(bias + 8 * v);
            else {
                for (int e = 0; e < 8; e++) edge[e] = 8 * v + e < cols ? bias[8 * v + e] : 0;
                b = _mm256_loadu_ps(edge);
            }
        }
        UNROLL for (int i = 0; i < mr; i++) c[i][v] = b;
    }
    for (long kk = 0; kk < k; kk++) {
        __m256 w[8];
        UNROLL for (int p = 0; p < np; p++) {
            w[2 * p] = _mm256_load_ps(panel + p * panelStride + kk * 16);
            w[2 * p + 1] = _mm256_load_ps(panel + p * panelStride + kk * 16 + 8);
        }
        UNROLL for (int i = 0; i < mr; i++) {
            const __m256 a = _mm256_broadcast_ss(x + i * ldx + kk);
            UNROLL for (int v = 0; v < 2 * np; v++) c[i][v] = _mm256_fmadd_ps(a, w[v], c[i][v]);
        }
    }
    if (full) {
        UNROLL for (int i = 0; i < mr; i++)
            UNROLL for (int v = 0; v < 2 * np; v++) _mm256_storeu_ps(y + i * ldy + 8 * v, c[i][v]);
    } else {
        UNROLL for (int i = 0; i < mr; i++) {
            UNROLL for (int v = 0; v < 2 * np; v++) _mm256_storeu_ps(edge + 8 * v, c[i][v]);
            for (long e = 0; e < cols && e < 16 * np; e++) y[i * ldy + e] = edge[e];
        }
    }
}

AVX2FMA static void gemm256(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed,
                            const float *bias, float *y, long ldy) {
    const long stride = 16 * k;
    const long group = 16 * (k <= 256 ? 32 : k <= 512 ? 16 : 8);  // as gemm512: ~512 KiB of panels at a time
    for (long g = n0; g < n1; g += group) {
        const long g1 = g + group < n1 ? g + group : n1;
        for (long r = 0; r + 6 <= m; r += 6)
            for (long j = g; j < g1; j += 16) {
                const float *panel = packed + (j / 16) * stride;
                const float *b = bias ? bias + (j - n0) : NULL;
                tile256(6, 1, k, x + r * ldx, ldx, panel, stride, b, y + r * ldy + (j - n0), ldy, n1 - j);
            }
    }
    const long i = m - m % 6, rest = m - i;
    if (rest == 0) return;
    const int np = rest >= 4 ? 1 : rest >= 2 ? 2 : 4;
    for (long j = n0; j < n1;) {
        const long left = (n1 - j + 15) / 16;
        const int p = left >= np ? np : 1;
        const float *panel = packed + (j / 16) * stride;
        const float *b = bias ? bias + (j - n0) : NULL;
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy + (j - n0);
        const long cols = n1 - j;
#define CASE(r, q)                                                                                                   \
    case r: tile256(r, q, k, xi, ldx, panel, stride, b, yi, ldy, cols); break;
        if (p == 1) {
            switch (rest) { CASE(1, 1) CASE(2, 1) CASE(3, 1) CASE(4, 1) CASE(5, 1) default: break; }
        } else if (p == 2) {
            switch (rest) { CASE(2, 2) CASE(3, 2) default: break; }
        } else {
            switch (rest) { CASE(1, 4) default: break; }
        }
#undef CASE
        j += 16 * p;
    }
}

void ak_gemm_packed(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed, long width,
                    const float *bias, float *y, long ldy) {
    if (m <= 0 || n1 <= n0) return;
    if (width == 32) gemm512(m, n0, n1, k, x, ldx, packed, bias, y, ldy);
    else if (width == 16) gemm256(m, n0, n1, k, x, ldx, packed, bias, y, ldy);
}

#else  // not x86-64: no packed kernels; AttentionKit keeps its BLAS path
long ak_packed_width(void) { return 0; }
void ak_gemm_packed(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed, long width,
                    const float *bias, float *y, long ldy) {
    (void)m, (void)n0, (void)n1, (void)k, (void)x, (void)ldx, (void)packed, (void)width, (void)bias, (void)y,
        (void)ldy;
}
#endif

long ak_packed_count(long n, long k, long width) { return width > 0 ? (n + width - 1) / width * width * k : 0; }

void ak_pack_weights(const float *w, long n, long k, long width, float *out) {
    if (width <= 0) return;
    const long panels = (n + width - 1) / width;
    for (long p = 0; p < panels; p++) {
        float *dst = out + p * width * k;
        for (long kk = 0; kk < k; kk++)
            for (long j = 0; j < width; j++) {
                const long row = p * width + j;
                dst[kk * width + j] = row < n ? w[row * k + kk] : 0;
            }
    }
}
