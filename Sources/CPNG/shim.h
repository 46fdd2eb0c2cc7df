// libpng 1.6 (Debian: libpng-dev), used by CEmberImage to decode and encode PNG files.
#include <png.h>
