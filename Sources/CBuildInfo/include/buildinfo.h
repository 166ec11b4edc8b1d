#ifndef STYLEFARM_BUILDINFO_H
#define STYLEFARM_BUILDINFO_H

/// The build stamp scripts/package.sh links into a packaged binary ("COMMIT DATE"), or NULL in a development
/// build. The stamp is a separate object given to the linker only (`-Xlinker`), so stamping a new commit relinks
/// the binary and recompiles nothing.
const char *_Nullable stylefarm_build_stamp(void);

#endif
