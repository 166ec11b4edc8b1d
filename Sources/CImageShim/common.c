// Helpers shared by the imageshim codecs.
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void imgshim_set_message(char *msg, size_t msg_cap, const char *format, ...) {
    if (msg == NULL || msg_cap == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(msg, msg_cap, format, args);
    va_end(args);
}

int imgshim_check_limits(long long width, long long height, imgshim_limits limits, char *msg, size_t msg_cap) {
    if (width <= 0 || height <= 0) {
        imgshim_set_message(msg, msg_cap, "invalid dimensions %lldx%lld", width, height);
        return IMGSHIM_ERR_CORRUPT;
    }
    if (width > limits.max_side || height > limits.max_side) {
        imgshim_set_message(msg, msg_cap, "%lldx%lld exceeds the limit of %lld pixels per side",
                            width, height, limits.max_side);
        return IMGSHIM_ERR_TOO_LARGE;
    }
    if (width * height > limits.max_pixels) {
        imgshim_set_message(msg, msg_cap, "%lldx%lld exceeds the limit of %lld pixels",
                            width, height, limits.max_pixels);
        return IMGSHIM_ERR_TOO_LARGE;
    }
    return IMGSHIM_OK;
}

int imgshim_reduction(long long width, long long height, imgshim_limits limits) {
    long long f = 1;
    if (limits.need_width > 0 && limits.need_height > 0) {
        long long fw = width / limits.need_width, fh = height / limits.need_height;
        f = fw < fh ? fw : fh;
    } else if (limits.need_long > 0) {
        f = (width > height ? width : height) / limits.need_long;
    }
    if (f < 1) f = 1;
    return f > 65535 ? 65535 : (int)f;
}

int imgshim_check_reduced(long long width, long long height, int factor, int whole, imgshim_limits limits, char *msg,
                          size_t msg_cap) {
    int status = imgshim_check_limits(width, height, (imgshim_limits){ limits.max_side, 1LL << 62, 0, 0, 0, 0 }, msg, msg_cap);
    if (status != IMGSHIM_OK) return status;
    long long w = imgshim_reduced(width, factor), h = imgshim_reduced(height, factor);
    if (w * h > limits.max_pixels || (whole && width * height > limits.max_pixels)) {
        if (factor == 1) {
            imgshim_set_message(msg, msg_cap, "%lldx%lld exceeds the limit of %lld pixels", width, height, limits.max_pixels);
        } else if (whole) {
            imgshim_set_message(msg, msg_cap, "%lldx%lld is decoded whole (interlaced or in a layout read whole) and exceeds "
                                "the limit of %lld pixels", width, height, limits.max_pixels);
        } else {
            imgshim_set_message(msg, msg_cap, "%lldx%lld, read at 1/%d as %lldx%lld, exceeds the limit of %lld pixels",
                                width, height, factor, w, h, limits.max_pixels);
        }
        return IMGSHIM_ERR_TOO_LARGE;
    }
    return IMGSHIM_OK;
}

int imgshim_reducer_init(imgshim_reducer *r, size_t width, size_t height, int channels, int bytes, int factor, int nearest) {
    memset(r, 0, sizeof *r);
    r->nearest = nearest;
    r->in_width = width;
    r->in_height = height;
    r->channels = channels;
    r->bytes = bytes;
    r->factor = factor;
    r->out_width = (width + (size_t)factor - 1) / (size_t)factor;
    r->out_height = (height + (size_t)factor - 1) / (size_t)factor;
    r->sums = calloc(r->out_width * (size_t)channels, sizeof *r->sums);
    r->pixels = malloc(r->out_width * r->out_height * (size_t)channels * (size_t)bytes);
    if (r->sums == NULL || r->pixels == NULL) {
        imgshim_reducer_free(r, 0);
        return IMGSHIM_ERR_NOMEM;
    }
    return IMGSHIM_OK;
}

/// Writes the current block row's means as the next output row and clears the sums.
static void reducer_flush(imgshim_reducer *r) {
    size_t f = (size_t)r->factor, ch = (size_t)r->channels;
    unsigned char *dest = r->pixels + r->out_y * r->out_width * ch * (size_t)r->bytes;
    for (size_t x = 0; x < r->out_width; x++) {
        size_t cols = r->in_width - x * f < f ? r->in_width - x * f : f;
        unsigned long long count = r->nearest ? 1 : (unsigned long long)(cols * r->rows);
        for (size_t c = 0; c < ch; c++) {
            unsigned long long *sum = &r->sums[x * ch + c];
            unsigned long long mean = (*sum + count / 2) / count;
            if (r->bytes == 1) dest[x * ch + c] = (unsigned char)mean;
            else ((unsigned short *)dest)[x * ch + c] = (unsigned short)mean;
            *sum = 0;
        }
    }
    r->rows = 0;
    r->out_y++;
}

void imgshim_reducer_push(imgshim_reducer *r, const unsigned char *row) {
    size_t f = (size_t)r->factor, ch = (size_t)r->channels;
    if (r->nearest) {
        // The middle row of the block (of what the block covers, at the bottom edge) and each block's middle column.
        size_t block_rows = r->in_height - r->out_y * f < f ? r->in_height - r->out_y * f : f;
        if (r->rows == block_rows / 2) {
            for (size_t bx = 0; bx < r->out_width; bx++) {
                size_t cols = r->in_width - bx * f < f ? r->in_width - bx * f : f, x = bx * f + cols / 2;
                for (size_t c = 0; c < ch; c++) {
                    r->sums[bx * ch + c] = r->bytes == 1 ? row[x * ch + c] : ((const unsigned short *)row)[x * ch + c];
                }
            }
        }
        r->rows++;
        if (r->rows == f || r->out_y * f + r->rows == r->in_height) reducer_flush(r);
        return;
    }
    for (size_t x = 0; x < r->in_width; x++) {
        unsigned long long *sum = &r->sums[(x / f) * ch];
        for (size_t c = 0; c < ch; c++) {
            sum[c] += r->bytes == 1 ? row[x * ch + c] : ((const unsigned short *)row)[x * ch + c];
        }
    }
    r->rows++;
    size_t consumed = r->out_y * f + r->rows;
    if (r->rows == f || consumed == r->in_height) reducer_flush(r);
}

void imgshim_reducer_free(imgshim_reducer *r, int keep_pixels) {
    free(r->sums);
    r->sums = NULL;
    if (!keep_pixels) free(r->pixels);
    r->pixels = NULL;
}

FILE *imgshim_open_read(const char *path, char *msg, size_t msg_cap) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) imgshim_set_message(msg, msg_cap, "%s", strerror(errno));
    return fp;
}

int imgshim_create_exclusive(const char *path, char *msg, size_t msg_cap) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) imgshim_set_message(msg, msg_cap, "%s", strerror(errno));
    return fd;
}

FILE *imgshim_create_file(const char *path, int *status, char *msg, size_t msg_cap) {
    int fd = imgshim_create_exclusive(path, msg, msg_cap);
    if (fd < 0) {
        *status = IMGSHIM_ERR_OPEN;
        return NULL;
    }
    FILE *fp = fdopen(fd, "wb");
    if (fp == NULL) {
        close(fd);
        imgshim_set_message(msg, msg_cap, "fdopen failed");
        *status = IMGSHIM_ERR_WRITE;
    }
    return fp;
}

int imgshim_finish_file(FILE *fp, char *msg, size_t msg_cap) {
    int failed = 0;
    errno = 0;
    if (fflush(fp) != 0 || ferror(fp)) failed = errno ? errno : EIO;
    if (!failed && fsync(fileno(fp)) != 0 && errno != EINVAL) failed = errno;
    if (fclose(fp) != 0 && !failed) failed = errno;
    if (failed) {
        imgshim_set_message(msg, msg_cap, "%s", strerror(failed));
        return IMGSHIM_ERR_WRITE;
    }
    return IMGSHIM_OK;
}

void imgshim_clear_image(imgshim_image *out) {
    memset(out, 0, sizeof *out);
}

void imgshim_free(void *pixels) {
    free(pixels);
}
