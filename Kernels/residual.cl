/* residual.cl: r = X·w − y for every replica.
 *
 *   r[b][i] = (Σ_j X[ds[b]][i][j]·w[b][j]) − y[ds[b]][i]
 * `strided` 0: the sum is fma-accumulated in ascending j from 0 (twin: CPUBatch.residual,
 * Sources/DLNModel/CPU/Products.swift): the observations, and the steps of the ascending order. 1: the steps of the
 * strided summation order (dln_row_strided below; twin: Kernels.stridedProducts, Sources/DLNVector/Strided.swift).
 * NDRange: (padded B, n), local (16, 1); work-item (b, i); b ≥ B does nothing.
 */

/* The strided summation order of Σ_j xrow[j]·w[b][j]: 16 partial sums p_k, each fma-accumulated from 0 over
 * j ≡ k (mod 16) ascending up to d rounded up to a multiple of 16, X and w being zero from d on (an fma of two zeros
 * is p_k + 0, written so), then the fixed tree (q0 + q2) + (q1 + q3), q_k = t_k + t_{k+4}, t_k = p_k + p_{k+8}. */
inline REAL dln_row_strided(global const REAL* restrict xrow, global const REAL* restrict w, const int b,
                            const int d) {
    REAL p[16];
    for (int k = 0; k < 16; k++) p[k] = (REAL)0;
    for (int j0 = 0; j0 < d; j0 += 16) {
        for (int k = 0; k < 16; k++) {
            const int j = j0 + k;
            p[k] = j < d ? fma(xrow[j], w[IDX(b, j, d)], p[k]) : p[k] + (REAL)0;
        }
    }
    REAL t[8];
    for (int k = 0; k < 8; k++) t[k] = p[k] + p[k + 8];
    const REAL q0 = t[0] + t[4], q1 = t[1] + t[5], q2 = t[2] + t[6], q3 = t[3] + t[7];
    return (q0 + q2) + (q1 + q3);
}

kernel void dln_residual(const int B, const int n, const int d,
                         global const REAL* restrict X, global const REAL* restrict Y,
                         global const int* restrict ds, global const REAL* restrict w,
                         global REAL* restrict r, const int strided) {
    const int b = get_global_id(0);
    const int i = get_global_id(1);
    if (b >= B || i >= n) return;
    const size_t s = (size_t)ds[b];
    global const REAL* xrow = X + s * (size_t)n * (size_t)d + (size_t)i * (size_t)d;
    REAL acc;
    if (strided) {
        acc = dln_row_strided(xrow, w, b, d);
    } else {
        acc = (REAL)0;
        for (int j = 0; j < d; j++) acc = fma(xrow[j], w[IDX(b, j, d)], acc);
    }
    r[IDX(b, i, n)] = acc - Y[s * (size_t)n + (size_t)i];
}
