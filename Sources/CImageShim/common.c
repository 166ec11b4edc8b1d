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
