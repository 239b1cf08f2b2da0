/* peak.cl: the device's measured fused-multiply-add peak, for `dlnsim bench` (% of peak).
 *
 * Each work-item runs ITER iterations of 8 independent float8 fma chains (128 flops per iteration), then
 * writes one value so that nothing is optimised away. flops = 128·ITER·global size.
 * NDRange: (global), local (64). Knob: none (ITER is an argument).
 */
kernel void dln_peak(const int iter, const float seed, global float* restrict out) {
    float8 a0 = (float8)(seed), a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;
    float8 a4 = a0 + 4.0f, a5 = a0 + 5.0f, a6 = a0 + 6.0f, a7 = a0 + 7.0f;
    const float8 m = (float8)(0.999999f), c = (float8)(1e-7f);
    for (int k = 0; k < iter; k++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    }
    float8 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    out[get_global_id(0)] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7;
}
