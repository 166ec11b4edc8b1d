// TIFF reading and writing through libtiff, with error messages captured instead of printed.
#include "internal.h"

#include <tiffio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// libtiff's handlers are process-wide; the message goes to the calling thread's buffer, so concurrent reads and
// writes on different threads keep their messages apart. Only the first error of an operation is kept.
static _Thread_local char tiff_message[512];
static _Thread_local const char *tiff_path;
static pthread_once_t tiff_handlers_once = PTHREAD_ONCE_INIT;

static void tiff_error(const char *module, const char *format, va_list args) {
    if (tiff_message[0] != '\0') return;
    char text[400];
    vsnprintf(text, sizeof text, format, args);
    if (module != NULL && (tiff_path == NULL || strcmp(module, tiff_path) != 0)) {
        snprintf(tiff_message, sizeof tiff_message, "%s: %s", module, text);
    } else {
        snprintf(tiff_message, sizeof tiff_message, "%s", text);
    }
}

static void tiff_warning(const char *module, const char *format, va_list args) {
    (void)module;  // e.g. "Unknown field with tag ..." - harmless, and never printed to stderr
    (void)format;
    (void)args;
}

static void install_tiff_handlers(void) {
    TIFFSetErrorHandler(tiff_error);
    TIFFSetWarningHandler(tiff_warning);
}

static void begin_tiff(const char *path) {
    pthread_once(&tiff_handlers_once, install_tiff_handlers);
    tiff_message[0] = '\0';
    tiff_path = path;
}

/// Returns code after copying the captured libtiff message (or `fallback`) into msg and closing tif.
static int fail_tiff(TIFF *tif, int code, const char *fallback, char *msg, size_t msg_cap) {
    if (tif != NULL) TIFFClose(tif);
    imgshim_set_message(msg, msg_cap, "%s", tiff_message[0] ? tiff_message : fallback);
    tiff_path = NULL;
    return code;
}

/// Reads strips of 8/16-bit gray or RGB (with optional alpha) scanline by scanline into RGB(A): into `pixels` (the
/// whole image), or through `reducer` one row at a time when it is given.
static int read_scanlines(TIFF *tif, imgshim_image *out, int spp, int bytes, int alpha, unsigned char *pixels,
                          imgshim_reducer *reducer) {
    tsize_t line_size = TIFFScanlineSize(tif);
    int gray = spp <= 2, out_ch = out->channels;
    size_t width = (size_t)out->width;
    unsigned char *line = malloc((size_t)line_size);
    unsigned char *row = reducer != NULL ? malloc(width * (size_t)(out_ch * bytes)) : NULL;
    if (line == NULL || (reducer != NULL && row == NULL)) {
        free(line);
        free(row);
        return IMGSHIM_ERR_NOMEM;
    }
    for (int y = 0; y < out->height; y++) {
        if (TIFFReadScanline(tif, line, (uint32_t)y, 0) < 0) {
            free(line);
            free(row);
            return IMGSHIM_ERR_CORRUPT;
        }
        unsigned char *dest = reducer != NULL ? row : pixels + (size_t)y * width * (size_t)(out_ch * bytes);
        for (size_t x = 0; x < width; x++) {
            const unsigned char *src = line + x * (size_t)(spp * bytes);
            unsigned char *d = dest + x * (size_t)(out_ch * bytes);
            for (int c = 0; c < 3; c++) memcpy(d + c * bytes, src + (gray ? 0 : c) * bytes, (size_t)bytes);
            if (alpha) memcpy(d + 3 * bytes, src + (spp - 1) * bytes, (size_t)bytes);
        }
        if (reducer != NULL) imgshim_reducer_push(reducer, dest);
    }
    free(line);
    free(row);
    return IMGSHIM_OK;
}

int imgshim_tiff_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap) {
    imgshim_clear_image(out);
    FILE *probe = imgshim_open_read(path, msg, msg_cap);
    if (probe == NULL) return IMGSHIM_ERR_OPEN;
    fclose(probe);
    begin_tiff(path);
    TIFF *tif = TIFFOpen(path, "r");
    if (tif == NULL) return fail_tiff(NULL, IMGSHIM_ERR_CORRUPT, "not a readable TIFF file", msg, msg_cap);

    uint32_t width = 0, height = 0;
    uint16_t bps = 1, spp = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT;
    uint16_t extra_count = 0, *extra_types = NULL, unit = RESUNIT_INCH;
    float xres = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height)) {
        return fail_tiff(tif, IMGSHIM_ERR_CORRUPT, "missing image dimensions", msg, msg_cap);
    }
    out->file_width = (int)width;
    out->file_height = (int)height;
    int status = imgshim_check_limits(width, height, (imgshim_limits){ limits.max_side, 1LL << 62, 0, 0, 0, 0 }, msg, msg_cap);
    if (status != IMGSHIM_OK) {
        TIFFClose(tif);
        out->width = (int)width;
        out->height = (int)height;
        return status;
    }
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &extra_count, &extra_types);
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) && xres > 0) {
        TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
        if (unit == RESUNIT_INCH || unit == RESUNIT_CENTIMETER) {
            out->x_resolution = xres;
            out->resolution_unit = unit == RESUNIT_INCH ? IMGSHIM_UNIT_INCH : IMGSHIM_UNIT_CM;
        }
    }
    int alpha = extra_count > 0;
    out->width = (int)width;
    out->height = (int)height;
    out->channels = alpha ? 4 : 3;
    out->source_bit_depth = bps;
    out->had_alpha = alpha;
    out->alpha_premultiplied = alpha && extra_types != NULL && extra_types[0] == EXTRASAMPLE_ASSOCALPHA;

    int simple = !TIFFIsTiled(tif) && planar == PLANARCONFIG_CONTIG && (bps == 8 || bps == 16) &&
                 format == SAMPLEFORMAT_UINT &&
                 ((photometric == PHOTOMETRIC_RGB && spp == 3 + alpha) ||
                  (photometric == PHOTOMETRIC_MINISBLACK && spp == 1 + alpha)) && extra_count <= 1;
    char reason[1024];
    if (!simple && (bps > 8 || !TIFFRGBAImageOK(tif, reason))) {
        if (bps > 8) snprintf(reason, sizeof reason, "%u-bit TIFF with %u samples, photometric %u, %s",
                              bps, spp, photometric, TIFFIsTiled(tif) ? "tiled" : "in this layout");
        TIFFClose(tif);
        tiff_path = NULL;
        imgshim_set_message(msg, msg_cap, "%s", reason);
        return IMGSHIM_ERR_UNSUPPORTED;
    }
    // Strips are reduced as they are read; the layouts libtiff reads only whole (its RGBA reader) are reduced after.
    int factor = imgshim_reduction(width, height, limits);
    status = imgshim_check_reduced(width, height, factor, !simple, limits, msg, msg_cap);
    if (status != IMGSHIM_OK) {
        TIFFClose(tif);
        tiff_path = NULL;
        return status;
    }
    out->bit_depth = simple ? bps : 8;
    size_t bytes = (size_t)out->bit_depth / 8;
    imgshim_reducer reducer;
    memset(&reducer, 0, sizeof reducer);
    if (factor > 1 && imgshim_reducer_init(&reducer, width, height, out->channels, (int)bytes, factor, limits.nearest) != IMGSHIM_OK) {
        return fail_tiff(tif, IMGSHIM_ERR_NOMEM, "out of memory", msg, msg_cap);
    }
    unsigned char *pixels = NULL;
    if (factor == 1 || !simple) {
        pixels = malloc((size_t)width * height * (size_t)out->channels * bytes);
        if (pixels == NULL) {
            imgshim_reducer_free(&reducer, 0);
            return fail_tiff(tif, IMGSHIM_ERR_NOMEM, "out of memory", msg, msg_cap);
        }
    }
    if (simple) {
        status = read_scanlines(tif, out, spp, (int)bytes, alpha, pixels, factor > 1 ? &reducer : NULL);
    } else {
        // libtiff's RGBA reader handles palettes, YCbCr, CMYK, tiles and low bit depths; it premultiplies alpha.
        uint32_t *raster = malloc((size_t)width * height * sizeof(uint32_t));
        status = raster == NULL ? IMGSHIM_ERR_NOMEM : IMGSHIM_OK;
        if (raster != NULL && !TIFFReadRGBAImageOriented(tif, width, height, raster, ORIENTATION_TOPLEFT, 0)) {
            status = IMGSHIM_ERR_CORRUPT;
        }
        for (size_t i = 0; status == IMGSHIM_OK && i < (size_t)width * height; i++) {
            unsigned char *d = pixels + i * (size_t)out->channels;
            d[0] = (unsigned char)TIFFGetR(raster[i]);
            d[1] = (unsigned char)TIFFGetG(raster[i]);
            d[2] = (unsigned char)TIFFGetB(raster[i]);
            if (alpha) d[3] = (unsigned char)TIFFGetA(raster[i]);
        }
        free(raster);
        out->alpha_premultiplied = alpha;
    }
    if (status != IMGSHIM_OK) {
        free(pixels);
        imgshim_reducer_free(&reducer, 0);
        return fail_tiff(tif, status, status == IMGSHIM_ERR_NOMEM ? "out of memory" : "read error", msg, msg_cap);
    }
    if (factor > 1) {
        if (!simple) {
            size_t rowbytes = (size_t)width * (size_t)out->channels * bytes;
            for (size_t y = 0; y < height; y++) imgshim_reducer_push(&reducer, pixels + y * rowbytes);
            free(pixels);
        }
        pixels = reducer.pixels;
        imgshim_reducer_free(&reducer, 1);
        out->width = (int)reducer.out_width;
        out->height = (int)reducer.out_height;
    }
    TIFFClose(tif);
    tiff_path = NULL;
    out->pixels = pixels;
    return IMGSHIM_OK;
}

int imgshim_tiff_write(const char *path, const imgshim_write_spec *spec, char *msg, size_t msg_cap) {
    if ((spec->channels != 1 && spec->channels != 3) || (spec->bit_depth != 8 && spec->bit_depth != 16) ||
        spec->width <= 0 || spec->height <= 0 || spec->fill_row == NULL) {
        imgshim_set_message(msg, msg_cap, "cannot write %d-channel %d-bit %dx%d TIFF",
                            spec->channels, spec->bit_depth, spec->width, spec->height);
        return IMGSHIM_ERR_UNSUPPORTED;
    }
    int fd = imgshim_create_exclusive(path, msg, msg_cap);
    if (fd < 0) return IMGSHIM_ERR_OPEN;
    begin_tiff(path);
    // Classic TIFF offsets are 32-bit: past ~4 GiB of samples (a gigapixel canvas), write BigTIFF.
    uint64_t raw_bytes = (uint64_t)spec->width * (uint64_t)spec->height * (uint64_t)spec->channels * (uint64_t)(spec->bit_depth / 8);
    TIFF *tif = TIFFFdOpen(fd, path, raw_bytes > 0xF0000000ull ? "w8" : "w");
    if (tif == NULL) {
        close(fd);
        return fail_tiff(NULL, IMGSHIM_ERR_WRITE, "TIFFFdOpen failed", msg, msg_cap);
    }
    size_t rowbytes = (size_t)spec->width * (size_t)spec->channels * (size_t)(spec->bit_depth / 8);
    uint32_t rows_per_strip = (uint32_t)(rowbytes >= 262144 ? 1 : 262144 / rowbytes);
    if (rows_per_strip > (uint32_t)spec->height) rows_per_strip = (uint32_t)spec->height;
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)spec->width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)spec->height);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)spec->bit_depth);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spec->channels);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, spec->channels == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rows_per_strip);
    if (TIFFIsCODECConfigured(COMPRESSION_ADOBE_DEFLATE)) {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
        TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    }
    if (spec->dpi > 0) {
        TIFFSetField(tif, TIFFTAG_XRESOLUTION, spec->dpi);
        TIFFSetField(tif, TIFFTAG_YRESOLUTION, spec->dpi);
        TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    }
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "StyleFarm");
    unsigned char *strip = malloc(rowbytes * rows_per_strip);
    if (strip == NULL) return fail_tiff(tif, IMGSHIM_ERR_NOMEM, "out of memory", msg, msg_cap);
    uint32_t strip_index = 0;
    for (uint32_t y0 = 0; y0 < (uint32_t)spec->height; y0 += rows_per_strip, strip_index++) {
        uint32_t rows = (uint32_t)spec->height - y0 < rows_per_strip ? (uint32_t)spec->height - y0 : rows_per_strip;
        for (uint32_t r = 0; r < rows; r++) spec->fill_row(spec->context, (int)(y0 + r), strip + r * rowbytes);
        if (TIFFWriteEncodedStrip(tif, strip_index, strip, (tmsize_t)(rows * rowbytes)) < 0) {
            free(strip);
            return fail_tiff(tif, IMGSHIM_ERR_WRITE, "strip write failed", msg, msg_cap);
        }
    }
    free(strip);
    if (!TIFFFlush(tif) || fsync(TIFFFileno(tif)) != 0) {
        return fail_tiff(tif, IMGSHIM_ERR_WRITE, "flush failed", msg, msg_cap);
    }
    TIFFClose(tif);
    tiff_path = NULL;
    return IMGSHIM_OK;
}
