/* matrix_sgd.cl: mini-batch SGD, label noise, momentum and Langevin noise of the matrix model (training.update: sgd,
 * training.label_noise, momentum, nesterov, gradient_noise). Twins: Sources/DLNModel/Matrix/MatrixStochasticCPU.swift
 * and MatrixDynamicsCPU.swift.
 *
 * stochastic.cl's dln_sgd_indices draws every replica's sorted rows idx[IDX(b, k, N)] of the step (N: the rows drawn
 * from, the samples n of a regression or the measurements m of matrix sensing; every replica draws count of them).
 * These kernels copy those rows of the replica's data set into a buffer of its own; the step's products then run
 * unchanged on them with n (or m) = count and ds[b] = b. Copies only: no arithmetic.
 *
 * mx_sgd_gather: dst[(b·count + k)·width + c] = src[(ds[b]·N + idx_k)·width + c], the kernels' row-major data layout.
 * mx16_sgd_gather: the vector16 shape's spread layout, dst[((b/16)·bstride + k·width + c)·16 + b%16]; a lane past
 * B copies row 0 of replica B − 1's data set (its results are never read).
 * NDRange (padded B, count·width rounded up to 8), local (16, 8).
 */

kernel void mx_sgd_gather(const int B, const int N, const int count, const int width, global const REAL* restrict src,
                          global const int* restrict ds, global const int* restrict idx, global REAL* restrict dst) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= count * width) return;
    const int k = e / width, c = e % width;
    const size_t i = (size_t)idx[IDX(b, k, N)];
    dst[((size_t)b * (size_t)count + (size_t)k) * (size_t)width + (size_t)c] =
        src[((size_t)ds[b] * (size_t)N + i) * (size_t)width + (size_t)c];
}

kernel void mx16_sgd_gather(const int B, const int N, const int count, const int width, const long bstride,
                            global const REAL* restrict src, global const int* restrict ds,
                            global const int* restrict idx, global REAL* restrict dst) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (e >= count * width) return;
    const int k = e / width, c = e % width;
    const int live = b < B;
    const size_t s = (size_t)ds[live ? b : B - 1];
    const size_t i = live ? (size_t)idx[IDX(b, k, N)] : 0;
    dst[((size_t)(b / LANES) * (size_t)bstride + (size_t)e) * LANES + (size_t)(b % LANES)] =
        src[(s * (size_t)N + i) * (size_t)width + (size_t)c];
}

/* mx_label_noise: the gathered targets of a step (width per row: n_L, or 1 for sensing's values), in place:
 * buf[(b·count + k)·width + c] += σ_b·ξ, ξ of (key_b, step, stream 9, index idx_k·width + c), replicas with σ_b ≠ 0.
 * NDRange (padded B, count·width rounded up to 8), local (16, 8). */
kernel void mx_label_noise(const int B, const int N, const int count, const int width, const long step,
                           global const uint* restrict keys, global const REAL* restrict sigma,
                           global const int* restrict idx, global REAL* restrict buf) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= count * width) return;
    const REAL sg = sigma[b];
    if (sg == (REAL)0) return;
    const int k = e / width, c = e % width;
    const uint i = (uint)idx[IDX(b, k, N)] * (uint)width + (uint)c;
    const REAL xi = dln_gauss(dln_words(keys[2 * b], keys[2 * b + 1], DLN_STREAM_LABEL, (ulong)step, i));
    const size_t o = (size_t)b * (size_t)count * (size_t)width + (size_t)e;
    buf[o] = buf[o] + sg * xi;
}

/* Momentum (MatrixDynamics): before the gradient, prev = θ and, for Nesterov, θ ← θ + β·m (the look-ahead u); the
 * gradient F at θ (write_f); after it θ' = u − η·F, plus β·m for the heavy ball, m ← θ' − prev, θ ← θ'.
 * Per (replica, parameter e), IDX(b, e, P). NDRange (padded B, P rounded up to 8), local (16, 8). */
kernel void mx_momentum_pre(const int B, const int P, const int nesterov, global const REAL* restrict beta,
                            global REAL* restrict W, global const REAL* restrict mom, global REAL* restrict prev) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= P) return;
    const size_t o = IDX(b, e, P);
    const REAL w = W[o];
    prev[o] = w;
    if (nesterov) W[o] = w + beta[b] * mom[o];
}

kernel void mx_momentum_post(const int B, const int P, const int nesterov, global const REAL* restrict eta,
                             global const REAL* restrict beta, global const REAL* restrict F, global REAL* restrict W,
                             global REAL* restrict mom, global const REAL* restrict prev) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= P) return;
    const size_t o = IDX(b, e, P);
    REAL t = W[o] - eta[b] * F[o];
    if (!nesterov) t = t + beta[b] * mom[o];
    mom[o] = t - prev[o];
    W[o] = t;
}

/* mx_langevin: θ_e ← θ_e + (c_b·root)·ξ, ξ of (key_b, step, stream 10, index e), c_b = √(2ηT) and root = √s_k (the
 * schedule's factor; 1 without one) each rounded once on the host;
 * replicas with c_b = 0 untouched. NDRange (padded B, P rounded up to 8), local (16, 8). */
kernel void mx_langevin(const int B, const int P, const long step, const REAL root, global const uint* restrict keys,
                        global const REAL* restrict coef, global REAL* restrict W) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= P) return;
    const REAL c0 = coef[b];
    if (c0 == (REAL)0) return;
    const REAL c = c0 * root;
    const REAL xi = dln_gauss(dln_words(keys[2 * b], keys[2 * b + 1], DLN_STREAM_GRADIENT, (ulong)step, (uint)e));
    const size_t o = IDX(b, e, P);
    W[o] = W[o] + c * xi;
}
