// Ember's bridge to libpng and libjpeg: both libraries report errors by longjmp, which Swift cannot catch, so the
// calls that may fail sit here in C behind setjmp and come back as a status and a message.
#ifndef EMBER_IMAGE_H
#define EMBER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes of the functions below.
enum {
    EMBER_IMAGE_OK = 0,
    /// Not the format's signature.
    EMBER_IMAGE_BAD_SIGNATURE = 1,
    /// The library rejected the data (damaged or truncated file); `message` says why.
    EMBER_IMAGE_CORRUPT = 2,
    /// Valid data using a feature Ember does not decode (e.g. CMYK JPEG); `message` says which.
    EMBER_IMAGE_UNSUPPORTED = 3,
    /// More pixels than the caller's limit (a decompression bomb, or simply too large).
    EMBER_IMAGE_TOO_LARGE = 4,
    /// Out of memory.
    EMBER_IMAGE_NO_MEMORY = 5,
};

/// A decoded image: 8 bits per sample, rows top to bottom, channels interleaved (1 gray, 2 gray+alpha, 3 RGB,
/// 4 RGBA). `pixels` is malloc'ed; release it with `ember_image_free`.
typedef struct {
    uint8_t *pixels;
    int32_t width;
    int32_t height;
    int32_t channels;
    /// The file's own bit depth (PNG: 1, 2, 4, 8 or 16; JPEG: 8).
    int32_t source_bit_depth;
    char message[200];
} ember_decoded_image;

/// Decodes a PNG held in memory. With `header_only` nonzero only the header is read (size and channels; `pixels`
/// stays NULL). Palette images become RGB (RGBA when they carry transparency), gray below 8 bits is scaled to 0...255,
/// 16-bit samples keep their high byte; no gamma or colour conversion is applied.
int ember_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, int header_only, ember_decoded_image *out);

/// Decodes a baseline or progressive JPEG held in memory into gray or RGB (islow IDCT, fancy upsampling: libjpeg's
/// defaults). A file that ends early is an error, not a grey-filled image.
int ember_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, int header_only, ember_decoded_image *out);

/// Encodes 8-bit pixels (1, 2, 3 or 4 channels, interleaved) as PNG at zlib `level` (0...9). On success `*out` is a
/// malloc'ed buffer of `*out_size` bytes to release with `ember_image_free`.
int ember_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t level,
                     uint8_t **out, size_t *out_size, char *message, size_t message_size);

/// Releases a buffer returned by the functions above.
void ember_image_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
