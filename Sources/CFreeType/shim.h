#ifndef ATTENTIONKIT_CFREETYPE_SHIM_H
#define ATTENTIONKIT_CFREETYPE_SHIM_H
#include <ft2build.h>
#include FT_FREETYPE_H
#include <fontconfig/fontconfig.h>
#endif
