#ifndef ATTENTIONKIT_CDNNL_SHIM_H
#define ATTENTIONKIT_CDNNL_SHIM_H
// oneDNN (Debian: libdnnl-dev): its BLAS-like int8 GEMM (dnnl_gemm_u8s8s32) for quantized inference.
#include <dnnl.h>
#endif
