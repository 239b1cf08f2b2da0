/* loss.cl: the train loss per replica from the current residual.
 *
 *   loss[b] = (Σ_i r[b][i]·r[b][i])·scale,   scale = 1/(2n) (mean loss) or 1/2 (sum loss)
 * fma-accumulated in ascending i from 0 (twin: CPUBatch.observe, Sources/DLNModel/CPU/Observe.swift).
 * NDRange: (padded B), local (16); b ≥ B does nothing.
 */
kernel void dln_loss(const int B, const int n, const REAL scale,
                     global const REAL* restrict r, global REAL* restrict loss) {
    const int b = get_global_id(0);
    if (b >= B) return;
    REAL acc = (REAL)0;
    for (int i = 0; i < n; i++) {
        const REAL ri = r[IDX(b, i, n)];
        acc = fma(ri, ri, acc);
    }
    loss[b] = acc * scale;
}
