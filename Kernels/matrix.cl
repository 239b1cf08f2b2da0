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

/* ---- The tiled shape (GPUs): every product above as one kernel whose work-groups stage tiles in local memory.
 *
 * out(r, c) = Σ_k A(r, k)·B(c, k), k ascending, fma from 0: the same sums in the same order as the kernels above, so
 * the results are the same bits. A work-group is the 16 replicas of one block (dimension 0) × a tile of MX_TR rows by
 * MX_TC columns of outputs (dimension 1, MX_TR·MX_TC work-items); the tiles of A (MX_TR rows × MX_TK values of k) and
 * of B (MX_TC columns × MX_TK) are loaded into local memory by the whole group, for all 16 lanes, between barriers.
 * An operand is a replica's vector (a_shared 0: element base + row·rs + k·ks of a vector of length len, IDX layout)
 * or its data set (a_shared 1: X[ds[b]] or Y[ds[b]] at base + row·rs + k·ks, data sets len apart).
 * What happens with each output (mode): 0 stored at obase + r·ors + c·ocs of a vector of length olen;
 * 1 the gradient-descent update W ← W − η·(out + λ·W) of W[obase + r·ors + c] (length olen); 2 F = out + λ·W into f.
 * NDRange: (padded B, tiles·MX_TR·MX_TC), local (16, MX_TR·MX_TC); outputs outside R×C compute nothing and store nothing.
 */
#define MX_TR 4
#define MX_TC 4
#define MX_TK 8

inline REAL mx_operand(global const REAL* p, const int shared_data, global const int* ds, const int b,
                       const int len, const int index) {
    if (shared_data) return p[(size_t)ds[b] * (size_t)len + (size_t)index];
    return p[IDX(b, index, len)];
}

kernel void mx_dots_tiled(const int B, const int R, const int C, const int K, global const int* restrict ds,
                          global const REAL* a, const int a_shared, const int a_len, const int a_base,
                          const int a_rs, const int a_ks,
                          global const REAL* b_in, const int b_shared, const int b_len, const int b_base,
                          const int b_rs, const int b_ks,
                          global REAL* out, const int mode, const int olen, const int obase, const int ors,
                          const int ocs, global const REAL* restrict eta, global const REAL* restrict lambda,
                          global REAL* f) {
    local REAL at[MX_TR * MX_TK * LANES];
    local REAL bt[MX_TC * MX_TK * LANES];
    const int lane = get_local_id(0);
    const int o = get_local_id(1);
    const int b = get_group_id(0) * LANES + lane;
    const int tilesC = (C + MX_TC - 1) / MX_TC;
    const int tile = get_group_id(1);
    const int r = (tile / tilesC) * MX_TR + o / MX_TC;
    const int c = (tile % tilesC) * MX_TC + o % MX_TC;
    const int r0 = (tile / tilesC) * MX_TR, c0 = (tile % tilesC) * MX_TC;
    const int lid = o * LANES + lane;
    const int group = LANES * MX_TR * MX_TC;
    REAL acc = (REAL)0;
    for (int k0 = 0; k0 < K; k0 += MX_TK) {
        for (int e = lid; e < MX_TR * MX_TK * LANES; e += group) {
            const int l = e % LANES, kk = (e / LANES) % MX_TK, row = e / (LANES * MX_TK);
            /* padding lanes load their block's first replica's values */
            const int rb = get_group_id(0) * LANES + l < B ? get_group_id(0) * LANES + l : get_group_id(0) * LANES;
            const int rr = r0 + row, k = k0 + kk;
            at[e] = rr < R && k < K ? mx_operand(a, a_shared, ds, rb, a_len, a_base + rr * a_rs + k * a_ks) : (REAL)0;
        }
        for (int e = lid; e < MX_TC * MX_TK * LANES; e += group) {
            const int l = e % LANES, kk = (e / LANES) % MX_TK, col = e / (LANES * MX_TK);
            const int rb = get_group_id(0) * LANES + l < B ? get_group_id(0) * LANES + l : get_group_id(0) * LANES;
            const int cc = c0 + col, k = k0 + kk;
            bt[e] = cc < C && k < K ? mx_operand(b_in, b_shared, ds, rb, b_len, b_base + cc * b_rs + k * b_ks)
                                    : (REAL)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const int kn = K - k0 < MX_TK ? K - k0 : MX_TK;
        const int ri = o / MX_TC, ci = o % MX_TC;
        for (int kk = 0; kk < kn; kk++) {
            acc = fma(at[(ri * MX_TK + kk) * LANES + lane], bt[(ci * MX_TK + kk) * LANES + lane], acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (b >= B || r >= R || c >= C) return;
    if (mode == 0) {
        out[IDX(b, obase + r * ors + c * ocs, olen)] = acc;
    } else {
        const size_t k = IDX(b, obase + r * ors + c, olen);
        const REAL w = out[k];
        const REAL g = acc + lambda[b] * w;
        if (mode == 2) f[k] = g;
        else out[k] = w - eta[b] * g;
    }
}

/* mx_scale: the learning-rate schedule's η of a step, dst[i] = src[i]·factor (factor = s_k rounded once on the host;
 * twin: MatrixCPUBatch.stepEta). NDRange (count rounded up to 16), local 16. */
kernel void mx_scale(const int count, const REAL factor, global const REAL* restrict src, global REAL* restrict dst) {
    const int i = get_global_id(0);
    if (i < count) dst[i] = src[i] * factor;
}
