/* matrix.cl: full-matrix deep linear networks f(x) = W_L⋯W_1·x, every replica with its own layers.
 * Twin: Sources/DLNModel/Matrix/MatrixCPU.swift, operation for operation (each output's sum in the same order).
 *
 * Layout (common.cl's IDX, blocks of 16 replicas): a replica's parameters are one vector of length P = Σ_l n_l·n_{l−1};
 * W_l[i][j] is element woff + i·nin + j (nin = n_{l−1}, nout = n_l). Its activations are one vector of length H:
 * h_l[μ][i] (the output of layer l on sample μ) is element hoff + μ·nout + i. The back-propagated signal δ_l
 * (n × n_l, already multiplied by the loss's scale) lives in one of two vectors of length n·max_l n_l.
 * Data sets are row-major: X[s] at s·n·n0 + μ·n0 + j, Y[s] at s·n·nL + μ·nL + i; replica b uses data set ds[b].
 *
 * One gradient step, every replica (host order, in-order queue):
 *   h_1 = X·W_1ᵀ (mx_forward_data), h_l = h_{l−1}·W_lᵀ (mx_forward), l = 2..L
 *   δ_L = scale·(h_L − Y)                                           (mx_output_residual)
 *   for l = L..1: δ_{l−1} = δ_l·W_l (mx_backprop, l ≥ 2, old W_l), then
 *                 W_l ← W_l − η·(G_l + λ·W_l), G_l = δ_lᵀ·h_{l−1}  (mx_update; h_0 = X: mx_update_data)
 * Every sum is fma-accumulated from 0 in ascending index order: forward over j, back-propagation over i,
 * the layer gradient over μ, the loss over μ then i. NDRange of every kernel but mx_loss: (padded B, outputs),
 * local (16, 1); work-item (b, output); b ≥ B does nothing. mx_loss: one work-item per replica.
 */

/* out = in·Wᵀ from the data: h_1[μ][i] = Σ_j X[μ][j]·W_1[i][j]. */
kernel void mx_forward_data(const int B, const int n, const int nin, const int nout, global const REAL* restrict X,
                            global const int* restrict ds, global const REAL* restrict W, const int woff, const int P,
                            global REAL* restrict h, const int hoff, const int H) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= n * nout) return;
    const int mu = e / nout, i = e % nout;
    global const REAL* xrow = X + (size_t)ds[b] * (size_t)n * (size_t)nin + (size_t)mu * (size_t)nin;
    const int wrow = woff + i * nin;
    REAL acc = (REAL)0;
    for (int j = 0; j < nin; j++) acc = fma(xrow[j], W[IDX(b, wrow + j, P)], acc);
    h[IDX(b, hoff + e, H)] = acc;
}

/* out = in·Wᵀ from the previous layer's activations: h_l[μ][i] = Σ_j h_{l−1}[μ][j]·W_l[i][j]. */
kernel void mx_forward(const int B, const int n, const int nin, const int nout, global const REAL* restrict W,
                       const int woff, const int P, global REAL* restrict h, const int inoff, const int hoff,
                       const int H) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= n * nout) return;
    const int mu = e / nout, i = e % nout;
    const int irow = inoff + mu * nin, wrow = woff + i * nin;
    REAL acc = (REAL)0;
    for (int j = 0; j < nin; j++) acc = fma(h[IDX(b, irow + j, H)], W[IDX(b, wrow + j, P)], acc);
    h[IDX(b, hoff + e, H)] = acc;
}

/* δ_L[μ][i] = scale·(h_L[μ][i] − Y[μ][i]). */
kernel void mx_output_residual(const int B, const int n, const int nout, global const REAL* restrict Y,
                               global const int* restrict ds, global const REAL* restrict h, const int hoff,
                               const int H, const REAL scale, global REAL* restrict delta, const int D) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= n * nout) return;
    const REAL y = Y[(size_t)ds[b] * (size_t)n * (size_t)nout + (size_t)e];
    delta[IDX(b, e, D)] = scale * (h[IDX(b, hoff + e, H)] - y);
}

/* δ_{l−1}[μ][j] = Σ_i δ_l[μ][i]·W_l[i][j] (from the layer's old values). */
kernel void mx_backprop(const int B, const int n, const int nin, const int nout, global const REAL* restrict W,
                        const int woff, const int P, global const REAL* restrict din, global REAL* restrict dout,
                        const int D) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= n * nin) return;
    const int mu = e / nin, j = e % nin;
    REAL acc = (REAL)0;
    for (int i = 0; i < nout; i++) acc = fma(din[IDX(b, mu * nout + i, D)], W[IDX(b, woff + i * nin + j, P)], acc);
    dout[IDX(b, e, D)] = acc;
}

/* W_l[i][j] ← W_l[i][j] − η·(G + λ·W_l[i][j]), G = Σ_μ δ_l[μ][i]·h_{l−1}[μ][j] (write_f ≠ 0: F = G + λW into f, W unchanged). */
kernel void mx_update(const int B, const int n, const int nin, const int nout, global REAL* restrict W,
                      const int woff, const int P, global const REAL* restrict h, const int inoff, const int H,
                      global const REAL* restrict delta, const int D, global const REAL* restrict eta,
                      global const REAL* restrict lambda, global REAL* restrict f, const int write_f) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= nout * nin) return;
    const int i = e / nin, j = e % nin;
    REAL acc = (REAL)0;
    for (int mu = 0; mu < n; mu++) acc = fma(delta[IDX(b, mu * nout + i, D)], h[IDX(b, inoff + mu * nin + j, H)], acc);
    const size_t k = IDX(b, woff + e, P);
    const REAL w = W[k];
    const REAL g = acc + lambda[b] * w;
    if (write_f) f[k] = g;
    else W[k] = w - eta[b] * g;
}

/* mx_update for the first layer, whose input is the data X. */
kernel void mx_update_data(const int B, const int n, const int nin, const int nout, global REAL* restrict W,
                           const int woff, const int P, global const REAL* restrict X, global const int* restrict ds,
                           global const REAL* restrict delta, const int D, global const REAL* restrict eta,
                           global const REAL* restrict lambda, global REAL* restrict f, const int write_f) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= nout * nin) return;
    const int i = e / nin, j = e % nin;
    global const REAL* x = X + (size_t)ds[b] * (size_t)n * (size_t)nin;
    REAL acc = (REAL)0;
    for (int mu = 0; mu < n; mu++) acc = fma(delta[IDX(b, mu * nout + i, D)], x[(size_t)mu * (size_t)nin + j], acc);
    const size_t k = IDX(b, woff + e, P);
    const REAL w = W[k];
    const REAL g = acc + lambda[b] * w;
    if (write_f) f[k] = g;
    else W[k] = w - eta[b] * g;
}

/* loss[b] = lscale·Σ_μ Σ_i (h_L[μ][i] − Y[μ][i])² (μ outer, i inner), lscale = 1/(2n) (mean) or 1/2 (sum). */
kernel void mx_loss(const int B, const int n, const int nout, global const REAL* restrict Y,
                    global const int* restrict ds, global const REAL* restrict h, const int hoff, const int H,
                    const REAL lscale, global REAL* restrict loss) {
    const int b = get_global_id(0);
    if (b >= B) return;
    global const REAL* y = Y + (size_t)ds[b] * (size_t)n * (size_t)nout;
    REAL acc = (REAL)0;
    for (int e = 0; e < n * nout; e++) {
        const REAL r = h[IDX(b, hoff + e, H)] - y[e];
        acc = fma(r, r, acc);
    }
    loss[b] = acc * lscale;
}
