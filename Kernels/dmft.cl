/* dmft.cl: the discrete-time DMFT effective process of one coordinate (docs/model.md §6.3), many paths at
 * once. Twin of Sources/DLNModel/DMFT/DMFTPaths.swift: the same operations in the same order, fma() exactly where
 * the CPU calls addingProduct, so both compute the same bits.
 *
 *   Δ_k = (a_k² − b_k²)/2 − w*            (linear: Δ_k = a_k − w*)
 *   g_k = ξ_k + δ(Δ_k + Σ_{k′<k} R_r(k,k′)Δ_k′),  ξ_k = Σ_j F(k,j)·Z_j
 *   a_{k+1} = a_k(1 − η(g_k+λ)),  b_{k+1} = b_k(1 + η(g_k−λ))   (linear: a_{k+1} = a_k − η(g_k + λa_k))
 * Tangents (source s, one work-item per response path and source):
 *   ∂Δ_k = a_k∂a_k − b_k∂b_k,  ∂g_k = δ(∂Δ_k + Σ_{s<k′<k} R_r(k,k′)∂Δ_k′) + [k = s],
 *   ∂a_{k+1} = ∂a_k(1 − η(g_k+λ)) − ηa_k∂g_k,  ∂b_{k+1} = ∂b_k(1 + η(g_k−λ)) + ηb_k∂g_k.
 *
 * Index formulas: path arrays [k][p] at k·N + p (Z: j·N + p); response histories [k][p] at k·Nr + p; the
 * tangent scratch ∂Δ_k[s] of batch path q at (k·K + s)·Q + q; chunk partials [c][k][k′] at c·K·K + k·K + k′.
 * Sums over paths run in ascending p inside a chunk (the host adds chunks in ascending order).
 * Knobs: none (float64 only; needs cl_khr_fp64).
 */
#pragma OPENCL FP_CONTRACT OFF
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

__kernel void dmft_paths(int K, int N, int Nr, int rank, int linear, double dl, double eta, double lam, double alpha,
                         __global const double* z, __global const double* wstar, __global const double* factor,
                         __global const double* memory, __global double* out, __global double* ha, __global double* hb,
                         __global double* hg) {
    int p = get_global_id(0);
    if (p >= N) return;
    double a = linear ? 0.0 : alpha, b = linear ? 0.0 : alpha;
    double ws = wstar[p];
    for (int k = 0; k < K; k++) {
        double dk = linear ? a - ws : (a * a - b * b) * 0.5 - ws;
        out[(size_t)k * N + p] = dk;
        if (k == K - 1) break;
        double xi = 0.0, mem = 0.0;
        for (int j = 0; j < rank; j++) xi = fma(factor[k * rank + j], z[(size_t)j * N + p], xi);
        for (int kp = 0; kp < k; kp++) mem = fma(memory[k * K + kp], out[(size_t)kp * N + p], mem);
        if (p < Nr) { ha[(size_t)k * Nr + p] = a; hb[(size_t)k * Nr + p] = b; }
        double g = xi + dl * (dk + mem);
        if (p < Nr) hg[(size_t)k * Nr + p] = g;
        if (linear) {
            a = a - eta * (g + lam * a);
        } else {
            double fa = 1.0 - eta * (g + lam), fb = 1.0 + eta * (g - lam);
            a = a * fa;
            b = b * fb;
        }
    }
    if (p < Nr) { ha[(size_t)(K - 1) * Nr + p] = a; hb[(size_t)(K - 1) * Nr + p] = b; }
}

/* partial[c][k][k′] = Σ_{p in chunk c, ascending} Δ_k(p)·Δ_k′(p); global (K·K, chunks). */
__kernel void dmft_correlation(int K, int N, int chunk, __global const double* delta, __global double* partial) {
    int i = get_global_id(0), c = get_global_id(1);
    if (i >= K * K) return;
    int k = i / K, kp = i % K;
    int p0 = c * chunk, p1 = min(N, p0 + chunk);
    double acc = 0.0;
    for (int p = p0; p < p1; p++) acc = fma(delta[(size_t)k * N + p], delta[(size_t)kp * N + p], acc);
    partial[(size_t)c * K * K + i] = acc;
}

/* Tangents of batch paths q = 0…Q−1 (response path pbase + q), source s; global (Q, K). */
__kernel void dmft_tangents(int K, int Nr, int pbase, int Q, int linear, double dl, double eta, double lam,
                            __global const double* ha, __global const double* hb, __global const double* hg,
                            __global const double* memory, __global double* D) {
    int q = get_global_id(0), s = get_global_id(1);
    if (q >= Q || s >= K) return;
    int p = pbase + q;
    for (int k = 0; k <= s; k++) D[((size_t)k * K + s) * Q + q] = 0.0;
    double dA = 0.0, dB = 0.0;
    for (int k = s; k < K; k++) {
        double ak = ha[(size_t)k * Nr + p], bk = hb[(size_t)k * Nr + p];
        double Dk = 0.0;
        if (k > s) {
            Dk = linear ? dA : ak * dA - bk * dB;
            D[((size_t)k * K + s) * Q + q] = Dk;
        }
        if (k == K - 1) break;
        double dg;
        if (k == s) {
            dg = 1.0;
        } else {
            double M = 0.0;
            for (int kp = s + 1; kp < k; kp++) M = fma(memory[k * K + kp], D[((size_t)kp * K + s) * Q + q], M);
            dg = dl * (Dk + M);
        }
        if (linear) {
            dA = dA - eta * (dg + lam * dA);
        } else {
            double gk = hg[(size_t)k * Nr + p];
            double fa = 1.0 - eta * (gk + lam), fb = 1.0 + eta * (gk - lam), ea = eta * ak, eb = eta * bk;
            dA = dA * fa - ea * dg;
            dB = dB * fb + eb * dg;
        }
    }
}

/* partial[c][k][s] = Σ_{q in response chunk c of the batch, ascending} ∂Δ_k[s](q); global (K·K, chunks). */
__kernel void dmft_response(int K, int Q, int chunk, int cbase, __global const double* D, __global double* partial) {
    int i = get_global_id(0), c = get_global_id(1);
    if (i >= K * K) return;
    int q0 = c * chunk, q1 = min(Q, q0 + chunk);
    double acc = 0.0;
    for (int q = q0; q < q1; q++) acc = acc + D[(size_t)i * Q + q];
    partial[(size_t)(cbase + c) * K * K + i] = acc;
}
