/* tiled.cl: the GPU shape. One work-group per block of 16 replicas runs many gradient steps in one launch.
 *
 * Work-group: local size (16, T): dimension 0 is the lane (replica b = 16·block + lane: neighbouring work-items
 * read neighbouring addresses of w, r and the layers, coalesced), dimension 1 splits the rows (residual) and the
 * coordinates (gradient and update) over T work-items. Each output is still summed by one work-item, with fma in
 * ascending index from 0 (the residual in the strided order when DLN_STRIDED is 1: dln_row_strided), so the arithmetic
 * is exactly residual.cl, gradient.cl and update.cl: bit-identical to the CPU engine. Barriers (global memory fence, within the work-group) separate the residual, the gradient and
 * the next step; padding lanes (b ≥ B) compute nothing but take part in every barrier.
 * Step k of a launch uses η = eta[b]·factors[k] (the learning-rate schedule's s_k of that step, rounded once to
 * REAL on the host; all 1 without a schedule).
 * NDRange: (padded B, T), local (16, T). Twin: CPUBatch.residual, CPUBatch.gradient (Sources/DLNModel/CPU/Products.swift) and CPUBatch.update (CPU/Update.swift).
 */
kernel void dln_steps_tiled(const int B, const int n, const int d, const long stride, const int steps,
                            const REAL scale, global const REAL* restrict X, global const REAL* restrict Y,
                            global const int* restrict ds, global const REAL* restrict eta,
                            global const REAL* restrict factors,
                            global const REAL* restrict lam, global REAL* restrict layers,
                            global REAL* restrict w, global REAL* restrict r) {
    const int b = get_global_id(0);
    const int t = get_local_id(1);
    const int T = get_local_size(1);
    const int live = b < B;
    const size_t s = live ? (size_t)ds[b] : 0;
    global const REAL* xs = X + s * (size_t)n * (size_t)d;
    global const REAL* ys = Y + s * (size_t)n;
    const REAL e0 = live ? eta[b] : (REAL)0, l = live ? lam[b] : (REAL)0;
    for (int k = 0; k < steps; k++) {
        const REAL e = e0 * factors[k];
        if (live) {
            for (int i = t; i < n; i += T) {
                global const REAL* xrow = xs + (size_t)i * (size_t)d;
#if DLN_STRIDED
                const REAL acc = dln_row_strided(xrow, w, b, d);
#else
                REAL acc = (REAL)0;
                for (int j = 0; j < d; j++) acc = fma(xrow[j], w[IDX(b, j, d)], acc);
#endif
                r[IDX(b, i, n)] = acc - ys[i];
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (live) {
            for (int j = t; j < d; j += T) {
                REAL acc = (REAL)0;
                for (int i = 0; i < n; i++) acc = fma(xs[(size_t)i * (size_t)d + (size_t)j], r[IDX(b, i, n)], acc);
                dln_update_one(IDX(b, j, d), stride, e, l, acc * scale, layers, w);
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}
