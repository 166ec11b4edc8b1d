// JPEG reading (and a test-only writer) through libjpeg, with setjmp/longjmp error handling.
#include "internal.h"

#include <stdio.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// libjpeg's error manager extended with a jump buffer and the caller's message buffer.
typedef struct shim_jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char *msg;
    size_t msg_cap;
} shim_jpeg_error;

static void shim_jpeg_fail(j_common_ptr cinfo) {
    shim_jpeg_error *err = (shim_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    err->mgr.format_message(cinfo, text);
    imgshim_set_message(err->msg, err->msg_cap, "%s", text);
    longjmp(err->jump, 1);
}

static void shim_jpeg_emit(j_common_ptr cinfo, int msg_level) {
    // Level -1 is a warning about damaged data ("Premature end of JPEG file", "Corrupt JPEG data: ..."):
    // libjpeg would carry on and return a partly grey image, so treat it as fatal. Levels >= 0 are trace output.
    if (msg_level < 0) shim_jpeg_fail(cinfo);
}

static void shim_jpeg_output(j_common_ptr cinfo) {
    (void)cinfo;  // never print to stderr
}

static void install_errors(shim_jpeg_error *err, char *msg, size_t msg_cap) {
    jpeg_std_error(&err->mgr);
    err->mgr.error_exit = shim_jpeg_fail;
    err->mgr.emit_message = shim_jpeg_emit;
    err->mgr.output_message = shim_jpeg_output;
    err->msg = msg;
    err->msg_cap = msg_cap;
}

/// CMYK as libjpeg returns it -> RGB. Adobe files store inverted CMYK, where the naive product is already RGB.
static void cmyk_row_to_rgb(const unsigned char *cmyk, unsigned char *rgb, int width, int inverted) {
    for (int x = 0; x < width; x++) {
        int c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        rgb[3 * x] = (unsigned char)((c * k + 127) / 255);
        rgb[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
        rgb[3 * x + 2] = (unsigned char)((y * k + 127) / 255);
    }
}

int imgshim_jpeg_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap) {
    imgshim_clear_image(out);
    FILE *fp = imgshim_open_read(path, msg, msg_cap);
    if (fp == NULL) return IMGSHIM_ERR_OPEN;

    struct jpeg_decompress_struct cinfo;
    shim_jpeg_error err;
    install_errors(&err, msg, msg_cap);
    cinfo.err = &err.mgr;
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile cmyk_row = NULL;
    unsigned char *volatile rgb_row = NULL;
    volatile int result = IMGSHIM_ERR_CORRUPT;
    imgshim_reducer reducer;  // in memory (its address escapes), freed on the error path
    memset(&reducer, 0, sizeof reducer);
    if (setjmp(err.jump)) {
        free(pixels);
        free(cmyk_row);
        free(rgb_row);
        imgshim_reducer_free(&reducer, 0);
        jpeg_destroy_decompress(&cinfo);
        fclose(fp);
        return result;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, fp);
    jpeg_read_header(&cinfo, TRUE);
    out->file_width = (int)cinfo.image_width;
    out->file_height = (int)cinfo.image_height;

    // Larger than needed: libjpeg's DCT scaling decodes at 1/2, 1/4 or 1/8 for almost nothing, then the reducer
    // takes the rest of the factor as rows arrive.
    int factor = imgshim_reduction(cinfo.image_width, cinfo.image_height, limits);
    cinfo.scale_num = 1;
    cinfo.scale_denom = limits.nearest ? 1 : factor >= 8 ? 8 : factor >= 4 ? 4 : factor >= 2 ? 2 : 1;
    jpeg_calc_output_dimensions(&cinfo);
    int rest = imgshim_reduction(cinfo.output_width, cinfo.output_height, limits);
    int status = imgshim_check_limits(cinfo.image_width, cinfo.image_height,
                                      (imgshim_limits){ limits.max_side, 1LL << 62, 0, 0, 0, 0 }, msg, msg_cap);
    // A progressive (multi-scan) file makes libjpeg hold every coefficient of the whole image whatever the scale: its
    // full size must fit, as an interlaced PNG's does.
    if (status == IMGSHIM_OK && jpeg_has_multiple_scans(&cinfo)) {
        status = imgshim_check_reduced(cinfo.image_width, cinfo.image_height, 1, 1, limits, msg, msg_cap);
    }
    if (status == IMGSHIM_OK) status = imgshim_check_reduced(cinfo.output_width, cinfo.output_height, rest, 0, limits, msg, msg_cap);
    if (status != IMGSHIM_OK) {
        out->width = (int)cinfo.image_width;
        out->height = (int)cinfo.image_height;
        result = status;
        longjmp(err.jump, 1);
    }
    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
    if (cinfo.saw_JFIF_marker && cinfo.X_density > 0 && (cinfo.density_unit == 1 || cinfo.density_unit == 2)) {
        out->x_resolution = cinfo.X_density;
        out->resolution_unit = cinfo.density_unit == 1 ? IMGSHIM_UNIT_INCH : IMGSHIM_UNIT_CM;
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != (is_cmyk ? 4 : 3)) {
        imgshim_set_message(msg, msg_cap, "unexpected %d output components", cinfo.output_components);
        result = IMGSHIM_ERR_UNSUPPORTED;
        longjmp(err.jump, 1);
    }
    size_t width = cinfo.output_width, height = cinfo.output_height;
    int ok = 1;
    if (rest > 1) {
        rgb_row = malloc(width * 3);
        ok = rgb_row != NULL && imgshim_reducer_init(&reducer, width, height, 3, 1, rest, limits.nearest) == IMGSHIM_OK;
    } else {
        pixels = malloc(width * height * 3);
        ok = pixels != NULL;
    }
    if (is_cmyk) cmyk_row = malloc(width * 4);
    if (!ok || (is_cmyk && cmyk_row == NULL)) {
        imgshim_set_message(msg, msg_cap, "out of memory for %zux%zu pixels", width, height);
        result = IMGSHIM_ERR_NOMEM;
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *dest = rest > 1 ? rgb_row : pixels + (size_t)cinfo.output_scanline * width * 3;
        JSAMPROW row = is_cmyk ? cmyk_row : dest;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            imgshim_set_message(msg, msg_cap, "decoder returned no scanline");
            longjmp(err.jump, 1);
        }
        if (is_cmyk) cmyk_row_to_rgb(cmyk_row, dest, (int)width, cinfo.saw_Adobe_marker);
        if (rest > 1) imgshim_reducer_push(&reducer, dest);
    }
    jpeg_finish_decompress(&cinfo);

    if (rest > 1) {
        pixels = reducer.pixels;
        imgshim_reducer_free(&reducer, 1);
        width = reducer.out_width;
        height = reducer.out_height;
    }
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    out->channels = 3;
    out->bit_depth = 8;
    out->source_bit_depth = cinfo.data_precision;
    free(cmyk_row);
    free(rgb_row);
    jpeg_destroy_decompress(&cinfo);
    fclose(fp);
    return IMGSHIM_OK;
}

int imgshim_testing_jpeg_write(const char *path, int width, int height, int components, const unsigned char *data,
                               int quality, int density_unit, int density, char *msg, size_t msg_cap) {
    if (components != 1 && components != 3 && components != 4) {
        imgshim_set_message(msg, msg_cap, "unsupported component count %d", components);
        return IMGSHIM_ERR_UNSUPPORTED;
    }
    int status = IMGSHIM_OK;
    FILE *fp = imgshim_create_file(path, &status, msg, msg_cap);
    if (fp == NULL) return status;
    struct jpeg_compress_struct cinfo;
    shim_jpeg_error err;
    install_errors(&err, msg, msg_cap);
    cinfo.err = &err.mgr;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        fclose(fp);
        return IMGSHIM_ERR_WRITE;
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, fp);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (density_unit > 0) {
        cinfo.write_JFIF_header = TRUE;
        cinfo.density_unit = (UINT8)density_unit;
        cinfo.X_density = (UINT16)density;
        cinfo.Y_density = (UINT16)density;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(data + (size_t)cinfo.next_scanline * (size_t)width * (size_t)components);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return imgshim_finish_file(fp, msg, msg_cap);
}
