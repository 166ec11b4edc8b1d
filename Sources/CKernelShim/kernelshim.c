#define _GNU_SOURCE
#include "kernelshim.h"

#include <dlfcn.h>
#include <string.h>
#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int kernelshim_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    memset(regs, 0, 4 * sizeof(uint32_t));
    uint32_t highest = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (highest == 0 || leaf > highest) return 0;
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
    return 1;
}

uint64_t kernelshim_xcr0(void) {
    uint32_t regs[4];
    if (!kernelshim_cpuid(1, 0, regs) || !(regs[2] & (1u << 27))) return 0;  // OSXSAVE
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#else
int kernelshim_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    (void)leaf; (void)subleaf;
    memset(regs, 0, 4 * sizeof(uint32_t));
    return 0;
}

uint64_t kernelshim_xcr0(void) { return 0; }
#endif

const char *kernelshim_blas_library_path(void) {
    Dl_info info;
    if (dladdr((void *)&cblas_sgemm, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}
