// cairo draws (antialiased paths, images, PNG and SVG surfaces); Pango lays out text on it with fontconfig's
// font fallback (any script, emoji) and HarfBuzz shaping.
#include <cairo.h>
#include <cairo-svg.h>
#include <pango/pangocairo.h>
