/* matrix_sensing.cl: matrix sensing with the matrix model (problem.task: sensing). Twin:
 * Sources/DLNModel/Matrix/MatrixSensing.swift, operation for operation.
 *
 * The measurements of a data set are y_k = ⟨A_k, T⟩ (+ noise), k < m, with A_k ∈ ℝ^{n_L×n_0} stored row-major at
 * A[s·m·nL·n0 + k·nL·n0 + i·n0 + j] and y at ym[s·m + k]. The network is run on X = I (n = n_0 "samples"), so the
 * last activations are W_effᵀ: h_L[μ][i] = W_eff[i][μ]. The step replaces mx_output_residual by two kernels:
 *   r_k = Σ_i Σ_j A_k[i][j]·W_eff[i][j] − y_k   (mx_sense_residual: fma from 0, (i, j) ascending, one per (b, k))
 *   δ_L[μ=j][i] = scale·Σ_k r_k·A_k[i][j]        (mx_sense_signal: fma from 0, k ascending; scale 1/m or 1)
 * after which back-propagation and the layer updates run as for regression (the first layer's input is X = I).
 * The loss is lscale·Σ_k r_k² (mx_sense_loss, k ascending; lscale 1/(2m) or 1/2).
 * NDRange: (padded B, outputs rounded up to 8), local (16, 8); mx_sense_loss: (padded B), local (16).
 */

kernel void mx_sense_residual(const int B, const int m, const int nout, const int nin, global const REAL* restrict A,
                              global const REAL* restrict ym, global const int* restrict ds,
                              global const REAL* restrict h, const int hoff, const int H, global REAL* restrict r) {
    const int b = get_global_id(0);
    const int k = get_global_id(1);
    if (b >= B || k >= m) return;
    const size_t s = (size_t)ds[b];
    global const REAL* a = A + (s * (size_t)m + (size_t)k) * (size_t)nout * (size_t)nin;
    REAL acc = (REAL)0;
    for (int i = 0; i < nout; i++) {
        for (int j = 0; j < nin; j++) acc = fma(a[i * nin + j], h[IDX(b, hoff + j * nout + i, H)], acc);
    }
    r[IDX(b, k, m)] = acc - ym[s * (size_t)m + (size_t)k];
}

kernel void mx_sense_signal(const int B, const int m, const int nout, const int nin, global const REAL* restrict A,
                            global const int* restrict ds, global const REAL* restrict r, const REAL scale,
                            global REAL* restrict delta, const int D) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= nin * nout) return;
    const int j = e / nout, i = e % nout;
    const size_t stride = (size_t)nout * (size_t)nin;
    global const REAL* a = A + (size_t)ds[b] * (size_t)m * stride + (size_t)(i * nin + j);
    REAL acc = (REAL)0;
    for (int k = 0; k < m; k++) acc = fma(r[IDX(b, k, m)], a[(size_t)k * stride], acc);
    delta[IDX(b, e, D)] = scale * acc;
}

kernel void mx_sense_loss(const int B, const int m, global const REAL* restrict r, const REAL lscale,
                          global REAL* restrict loss) {
    const int b = get_global_id(0);
    if (b >= B) return;
    REAL acc = (REAL)0;
    for (int k = 0; k < m; k++) {
        const REAL v = r[IDX(b, k, m)];
        acc = fma(v, v, acc);
    }
    loss[b] = acc * lscale;
}

/* The symmetric factorisation W_eff = U·Uᵀ (widths [d, r, d]): W_2 = U (d×r) is the parameter and W_1 = Uᵀ its
 * copy. After every step (and on the gradient F before it is read) the copy is restored exactly: W_1[i][j] = W_2[j][i]
 * (a copy, no arithmetic). NDRange (padded B, r·d rounded up to 8), local (16, 8). */
kernel void mx_tie(const int B, const int r, const int d, global REAL* restrict W, const int woff2, const int P) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= r * d) return;
    const int i = e / d, j = e % d;
    W[IDX(b, e, P)] = W[IDX(b, woff2 + j * r + i, P)];
}
