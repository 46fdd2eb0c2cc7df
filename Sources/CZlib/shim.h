// zlib (Debian: zlib1g-dev), used by EmberData to read gzip files and deflated zip members.
#include <zlib.h>
