// The CPU's vector instruction sets, for the CPU engine's choice of compiled loops (DLNModel/CPU/VectorCode.swift).
#ifndef DLN_CPU_FEATURES_H
#define DLN_CPU_FEATURES_H

/// 1 when the CPU and the operating system support AVX2 and FMA (x86-64), else 0.
int dln_cpu_has_avx2_fma(void);

/// 1 when the CPU and the operating system support AVX-512 F, CD, BW, DQ and VL (the Skylake-SP set, also in AMD
/// Zen 4 and later), else 0.
int dln_cpu_has_avx512(void);

#endif
