#include "buildinfo.h"

// Defined by the object scripts/package.sh links in; weak, so a build without it links and reads NULL.
extern const char stylefarm_build_stamp_text[] __attribute__((weak));

const char *stylefarm_build_stamp(void) {
    return stylefarm_build_stamp_text;
}
