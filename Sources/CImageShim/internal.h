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
