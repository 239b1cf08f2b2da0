/* common.cl: definitions shared by every dlnsim kernel.
 *
 * Layout (mirrors Sources/DLNModel/Core/Layout.swift): replicas in blocks of LANES = 16. A per-replica vector of
 * length m (a layer, w, r or g) stores element k of replica b at
 *     IDX(b, k, m) = (b / 16)·m·16 + k·16 + (b % 16)
 * Layer l of the state starts at l·stride (stride = padded B·d). Data sets are row-major:
 * X[s] at s·n·d + i·d + j, y[s] at s·n + i; replica b uses data set ds[b].
 *
 * Arithmetic: no contraction (FP_CONTRACT OFF); sums accumulate with fma() in ascending index order; the
 * host computes 1/n. dln_exp is a polynomial with plain multiplies and adds so that the CPU engine
 * (DLNReal.exponential) computes the same bits.
 *
 * -D knobs (set by the host):
 *   REAL            float | double                        (default float)
 *   DLN_FP64        defined for double: enables cl_khr_fp64
 *   DEPTH           number of layers L (2 for pm and uv)
 *   MULTIPLICATIVE  1: pm multiplicative update, 0: gradient descent (read by family_pm.cl)
 *   DLN_STRIDED     1: the steps sum each residual in the strided order (dln_row_strided, residual.cl), 0: ascending
 * The model family is not a knob: the host concatenates the batch's family file (family_pm.cl, family_uv.cl,
 * family_deep.cl) right after this one; each defines the same dln_family_* functions.
 */
#pragma OPENCL FP_CONTRACT OFF
/* Clang-based compilers (PoCL) warn at every function taking or returning a 16-wide vector when the target lacks
 * AVX-512 ("changes the ABI"): these functions are inlined within the program, so no ABI is crossed. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#ifdef DLN_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef REAL
#define REAL float
#endif
#ifndef DEPTH
#define DEPTH 2
#endif
#ifndef MULTIPLICATIVE
#define MULTIPLICATIVE 0
#endif
#ifndef DLN_STRIDED
#define DLN_STRIDED 0
#endif

#define LANES 16
#define IDX(b, k, m) ((size_t)((b) / LANES) * (size_t)(m) * LANES + (size_t)(k) * LANES + (size_t)((b) % LANES))

/* e^x: Cody–Waite reduction x = k·ln2 + r, Taylor polynomial of e^r in Horner form, exact scaling by 2^k. */
inline float dln_exp_f(float x) {
    if (isnan(x)) return x;
    float xc = fmin(fmax(x, -200.0f), 200.0f);
    float k = rint(xc * 1.442695f);
    float r = xc - k * 0.69314575f;
    r = r - k * 1.4286068e-06f;
    float p = 0.0001984127f;
    p = p * r + 0.0013888889f;
    p = p * r + 0.008333334f;
    p = p * r + 0.041666668f;
    p = p * r + 0.16666667f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int ki = (int)k;
    if (ki > 127) return p * as_float(254u << 23) * as_float((uint)(min(ki - 127, 127) + 127) << 23);
    if (ki < -126) return p * as_float(1u << 23) * as_float((uint)(max(ki + 126, -126) + 127) << 23);
    return p * as_float((uint)(ki + 127) << 23);
}

#ifdef DLN_FP64
inline double dln_exp_d(double x) {
    if (isnan(x)) return x;
    double xc = fmin(fmax(x, -1500.0), 1500.0);
    double k = rint(xc * 1.4426950408889634);
    double r = xc - k * 0.6931471803691238;
    r = r - k * 1.9082149292705877e-10;
    double p = 1.6059043836821613e-10;
    p = p * r + 2.08767569878681e-09;
    p = p * r + 2.505210838544172e-08;
    p = p * r + 2.755731922398589e-07;
    p = p * r + 2.7557319223985893e-06;
    p = p * r + 2.48015873015873e-05;
    p = p * r + 0.0001984126984126984;
    p = p * r + 0.001388888888888889;
    p = p * r + 0.008333333333333333;
    p = p * r + 0.041666666666666664;
    p = p * r + 0.16666666666666666;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    long ki = (long)k;
    if (ki > 1023) return p * as_double(2046ul << 52) * as_double((ulong)(min(ki - 1023, 1023L) + 1023) << 52);
    if (ki < -1022) return p * as_double(1ul << 52) * as_double((ulong)(max(ki + 1022, -1022L) + 1023) << 52);
    return p * as_double((ulong)(ki + 1023) << 52);
}
#define dln_exp dln_exp_d
#else
#define dln_exp dln_exp_f
#endif

/* e^x − 1: Taylor polynomial for |x| < 1/4 (no cancellation), e^x − 1 elsewhere (FlowMath.expm1; literals
 * copied). */
inline float dln_expm1_f(float x) {
    if (!(x > -0.25f && x < 0.25f)) return dln_exp_f(x) - 1.0f;
    float p = 2.4801588e-05f;
    p = p * x + 1.984127e-04f;
    p = p * x + 1.3888889e-03f;
    p = p * x + 8.333334e-03f;
    p = p * x + 4.1666668e-02f;
    p = p * x + 1.6666667e-01f;
    p = p * x + 0.5f;
    p = p * x + 1.0f;
    return p * x;
}

#ifdef DLN_FP64
inline double dln_expm1_d(double x) {
    if (!(x > -0.25 && x < 0.25)) return dln_exp_d(x) - 1.0;
    double p = 1.1470745597729725e-11;
    p = p * x + 1.6059043836821613e-10;
    p = p * x + 2.08767569878681e-09;
    p = p * x + 2.505210838544172e-08;
    p = p * x + 2.755731922398589e-07;
    p = p * x + 2.7557319223985893e-06;
    p = p * x + 2.48015873015873e-05;
    p = p * x + 0.0001984126984126984;
    p = p * x + 0.001388888888888889;
    p = p * x + 0.008333333333333333;
    p = p * x + 0.041666666666666664;
    p = p * x + 0.16666666666666666;
    p = p * x + 0.5;
    p = p * x + 1.0;
    return p * x;
}
#define dln_expm1 dln_expm1_d
#else
#define dln_expm1 dln_expm1_f
#endif
