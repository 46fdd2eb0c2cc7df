// libjpeg-turbo's libjpeg API (Debian: libjpeg62-turbo-dev, pulled in by libjpeg-dev), used by CEmberImage to
// decode JPEG files.
#include <stdio.h>
#include <jpeglib.h>
