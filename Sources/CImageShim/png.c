// PNG reading and writing through libpng, with setjmp/longjmp error handling.
#include "internal.h"

#include <png.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// Where the error callback puts libpng's message.
typedef struct png_error_sink {
    char *msg;
    size_t msg_cap;
} png_error_sink;

static void shim_png_error(png_structp png, png_const_charp message) {
    png_error_sink *sink = (png_error_sink *)png_get_error_ptr(png);
    if (sink != NULL) imgshim_set_message(sink->msg, sink->msg_cap, "%s", message);
    png_longjmp(png, 1);
}

static void shim_png_warning(png_structp png, png_const_charp message) {
    // Warnings (e.g. "iCCP: known incorrect sRGB profile") are not fatal and are deliberately not printed.
    (void)png;
    (void)message;
}

int imgshim_png_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap) {
    imgshim_clear_image(out);
    png_error_sink sink = { msg, msg_cap };
    FILE *fp = imgshim_open_read(path, msg, msg_cap);
    if (fp == NULL) return IMGSHIM_ERR_OPEN;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, shim_png_error, shim_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (info == NULL) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        fclose(fp);
        imgshim_set_message(msg, msg_cap, "out of memory");
        return IMGSHIM_ERR_NOMEM;
    }
    // Everything assigned after setjmp and used after a longjmp must be volatile. The reducer's fields live in memory
    // (its address goes to functions in another file), so the error path frees what they hold.
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile row = NULL;
    png_bytep *volatile rows = NULL;
    volatile int result = IMGSHIM_ERR_CORRUPT;
    imgshim_reducer reducer;
    memset(&reducer, 0, sizeof reducer);

    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(row);
        free(pixels);
        imgshim_reducer_free(&reducer, 0);
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return result;
    }
    png_init_io(png, fp);
    // Our own limits are checked below; lift libpng's 1,000,000-pixel default so they decide.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->file_width = (int)width;
    out->file_height = (int)height;
    int factor = imgshim_reduction(width, height, limits);
    // An interlaced file's rows arrive in seven passes, so it is decoded whole before it is reduced.
    int whole = interlace != PNG_INTERLACE_NONE;
    int status = imgshim_check_reduced(width, height, factor, whole, limits, msg, msg_cap);
    if (status != IMGSHIM_OK) {
        out->width = (int)width;
        out->height = (int)height;
        result = status;
        png_longjmp(png, 1);
    }

    png_uint_32 res_x = 0, res_y = 0;
    int unit = 0;
    if (png_get_pHYs(png, info, &res_x, &res_y, &unit) && unit == PNG_RESOLUTION_METER && res_x > 0) {
        out->x_resolution = (double)res_x;
        out->resolution_unit = IMGSHIM_UNIT_METRE;
    }
    int had_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS);

    // Expand everything to 8- or 16-bit RGB(A). No png_set_gamma / png_set_alpha_mode: values stay as stored.
    png_set_expand(png);  // palette -> RGB, gray 1/2/4 -> 8, tRNS -> alpha
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bit_depth == 16) png_set_swap(png);  // PNG is big-endian; hand back native byte order
#endif
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || (out_depth != 8 && out_depth != 16) ||
        rowbytes != (size_t)width * (size_t)channels * (size_t)(out_depth / 8)) {
        imgshim_set_message(msg, msg_cap, "unexpected layout after expansion (%d channels, %d bits)",
                            channels, out_depth);
        result = IMGSHIM_ERR_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    if (factor > 1 && !whole) {
        // Row by row into the reducer: only one row of the file's width is ever held.
        row = malloc(rowbytes);
        if (row == NULL || imgshim_reducer_init(&reducer, width, height, channels, out_depth / 8, factor, limits.nearest) != IMGSHIM_OK) {
            imgshim_set_message(msg, msg_cap, "out of memory for %ux%u pixels read at 1/%d", width, height, factor);
            result = IMGSHIM_ERR_NOMEM;
            png_longjmp(png, 1);
        }
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, row, NULL);
            imgshim_reducer_push(&reducer, row);
        }
    } else {
        pixels = malloc(rowbytes * height);
        rows = malloc(sizeof(png_bytep) * height);
        if (pixels == NULL || rows == NULL) {
            imgshim_set_message(msg, msg_cap, "out of memory for %ux%u pixels", width, height);
            result = IMGSHIM_ERR_NOMEM;
            png_longjmp(png, 1);
        }
        for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + rowbytes * y;
        png_read_image(png, rows);
        if (factor > 1) {
            if (imgshim_reducer_init(&reducer, width, height, channels, out_depth / 8, factor, limits.nearest) != IMGSHIM_OK) {
                imgshim_set_message(msg, msg_cap, "out of memory for %ux%u pixels read at 1/%d", width, height, factor);
                result = IMGSHIM_ERR_NOMEM;
                png_longjmp(png, 1);
            }
            for (png_uint_32 y = 0; y < height; y++) imgshim_reducer_push(&reducer, rows[y]);
        }
    }
    png_read_end(png, NULL);

    if (factor > 1) {
        free(pixels);
        pixels = reducer.pixels;
        imgshim_reducer_free(&reducer, 1);
        width = (png_uint_32)reducer.out_width;
        height = (png_uint_32)reducer.out_height;
    }
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->bit_depth = out_depth;
    out->source_bit_depth = bit_depth;
    out->had_alpha = had_alpha;
    free(rows);
    free(row);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return IMGSHIM_OK;
}

/// Shared writer: either rows come from spec->fill_row, or (raw mode) straight from `raw` in PNG byte order.
/// Encodes onto `fp`, which the caller opened and closes.
static int write_png_stream(FILE *fp, int width, int height, int color_type, int bit_depth, double dpi,
                            const imgshim_write_spec *spec, const unsigned char *raw,
                            const unsigned char *palette, int npalette, const unsigned char *trns, int ntrns,
                            char *msg, size_t msg_cap) {
    png_error_sink sink = { msg, msg_cap };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, shim_png_error, shim_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (info == NULL) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        imgshim_set_message(msg, msg_cap, "out of memory");
        return IMGSHIM_ERR_NOMEM;
    }
    unsigned char *volatile row = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(row);
        png_destroy_write_struct(&png, &info);
        return IMGSHIM_ERR_WRITE;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette != NULL && npalette > 0) png_set_PLTE(png, info, (png_const_colorp)palette, npalette);
    if (trns != NULL && ntrns > 0) {
        png_color_16 trans_color;
        memset(&trans_color, 0, sizeof trans_color);
        if (color_type == PNG_COLOR_TYPE_GRAY && ntrns >= 2) trans_color.gray = (png_uint_16)(trns[0] << 8 | trns[1]);
        int is_palette = color_type == PNG_COLOR_TYPE_PALETTE;
        png_set_tRNS(png, info, is_palette ? trns : NULL, is_palette ? ntrns : 0, is_palette ? NULL : &trans_color);
    }
    if (dpi > 0) {
        png_uint_32 ppm = (png_uint_32)lround(dpi / 0.0254);
        png_set_pHYs(png, info, ppm, ppm, PNG_RESOLUTION_METER);
    }
    if (raw == NULL) {
        // Measured on a 3600x2400 photo: Paeth only at zlib level 3 writes 16-bit 1.8x and 8-bit 2.6x faster than
        // libpng's default (all filters, level 6), for files at most 10% larger. Big renders are 78 Mpx.
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_PAETH);
        png_set_compression_level(png, 3);
    }
    png_write_info(png, info);
    if (raw != NULL) {
        size_t rowbytes = png_get_rowbytes(png, info);
        for (int y = 0; y < height; y++) png_write_row(png, raw + rowbytes * (size_t)y);
    } else {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (bit_depth == 16) png_set_swap(png);  // rows are native-endian uint16_t; PNG stores big-endian
#endif
        size_t rowbytes = (size_t)width * (size_t)spec->channels * (size_t)(bit_depth / 8);
        row = malloc(rowbytes);
        if (row == NULL) png_error(png, "out of memory for a row");
        for (int y = 0; y < height; y++) {
            spec->fill_row(spec->context, y, row);
            png_write_row(png, row);
        }
    }
    png_write_end(png, NULL);
    free(row);
    png_destroy_write_struct(&png, &info);
    return IMGSHIM_OK;
}

/// Encodes into a new file at `path` (O_EXCL), flushed and fsynced.
static int write_png(const char *path, int width, int height, int color_type, int bit_depth, double dpi,
                     const imgshim_write_spec *spec, const unsigned char *raw,
                     const unsigned char *palette, int npalette, const unsigned char *trns, int ntrns,
                     char *msg, size_t msg_cap) {
    int status = IMGSHIM_OK;
    FILE *fp = imgshim_create_file(path, &status, msg, msg_cap);
    if (fp == NULL) return status;
    status = write_png_stream(fp, width, height, color_type, bit_depth, dpi, spec, raw, palette, npalette, trns, ntrns,
                              msg, msg_cap);
    if (status != IMGSHIM_OK) {
        fclose(fp);
        return status;
    }
    return imgshim_finish_file(fp, msg, msg_cap);
}

/// Checks a spec for the fill-row writers; sets the message and returns false when PNG cannot hold it.
static int png_spec_ok(const imgshim_write_spec *spec, char *msg, size_t msg_cap) {
    if ((spec->channels != 1 && spec->channels != 3) || (spec->bit_depth != 8 && spec->bit_depth != 16) ||
        spec->width <= 0 || spec->height <= 0 || spec->fill_row == NULL) {
        imgshim_set_message(msg, msg_cap, "cannot write %d-channel %d-bit %dx%d PNG",
                            spec->channels, spec->bit_depth, spec->width, spec->height);
        return 0;
    }
    return 1;
}

int imgshim_png_encode(const imgshim_write_spec *spec, unsigned char **out, size_t *out_size, char *msg, size_t msg_cap) {
    *out = NULL;
    *out_size = 0;
    if (!png_spec_ok(spec, msg, msg_cap)) return IMGSHIM_ERR_UNSUPPORTED;
    char *buffer = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&buffer, &size);
    if (fp == NULL) {
        imgshim_set_message(msg, msg_cap, "open_memstream failed");
        return IMGSHIM_ERR_NOMEM;
    }
    int color_type = spec->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    int status = write_png_stream(fp, spec->width, spec->height, color_type, spec->bit_depth, spec->dpi, spec, NULL,
                                  NULL, 0, NULL, 0, msg, msg_cap);
    if (fclose(fp) != 0 && status == IMGSHIM_OK) {
        imgshim_set_message(msg, msg_cap, "out of memory");
        status = IMGSHIM_ERR_NOMEM;
    }
    if (status != IMGSHIM_OK) {
        free(buffer);
        return status;
    }
    *out = (unsigned char *)buffer;
    *out_size = size;
    return IMGSHIM_OK;
}

int imgshim_png_write(const char *path, const imgshim_write_spec *spec, char *msg, size_t msg_cap) {
    if (!png_spec_ok(spec, msg, msg_cap)) return IMGSHIM_ERR_UNSUPPORTED;
    int color_type = spec->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    return write_png(path, spec->width, spec->height, color_type, spec->bit_depth, spec->dpi, spec, NULL,
                     NULL, 0, NULL, 0, msg, msg_cap);
}

int imgshim_testing_png_write_raw(const char *path, int width, int height, int color_type, int bit_depth,
                                  const unsigned char *data, const unsigned char *palette, int npalette,
                                  const unsigned char *trns, int ntrns, char *msg, size_t msg_cap) {
    if (data == NULL || width <= 0 || height <= 0) {
        imgshim_set_message(msg, msg_cap, "no data");
        return IMGSHIM_ERR_UNSUPPORTED;
    }
    return write_png(path, width, height, color_type, bit_depth, 0, NULL, data, palette, npalette, trns, ntrns,
                     msg, msg_cap);
}
