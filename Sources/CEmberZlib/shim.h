// zlib (Debian: zlib1g-dev), used by EmberData to read gzip files.
#include <zlib.h>
