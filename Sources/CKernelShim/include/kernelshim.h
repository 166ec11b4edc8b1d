// kernelshim: what choosing a BLAS kernel needs from C: the CPUID and XGETBV instructions, which Swift cannot
// issue, and the path of the loaded OpenBLAS (dladdr).
#ifndef KERNELSHIM_H
#define KERNELSHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Runs CPUID with `leaf` and `subleaf` into regs (EAX, EBX, ECX, EDX). Returns 0 when the leaf is beyond the
/// processor's highest one (regs are zero then) or on a processor without CPUID (not x86-64), else 1.
int kernelshim_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

/// XCR0: which register states the operating system saves (bit 1 SSE, 2 AVX, 5-7 AVX-512). 0 without OSXSAVE.
uint64_t kernelshim_xcr0(void);

/// The path of the shared object that holds OpenBLAS's cblas_sgemm, or NULL when it cannot be told.
const char *kernelshim_blas_library_path(void);

#ifdef __cplusplus
}
#endif

#endif
