#ifndef ATTENTIONKIT_CTURBOJPEG_SHIM_H
#define ATTENTIONKIT_CTURBOJPEG_SHIM_H
#include <stddef.h>
#include <turbojpeg.h>
#endif
