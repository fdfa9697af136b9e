#ifndef ATTENTIONKIT_CPNG_SHIM_H
#define ATTENTIONKIT_CPNG_SHIM_H
#include <png.h>
#endif
