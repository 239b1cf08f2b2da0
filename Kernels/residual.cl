/* residual.cl: r = X·w − y for every replica.
 *
 *   r[b][i] = (Σ_j X[ds[b]][i][j]·w[b][j]) − y[ds[b]][i]
 * The sum is fma-accumulated in ascending j from 0 (twin: CPUBatch.residual, Sources/DLNModel/CPU/Products.swift).
 * NDRange: (padded B, n), local (16, 1); work-item (b, i); b ≥ B does nothing.
 */
kernel void dln_residual(const int B, const int n, const int d,
                         global const REAL* restrict X, global const REAL* restrict Y,
                         global const int* restrict ds, global const REAL* restrict w,
                         global REAL* restrict r) {
    const int b = get_global_id(0);
    const int i = get_global_id(1);
    if (b >= B || i >= n) return;
    const size_t s = (size_t)ds[b];
    global const REAL* xrow = X + s * (size_t)n * (size_t)d + (size_t)i * (size_t)d;
    REAL acc = (REAL)0;
    for (int j = 0; j < d; j++) acc = fma(xrow[j], w[IDX(b, j, d)], acc);
    r[IDX(b, i, n)] = acc - Y[s * (size_t)n + (size_t)i];
}
