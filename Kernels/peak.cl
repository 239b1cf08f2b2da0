/* peak.cl: the device's measured fused-multiply-add peak, for `dlnsim bench` (% of peak), in float32 or, built
 * with -D DLN_PEAK_FP64 (devices with cl_khr_fp64), in float64.
 *
 * Each work-item runs ITER iterations of 8 independent fma chains of PEAK_LANES-wide vectors (float8: 128 flops per
 * iteration; double4: 64, since 8 chains of double8 take 16 AVX2 registers on PoCL and spill), then writes one value
 * so that nothing is optimised away. flops = 16·PEAK_LANES·ITER·global size.
 * NDRange: (global), local (64). Knob: none (ITER is an argument).
 */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi" /* wide vectors without AVX-512: see common.cl */
#endif
#ifdef DLN_PEAK_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double peak_t;
typedef double4 peak_v;
#define PEAK_LANES 4
#define PEAK_K(x) (x)
#else
typedef float peak_t;
typedef float8 peak_v;
#define PEAK_LANES 8
#define PEAK_K(x) (x##f)
#endif

kernel void dln_peak(const int iter, const float seed, global float* restrict out) {
    peak_v a0 = (peak_v)((peak_t)seed), a1 = a0 + PEAK_K(1.0), a2 = a0 + PEAK_K(2.0), a3 = a0 + PEAK_K(3.0);
    peak_v a4 = a0 + PEAK_K(4.0), a5 = a0 + PEAK_K(5.0), a6 = a0 + PEAK_K(6.0), a7 = a0 + PEAK_K(7.0);
    const peak_v m = (peak_v)(PEAK_K(0.999999)), c = (peak_v)(PEAK_K(1e-7));
    for (int k = 0; k < iter; k++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    }
    peak_v s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
#if PEAK_LANES == 8
    out[get_global_id(0)] = (float)(s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7);
#else
    out[get_global_id(0)] = (float)(s.s0 + s.s1 + s.s2 + s.s3);
#endif
}
