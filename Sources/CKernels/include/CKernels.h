// AVX2 versions of AttentionKit's hottest float32 loops, chosen at run time (`ak_has_avx2`). Each computes exactly
// what its Swift loop computes (the same operations in the same order, no fused multiply-adds, the same lanes for
// every sum and extremum), eight lanes at a time instead of the four the baseline x86-64 build gets: the results are
// bit for bit the Swift loop's, on every machine (Tests/AttentionKitTests/KernelTests.swift checks it).
#ifndef ATTENTIONKIT_CKERNELS_H
#define ATTENTIONKIT_CKERNELS_H

#include <stdint.h>

/// 1 when the CPU (and the OS) run AVX2 code, else 0 (the loops of kernels.c use AVX2 without FMA). Evaluated once.
int ak_has_avx2(void);

/// softmaxRowStatistics: the max m of s[0..<n] (8 lanes, -inf for an empty row; 0 if every value is -inf), the
/// exponentials d[j] = fastExp(s[j] - m) and their sum (8 lanes, then the tail in order).
void ak_softmax_statistics_avx2(const float *s, float *d, long n, float *max, float *sum);

/// GELU (erf form, fastErf): y[j] = x[j]·(1 + erf(x[j]·0.70710678))·0.5 for j < n (y may be x: in place).
void ak_gelu_erf_avx2(const float *x, float *y, long n);

/// GELU's value and gradient in one pass, as FastMath.swift's `geluErfAndGrad` (the feed-forward op's backward):
/// with Φ = (1 + fastErf(x·0.70710678))·0.5 and φ = fastExp((−0.5·x)·x)·0.39894228, value = x·Φ and
/// grad = g·(Φ + x·φ), for j < n.
void ak_gelu_erf_and_grad_avx2(const float *g, const float *x, float *value, float *grad, long n);

/// An unmasked attention row scaled in place, x[j] *= scale, and its max returned (-inf for an empty row or all -inf;
/// NaN is never the max). The same values as the Swift loops of the fused attention op.
float ak_scale_max_avx2(float *x, long n, float scale);

/// An attention row's softmax after its max m: x[j] = fastExp(x[j] − m), z = Σ x[j] in `vectorSum`'s order (16 lanes
/// over the full blocks of 16, the lanes added in order from −0, then the tail in order), then x[j] *= 1/z. The bits of
/// the Swift loops it replaces.
void ak_softmax_row_finish_avx2(float *x, long n, float m);

/// 1 when the CPU (and the OS) run AVX-512 F code, else 0. Evaluated once.
int ak_has_avx512(void);

/// ak_gelu_erf_avx2 on 16 lanes (AVX-512 F): the same operations per element, so the same bits.
void ak_gelu_erf_avx512(const float *x, float *y, long n);

/// ak_gelu_erf_and_grad_avx2 on 16 lanes (AVX-512 F): the same bits.
void ak_gelu_erf_and_grad_avx512(const float *g, const float *x, float *value, float *grad, long n);

/// ak_softmax_statistics_avx2 with the exponentials 16 lanes at a time (AVX-512 F), summed in the same 8 lanes in the
/// same order: the same bits.
void ak_softmax_statistics_avx512(const float *s, float *d, long n, float *max, float *sum);

/// ak_scale_max_avx2 and ak_softmax_row_finish_avx2 on 16 lanes (AVX-512 F): the same bits.
float ak_scale_max_avx512(float *x, long n, float scale);
void ak_softmax_row_finish_avx512(float *x, long n, float m);

/// One row of an int8 GEMM's output scaled back: out[j] = float(acc[j] − zero·rowSums[j])·(scale·weightScales[j])
/// (+ bias[j] when bias is not NULL).
void ak_dequantize_row_avx2(const int32_t *acc, float *out, long width, int32_t zero, const int32_t *rowSums,
                            float scale, const float *weightScales, const float *bias);

/// One activation row quantized to unsigned 8 bits over [min(0, min x), max(0, max x)] with `levels` steps:
/// q[c] = round(clamp(x[c]/scale + zero, 0, levels)); writes the scale and the zero point.
void ak_quantize_row_avx2(const float *x, long k, float levels, uint8_t *q, float *scale, int32_t *zero);

/// Makes OpenBLAS run the kernels this CPU supports when it did not recognise the CPU. A DYNAMIC_ARCH OpenBLAS picks its
/// kernels from the CPU model when it loads, and falls back to SSE3 ones ("Prescott") for a model it does not know:
/// Debian 12's 0.3.21 does that on Intel Emerald Rapids (family 6, model 207), where every GEMM then runs about 4×
/// slower. When OPENBLAS_CORETYPE is unset, the chosen kernels are SSE- or AVX-era, and the CPU (and the OS) run AVX2
/// and FMA, this sets OPENBLAS_CORETYPE to SkylakeX (AVX-512 F/CD/BW/DQ/VL) or Haswell and re-initialises OpenBLAS's
/// kernel table, which reads it. Call it once, before any BLAS call is in flight. Returns 1 if it switched, 0 if not;
/// writes the name of the kernels in use to `name` (at most `size` bytes, NUL-terminated).
int ak_openblas_choose_core(char *name, long size);

/// The packed-weight GEMM's panel width on this CPU: 32 (AVX-512), 16 (AVX2 and FMA), or 0 (no packed kernel: keep the
/// BLAS path). ATTENTIONKIT_NO_PACKED_GEMM=1 makes it 0, ATTENTIONKIT_NO_AVX512=1 at most 16. Evaluated once.
long ak_packed_width(void);

/// Floats in W [n, k] packed in panels of `width` output columns (n rounded up to a multiple of `width`, times k).
long ak_packed_count(long n, long k, long width);

/// Packs W [n, k] (row-major, y = x·Wᵀ) into `out` (ak_packed_count floats, 64-byte aligned): panel p holds, for
/// kk = 0..<k, the `width` weights W[p·width + j][kk], zero past row n.
void ak_pack_weights(const float *w, long n, long k, long width, float *out);

/// y[i][j − n0] = bias[j − n0] + Σ_kk x[i][kk]·W[j][kk] for rows i < m and columns n0 ≤ j < n1 (n0 a multiple of
/// `width`, n1 ≤ n), with W packed by ak_pack_weights at this `width` (which must be ak_packed_width() or 16 on an
/// AVX-512 CPU). `bias` (NULL: none) and `y` point at column n0. Each output is a chain of fused multiply-adds over kk
/// in order, starting from the bias: the same bits for every width, row count and column split.
void ak_gemm_packed(long m, long n0, long n1, long k, const float *x, long ldx, const float *packed, long width,
                    const float *bias, float *y, long ldy);

/// Attention scores for a few query rows (decoding steps): s[r][j] = Σ_d q[r][d]·k[j][d] for r < tq, j < tk, d < dh
/// (rows of q, k and s `ldq`, `ldk`, `lds` floats apart), each as 8-lane fused multiply-adds over d in order and its
/// lanes summed in one fixed tree. Returns 0 (nothing written) when the CPU lacks AVX2 and FMA or
/// ATTENTIONKIT_NO_SMALL_ATTENTION is set: the caller then uses BLAS.
int ak_attention_scores_small(long tq, long tk, long dh, const float *q, long ldq, const float *k, long ldk, float *s,
                              long lds);

/// o[r][c] = Σ_j p[r][j]·v[j][c] for r < tq, c < dv, as fused multiply-adds over j = 0..<tk in order (0 when tk is 0).
/// Returns 0 (nothing written) where ak_attention_scores_small does.
int ak_attention_weighted_sum_small(long tq, long tk, long dv, const float *p, long ldp, const float *v, long ldv,
                                    float *o, long ldo);

#endif
