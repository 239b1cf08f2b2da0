/* gradient.cl: g = scale·Xᵀr for every replica (scale = 1/n for the mean loss, 1 for the sum loss).
 *
 *   g[b][j] = (Σ_i X[ds[b]][i][j]·r[b][i])·scale
 * The sum is fma-accumulated in ascending i from 0 (twin: CPUBatch.gradient, Sources/DLNModel/CPU/Products.swift).
 * NDRange: (padded B, d), local (16, 1); work-item (b, j); b ≥ B does nothing.
 */
kernel void dln_gradient(const int B, const int n, const int d, const REAL scale,
                         global const REAL* restrict X, global const int* restrict ds,
                         global const REAL* restrict r, global REAL* restrict g) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    global const REAL* xcol = X + (size_t)ds[b] * (size_t)n * (size_t)d + (size_t)j;
    REAL acc = (REAL)0;
    for (int i = 0; i < n; i++) acc = fma(xcol[(size_t)i * (size_t)d], r[IDX(b, i, n)], acc);
    g[IDX(b, j, d)] = acc * scale;
}
