/* momentum.cl: heavy-ball and Nesterov momentum (training.momentum β, training.nesterov), per (replica, coordinate).
 *
 * The state holds the layers θ and the last displacement m = θ_k − θ_{k−1} per layer (0 at the start). With
 * step(y) the family's gradient-descent step at y (dln_family_update, from the gradient g computed at the w the
 * products saw):
 *   heavy ball:  θ' = step(θ) + β·m                 (the gradient at θ)
 *   Nesterov:    θ' = step(θ + β·m)                 (the gradient at the look-ahead θ + β·m: dln_momentum_lookahead
 *                                                    sets w = model(θ + β·m) before the products)
 * then m ← θ' − θ, θ ← θ', w = model(θ'). The step uses η = eta[b]·factor (the schedule's s_k, 1 without one). These are m ← β·m − η∇, θ ← θ + m (and its look-ahead form) written with
 * the family's own step, so that β = 0 is gradient descent bit for bit. Twin: CPUBatch.momentumUpdate and
 * CPUBatch.lookahead (Sources/DLNModel/CPU/Momentum.swift). NDRange (padded B, d), local (16, 1); b ≥ B does nothing.
 */
kernel void dln_momentum_lookahead(const int B, const int d, const long stride, global const REAL* restrict beta,
                                   global const REAL* restrict layers, global const REAL* restrict mom,
                                   global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
    const REAL be = beta[b];
    REAL u[DEPTH];
    for (int k = 0; k < DEPTH; k++) u[k] = layers[k * stride + o] + be * mom[k * stride + o];
    w[o] = dln_family_weight(u);
}

kernel void dln_momentum_update(const int B, const int d, const long stride, const int nesterov, const REAL factor,
                                global const REAL* restrict eta, global const REAL* restrict lam,
                                global const REAL* restrict beta, global const REAL* restrict g,
                                global REAL* restrict layers, global REAL* restrict mom, global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
    const REAL be = beta[b];
    REAL t[DEPTH], u[DEPTH];
    for (int k = 0; k < DEPTH; k++) {
        t[k] = layers[k * stride + o];
        u[k] = nesterov ? t[k] + be * mom[k * stride + o] : t[k];
    }
    dln_family_update(u, eta[b] * factor, lam[b], g[o]);
    for (int k = 0; k < DEPTH; k++) {
        const REAL next = nesterov ? u[k] : u[k] + be * mom[k * stride + o];
        mom[k * stride + o] = next - t[k];
        layers[k * stride + o] = next;
        u[k] = next;
    }
    w[o] = dln_family_weight(u);
}
