// imageshim: a thin C layer over libpng, libjpeg and libtiff for the Imaging module.
//
// libpng and libjpeg report fatal errors by longjmp'ing out of the library, which Swift cannot do: a callback that
// returns makes libpng abort(). These functions set up setjmp/longjmp in C, copy the library's message into a
// caller-provided buffer and return an error code instead.
#ifndef IMAGESHIM_H
#define IMAGESHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes of every imgshim_* function.
enum {
    IMGSHIM_OK = 0,
    IMGSHIM_ERR_OPEN = 1,         ///< The file could not be opened or created; the message holds strerror(errno).
    IMGSHIM_ERR_CORRUPT = 2,      ///< The decoder rejected the data; the message holds the decoder's text.
    IMGSHIM_ERR_TOO_LARGE = 3,    ///< The header's dimensions exceed the limits; width and height are filled in.
    IMGSHIM_ERR_UNSUPPORTED = 4,  ///< A valid file of a kind this shim does not decode (e.g. tiled 16-bit TIFF).
    IMGSHIM_ERR_NOMEM = 5,        ///< Allocation of the pixel buffer failed.
    IMGSHIM_ERR_WRITE = 6,        ///< Encoding or writing the output failed; the message holds the reason.
};

/// Resolution units reported by the readers.
enum {
    IMGSHIM_UNIT_NONE = 0,   ///< No resolution (or only an aspect ratio) was stored.
    IMGSHIM_UNIT_METRE = 1,  ///< Pixels per metre (PNG pHYs).
    IMGSHIM_UNIT_INCH = 2,   ///< Pixels per inch (JFIF density unit 1, TIFF ResolutionUnit 2).
    IMGSHIM_UNIT_CM = 3,     ///< Pixels per centimetre (JFIF density unit 2, TIFF ResolutionUnit 3).
};

/// Size limits checked against the header before any pixel buffer is allocated, and the size the caller needs.
///
/// An image larger than it needs is read reduced: by an integer factor f, the largest that keeps the result at
/// least need_width x need_height (or need_long on its long side), each output pixel the mean of an f x f block
/// of the file's (partial blocks at the right and bottom edges average what they cover). JPEG is decoded at 1/2,
/// 1/4 or 1/8 scale by libjpeg's DCT scaling first; PNG and TIFF strips are read row by row and reduced as they
/// are read, so no buffer of the full size exists. Interlaced PNGs and TIFFs libtiff reads only whole (tiles,
/// palettes, YCbCr) are decoded whole first, so their full size must fit max_pixels too.
typedef struct imgshim_limits {
    long long max_side;    ///< Largest allowed width or height of the file.
    long long max_pixels;  ///< Largest allowed width * height of what is held: the result, or a whole decode.
    long long need_width;  ///< With need_height: the least size the result must keep; 0 for no reduction.
    long long need_height;
    long long need_long;   ///< Or: the least long side the result must keep; 0 for none.
    int nearest;           ///< Reduce by taking each block's middle pixel, not its mean (a map of colours, not a picture;
                           ///< JPEG is then not DCT-scaled).
} imgshim_limits;

/// A decoded image: interleaved RGB or RGBA, 8 or 16 bits per sample.
typedef struct imgshim_image {
    unsigned char *pixels;    ///< malloc'd, width*height*channels samples; release with imgshim_free.
    int width;
    int height;
    int channels;             ///< 3 (RGB) or 4 (RGBA).
    int bit_depth;            ///< 8 or 16; 16-bit samples are in native byte order.
    int source_bit_depth;     ///< Bits per sample in the file (1, 2, 4, 8 or 16).
    int had_alpha;            ///< The file had an alpha channel or a tRNS chunk.
    int alpha_premultiplied;  ///< The alpha is associated (TIFF ExtraSamples = 1).
    double x_resolution;      ///< Horizontal resolution in resolution_unit; 0 if absent.
    int resolution_unit;      ///< One of IMGSHIM_UNIT_*.
    int file_width;           ///< The file's own size (width and height are the result's, after any reduction).
    int file_height;
} imgshim_image;

/// Read a PNG of any colour type and bit depth, expanded to 8- or 16-bit RGB(A). No gamma conversion is applied.
int imgshim_png_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap);

/// Read a baseline or progressive JPEG as 8-bit RGB. Gray, YCbCr, CMYK and YCCK files are converted.
/// libjpeg warnings (such as "Premature end of JPEG file") are treated as errors.
int imgshim_jpeg_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap);

/// Read a TIFF: 8/16-bit gray or RGB(A) strips via scanlines; other layouts of 8 bits or less via libtiff's RGBA
/// reader. Tiled or multi-sample 16-bit images in other layouts give IMGSHIM_ERR_UNSUPPORTED.
int imgshim_tiff_read(const char *path, imgshim_limits limits, imgshim_image *out, char *msg, size_t msg_cap);

/// Release a buffer returned by a reader.
void imgshim_free(void *pixels);

/// Fills one output row: `row` receives width*channels samples (uint8_t or native-endian uint16_t).
typedef void (*imgshim_row_fn)(void *context, int y, void *row);

/// What to write. The rows come from `fill_row`, called once per row in order, so no full interleaved copy is made.
typedef struct imgshim_write_spec {
    int width;
    int height;
    int channels;            ///< 1 (gray) or 3 (RGB).
    int bit_depth;           ///< 8 or 16.
    double dpi;              ///< Resolution to store; <= 0 stores none.
    imgshim_row_fn fill_row;
    void *context;
} imgshim_write_spec;

/// Write a PNG with a pHYs chunk of round(dpi / 0.0254) pixels per metre. The file must not exist yet (O_EXCL).
int imgshim_png_write(const char *path, const imgshim_write_spec *spec, char *msg, size_t msg_cap);

/// Encode a PNG (with pHYs when dpi > 0) into memory: *out is malloc'd (free it), *out_size its length.
int imgshim_png_encode(const imgshim_write_spec *spec, unsigned char **out, size_t *out_size, char *msg, size_t msg_cap);

/// Write a deflate-compressed TIFF strip by strip, with XResolution/YResolution and ResolutionUnit = inch.
/// The file must not exist yet (O_EXCL).
int imgshim_tiff_write(const char *path, const imgshim_write_spec *spec, char *msg, size_t msg_cap);

/// Test support: write `data` (rows packed as libpng expects for this colour type and depth, big-endian 16-bit)
/// as a PNG of the given PNG_COLOR_TYPE_*; `palette` holds npalette RGB triples, `trns` ntrns tRNS bytes.
int imgshim_testing_png_write_raw(const char *path, int width, int height, int color_type, int bit_depth,
                                  const unsigned char *data, const unsigned char *palette, int npalette,
                                  const unsigned char *trns, int ntrns, char *msg, size_t msg_cap);

/// Test support: write an 8-bit JPEG of 1 (gray), 3 (RGB) or 4 (CMYK, Adobe-inverted) components.
/// `density_unit` is the JFIF unit (0 none, 1 inch, 2 cm).
int imgshim_testing_jpeg_write(const char *path, int width, int height, int components, const unsigned char *data,
                               int quality, int density_unit, int density, char *msg, size_t msg_cap);

#ifdef __cplusplus
}
#endif

#endif
