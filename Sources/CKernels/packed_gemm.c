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

// ---- the driver, shared by both widths: which tile runs where ----

// One kernel specialised to `rows` rows × `np` panels (tiles[rows][np], NULL where the width has none).
typedef void (*tile_fn)(long k, const float *x, long ldx, const float *panel, long stride, const float *bias, float *y,
                        long ldy, long cols);

#define TILE(isa, tile, r, q)                                                                                        \
    isa static void tile##_##r##_##q(long k, const float *x, long ldx, const float *panel, long stride,            \
                                     const float *bias, float *y, long ldy, long cols) {                           \
        tile(r, q, k, x, ldx, panel, stride, bias, y, ldy, cols);                                                  \
    }
TILE(AVX512, tile512, 12, 1) TILE(AVX512, tile512, 11, 1) TILE(AVX512, tile512, 10, 1) TILE(AVX512, tile512, 9, 1)
TILE(AVX512, tile512, 8, 1) TILE(AVX512, tile512, 7, 1) TILE(AVX512, tile512, 6, 2) TILE(AVX512, tile512, 5, 2)
TILE(AVX512, tile512, 4, 2) TILE(AVX512, tile512, 3, 4) TILE(AVX512, tile512, 2, 4) TILE(AVX512, tile512, 1, 4)
TILE(AVX512, tile512, 6, 1) TILE(AVX512, tile512, 5, 1) TILE(AVX512, tile512, 4, 1) TILE(AVX512, tile512, 3, 1)
TILE(AVX512, tile512, 2, 1) TILE(AVX512, tile512, 1, 1)
TILE(AVX2FMA, tile256, 6, 1) TILE(AVX2FMA, tile256, 5, 1) TILE(AVX2FMA, tile256, 4, 1) TILE(AVX2FMA, tile256, 3, 2)
TILE(AVX2FMA, tile256, 2, 2) TILE(AVX2FMA, tile256, 1, 4) TILE(AVX2FMA, tile256, 3, 1) TILE(AVX2FMA, tile256, 2, 1)
TILE(AVX2FMA, tile256, 1, 1)
#undef TILE

// [rows][0]: that many rows over one panel; [rows][1]: over `panels` panels (the widest tile a few rows fill)
typedef struct {
    long width, rows;  // panel width, rows of a full tile
    tile_fn one[13], wide[13];
    int panels[13];
} kernel_t;

static const kernel_t k512 = {
    32, 12,
    {NULL, tile512_1_1, tile512_2_1, tile512_3_1, tile512_4_1, tile512_5_1, tile512_6_1, tile512_7_1, tile512_8_1,
     tile512_9_1, tile512_10_1, tile512_11_1, tile512_12_1},
    {NULL, tile512_1_4, tile512_2_4, tile512_3_4, tile512_4_2, tile512_5_2, tile512_6_2, tile512_7_1, tile512_8_1,
     tile512_9_1, tile512_10_1, tile512_11_1, tile512_12_1},
    {0, 4, 4, 4, 2, 2, 2, 1, 1, 1, 1, 1, 1}};
static const kernel_t k256 = {
    16, 6,
    {NULL, tile256_1_1, tile256_2_1, tile256_3_1, tile256_4_1, tile256_5_1, tile256_6_1},
    {NULL, tile256_1_4, tile256_2_2, tile256_3_2, tile256_4_1, tile256_5_1, tile256_6_1},
    {0, 4, 2, 2, 1, 1, 1}};

static void gemm(const kernel_t *kn, long m, long n0, long n1, long k, const float *x, long ldx, const float *packed,
                 const float *bias, float *y, long ldy) {
    const long w = kn->width, mr = kn->rows, stride = w * k;
    // full tiles over groups of panels that stay in L2 (~512 KiB) while the row tiles pass: a vocabulary-wide weight
    // (8 MiB) is read from memory once, and each tile's rows stay in L1 across the group
    const long group = w * ((w == 32 ? 16 : 32) >> (k <= 256 ? 0 : k <= 512 ? 1 : 2));
    for (long g = n0; g < n1; g += group) {
        const long g1 = g + group < n1 ? g + group : n1;
        for (long r = 0; r + mr <= m; r += mr)
            for (long j = g; j < g1; j += w)
                kn->one[mr](k, x + r * ldx, ldx, packed + (j / w) * stride, stride, bias ? bias + (j - n0) : NULL,
                            y + r * ldy + (j - n0), ldy, n1 - j);
    }
    const long i = m - m % mr, rest = m - i;
    if (rest == 0) return;
    // the last rows: several panels per tile, so that a few rows still keep 8–24 accumulators busy
    for (long j = n0; j < n1;) {
        const int wide = (n1 - j + w - 1) / w >= kn->panels[rest];
        (wide ? kn->wide : kn->one)[rest](k, x + i * ldx, ldx, packed + (j / w) * stride, stride,
                                          bias ? bias + (j - n0) : NULL, y + i * ldy + (j - n0), ldy, n1 - j);
        j += w * (wide ? kn->panels[rest] : 1);
    }
}

void ak_gemm_packed(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed, long width,
                    const float *bias, float *y, long ldy) {
    if (m <= 0 || n1 <= n0) return;
    if (width == 32) gemm(&k512, m, n0, n1, k, x, ldx, packed, bias, y, ldy);
    else if (width == 16) gemm(&k256, m, n0, n1, k, x, ldx, packed, bias, y, ldy);
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
