// PNG (libpng) and JPEG (libjpeg-turbo) decoding and PNG encoding for EmberData's image module.
//
// Both libraries signal errors by calling a handler that must not return; here it longjmps back into the function
// that started the work, which frees what it holds and reports the library's message. Every buffer is sized from
// header values checked against the caller's pixel limit first.
#include "ember_image.h"

#include <png.h>
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

void ember_image_free(void *p) { free(p); }

static void set_message(char *dst, size_t n, const char *msg) {
    if (n == 0) return;
    snprintf(dst, n, "%s", msg ? msg : "");
}

// MARK: - PNG decoding

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    jmp_buf jump;
    char *message;
    size_t message_size;
} png_reader_state;

static void png_error_handler(png_structp png, png_const_charp msg) {
    png_reader_state *st = (png_reader_state *)png_get_error_ptr(png);
    set_message(st->message, st->message_size, msg);
    longjmp(st->jump, 1);
}

static void png_warning_handler(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    png_reader_state *st = (png_reader_state *)png_get_io_ptr(png);
    if (count > st->size - st->offset) png_error(png, "the file ends before the image data does (truncated)");
    memcpy(out, st->data + st->offset, count);
    st->offset += count;
}

int ember_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, int header_only, ember_decoded_image *out) {
    memset(out, 0, sizeof(*out));
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_message(out->message, sizeof(out->message), "no PNG signature");
        return EMBER_IMAGE_BAD_SIGNATURE;
    }
    png_reader_state st = {data, size, 0, {{0}}, out->message, sizeof(out->message)};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_handler, png_warning_handler);
    if (!png) return EMBER_IMAGE_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return EMBER_IMAGE_NO_MEMORY; }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(st.jump)) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        out->pixels = NULL;
        return EMBER_IMAGE_CORRUPT;
    }
    // The caller's pixel limit is the bound that matters; libpng's own default (1,000,000 per side) stays.
    png_set_read_fn(png, &st, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->source_bit_depth = depth;
    if ((int64_t)width * (int64_t)height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "%ux%u pixels, more than the limit of %lld", width, height,
                 (long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return EMBER_IMAGE_TOO_LARGE;
    }
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    int channels;
    switch (color) {
    case PNG_COLOR_TYPE_GRAY: channels = 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: channels = 2; break;
    case PNG_COLOR_TYPE_RGB: channels = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: channels = 4; break;
    case PNG_COLOR_TYPE_PALETTE: channels = has_trns ? 4 : 3; break;
    default: png_error(png, "unknown colour type");
    }
    out->channels = channels;
    if (header_only) {
        png_destroy_read_struct(&png, &info, NULL);
        return EMBER_IMAGE_OK;
    }
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
        if (has_trns) png_set_tRNS_to_alpha(png);
    }
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)width * (size_t)channels) png_error(png, "unexpected row size after expansion");
    pixels = (uint8_t *)malloc(rowbytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) {
        free(pixels); free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        set_message(out->message, sizeof(out->message), "out of memory");
        return EMBER_IMAGE_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->pixels = pixels;
    return EMBER_IMAGE_OK;
}

// MARK: - JPEG decoding

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    size_t message_size;
} jpeg_error_state;

static void jpeg_error_exit(j_common_ptr cinfo) {
    jpeg_error_state *st = (jpeg_error_state *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    set_message(st->message, st->message_size, buffer);
    longjmp(st->jump, 1);
}

// Warnings pass, except the one saying the data ended early: libjpeg would fill the rest with grey, and a truncated
// file silently read as half an image is exactly what users need to hear about.
static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_error_exit(cinfo);
    }
}

int ember_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, int header_only, ember_decoded_image *out) {
    memset(out, 0, sizeof(*out));
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        set_message(out->message, sizeof(out->message), "no JPEG signature");
        return EMBER_IMAGE_BAD_SIGNATURE;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_error_state err;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_error_exit;
    err.base.emit_message = jpeg_emit_message;
    err.message = out->message;
    err.message_size = sizeof(out->message);
    uint8_t *volatile pixels = NULL;
    if (setjmp(err.jump)) {
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        out->pixels = NULL;
        return EMBER_IMAGE_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    out->width = (int32_t)cinfo.image_width;
    out->height = (int32_t)cinfo.image_height;
    out->source_bit_depth = 8;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; out->channels = 1; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; out->channels = 3; break;
    default:
        snprintf(out->message, sizeof(out->message), "a %s JPEG (only gray and RGB/YCbCr JPEGs are decoded)",
                 cinfo.jpeg_color_space == JCS_CMYK ? "CMYK" : cinfo.jpeg_color_space == JCS_YCCK ? "YCCK" : "multi-channel");
        jpeg_destroy_decompress(&cinfo);
        return EMBER_IMAGE_UNSUPPORTED;
    }
    if ((int64_t)cinfo.image_width * (int64_t)cinfo.image_height > max_pixels) {
        snprintf(out->message, sizeof(out->message), "%ux%u pixels, more than the limit of %lld", cinfo.image_width,
                 cinfo.image_height, (long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return EMBER_IMAGE_TOO_LARGE;
    }
    if (header_only) {
        jpeg_destroy_decompress(&cinfo);
        return EMBER_IMAGE_OK;
    }
    jpeg_start_decompress(&cinfo);
    size_t rowbytes = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    pixels = (uint8_t *)malloc(rowbytes * cinfo.output_height);
    if (!pixels) {
        jpeg_destroy_decompress(&cinfo);
        set_message(out->message, sizeof(out->message), "out of memory");
        return EMBER_IMAGE_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * rowbytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    out->pixels = pixels;
    return EMBER_IMAGE_OK;
}

// MARK: - PNG encoding

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    int failed;
} png_writer_buffer;

typedef struct {
    jmp_buf jump;
    char *message;
    size_t message_size;
} png_writer_error;

static void png_write_error_handler(png_structp png, png_const_charp msg) {
    png_writer_error *st = (png_writer_error *)png_get_error_ptr(png);
    set_message(st->message, st->message_size, msg);
    longjmp(st->jump, 1);
}

static void png_write_memory(png_structp png, png_bytep data, png_size_t count) {
    png_writer_buffer *b = (png_writer_buffer *)png_get_io_ptr(png);
    if (b->size + count > b->capacity) {
        size_t cap = b->capacity ? b->capacity : 4096;
        while (cap < b->size + count) cap *= 2;
        uint8_t *grown = (uint8_t *)realloc(b->data, cap);
        if (!grown) png_error(png, "out of memory");
        b->data = grown;
        b->capacity = cap;
    }
    memcpy(b->data + b->size, data, count);
    b->size += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

int ember_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t level,
                     uint8_t **out, size_t *out_size, char *message, size_t message_size) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4) {
        set_message(message, message_size, "width and height must be positive and channels 1...4");
        return EMBER_IMAGE_UNSUPPORTED;
    }
    png_writer_error err = {{{0}}, message, message_size};
    png_writer_buffer *volatile buf = (png_writer_buffer *)calloc(1, sizeof(png_writer_buffer));
    if (!buf) return EMBER_IMAGE_NO_MEMORY;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_write_error_handler, png_warning_handler);
    if (!png) { free(buf); return EMBER_IMAGE_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); free(buf); return EMBER_IMAGE_NO_MEMORY; }
    if (setjmp(err.jump)) {
        png_destroy_write_struct(&png, &info);
        free(buf->data);
        free(buf);
        return EMBER_IMAGE_CORRUPT;
    }
    static const int colour[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                  PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(png, buf, png_write_memory, png_flush_memory);
    png_set_compression_level(png, level < 0 ? 6 : level > 9 ? 9 : level);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, colour[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t rowbytes = (size_t)width * (size_t)channels;
    for (int32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * rowbytes));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = buf->data;
    *out_size = buf->size;
    free(buf);
    return EMBER_IMAGE_OK;
}
