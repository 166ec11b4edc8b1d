// Helpers shared by the imageshim codecs; not part of the public header.
#ifndef IMAGESHIM_INTERNAL_H
#define IMAGESHIM_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include "imageshim.h"

/// Copies a formatted message into msg (always NUL-terminated when msg_cap > 0).
void imgshim_set_message(char *msg, size_t msg_cap, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/// IMGSHIM_OK if width x height fits the limits (and both are positive), else IMGSHIM_ERR_TOO_LARGE with a message.
int imgshim_check_limits(long long width, long long height, imgshim_limits limits, char *msg, size_t msg_cap);

/// The reduction factor for a width x height file under limits' need (1: none).
int imgshim_reduction(long long width, long long height, imgshim_limits limits);

/// ceil(n / f).
static inline long long imgshim_reduced(long long n, int f) { return (n + f - 1) / f; }

/// IMGSHIM_OK if a width x height file read reduced by `factor` fits the limits: the file's sides max_side, the
/// result's pixels (and with `whole`, the file's own pixels) max_pixels; else IMGSHIM_ERR_TOO_LARGE with a message.
int imgshim_check_reduced(long long width, long long height, int factor, int whole, imgshim_limits limits, char *msg,
                          size_t msg_cap);

/// Box reduction by an integer factor, fed one interleaved row at a time (1 or 2 bytes per native-endian sample).
typedef struct imgshim_reducer {
    size_t in_width, in_height, out_width, out_height;
    int channels, bytes, factor;
    int nearest;               ///< each block's middle pixel instead of its mean
    unsigned long long *sums;  ///< out_width * channels running sums of the current block row
    size_t rows;               ///< input rows summed into the current block row
    size_t out_y;              ///< next output row
    unsigned char *pixels;     ///< the result, out_width * out_height * channels * bytes (malloc'd)
} imgshim_reducer;

/// Allocates the sums and the result; IMGSHIM_OK or IMGSHIM_ERR_NOMEM.
int imgshim_reducer_init(imgshim_reducer *r, size_t width, size_t height, int channels, int bytes, int factor, int nearest);
/// Adds the next input row (in_width * channels samples).
void imgshim_reducer_push(imgshim_reducer *r, const unsigned char *row);
/// Frees the sums; the result too unless `keep_pixels`.
void imgshim_reducer_free(imgshim_reducer *r, int keep_pixels);

/// Opens path for reading ("rb"); on failure sets the message from errno and returns NULL.
FILE *imgshim_open_read(const char *path, char *msg, size_t msg_cap);

/// Creates path exclusively (O_CREAT | O_EXCL, mode 0666 & umask) read/write; returns the fd or -1 with a message.
int imgshim_create_exclusive(const char *path, char *msg, size_t msg_cap);

/// Creates path exclusively as a FILE* for writing ("wb"); NULL with *status IMGSHIM_ERR_OPEN (cannot create) or
/// IMGSHIM_ERR_WRITE (fdopen failed) and a message.
FILE *imgshim_create_file(const char *path, int *status, char *msg, size_t msg_cap);

/// Flushes, fsyncs and closes a FILE*; IMGSHIM_OK or IMGSHIM_ERR_WRITE with a message.
int imgshim_finish_file(FILE *fp, char *msg, size_t msg_cap);

/// Sets the fields of out to their empty values.
void imgshim_clear_image(imgshim_image *out);

#endif
