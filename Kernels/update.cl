/* update.cl: the element-wise layer update and w = model(layers), per (replica, coordinate).
 *
 * With η = eta[b]·factor (factor: the learning-rate schedule's s_k of this step, rounded once to REAL on the host;
 * 1 without a schedule, an exact product), λ = lam[b] (λ_u: the penalty's gradient is λ·u), g = g[b][j]:
 *   pm, gradient descent:  u ← u − η(g+λ)·u,        v ← v + η(g−λ)·v
 *   pm, multiplicative:    u ← u + u·expm1(−η(g+λ)), v ← v + v·expm1(η(g−λ))
 *   uv:                    u ← u − η(g·v + λu),     v ← v − η(g·u + λv)          (old u, v on the right)
 *   deep:                  u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l)  (old layers; product in ascending k)
 * then w = (u·u − v·v)·0.5 (pm), u·v (uv) or u_0·…·u_{L−1} in ascending l (deep).
 * The family's arithmetic is in family_<name>.cl (dln_family_update, dln_family_weight).
 * Twin: CPUBatch.update(block:) and computeWeights(block:), through the family (Sources/DLNModel/Families/).
 * NDRange: (padded B, d), local (16, 1); b ≥ B does nothing. Layer l at layers + l·stride.
 */
/* One (replica, coordinate) of the update, from the scaled gradient gj: the family's step (dln_family_update,
 * family_<name>.cl) on the coordinate's layers, then w = dln_family_weight of the new layers. Shared by
 * dln_update and the tiled kernel (tiled.cl). */
inline void dln_update_one(const size_t o, const long stride, const REAL e, const REAL l, const REAL gj,
                           global REAL* restrict layers, global REAL* restrict w) {
    REAL u[DEPTH];
    for (int k = 0; k < DEPTH; k++) u[k] = layers[k * stride + o];
    dln_family_update(u, e, l, gj);
    for (int k = 0; k < DEPTH; k++) layers[k * stride + o] = u[k];
    w[o] = dln_family_weight(u);
}

kernel void dln_update(const int B, const int d, const long stride, const REAL factor,
                       global const REAL* restrict eta, global const REAL* restrict lam,
                       global const REAL* restrict g, global REAL* restrict layers,
                       global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
    dln_update_one(o, stride, eta[b] * factor, lam[b], g[o], layers, w);
}

/* dln_weight: w = model(layers) without an update (after loading a state): dln_family_weight. */
kernel void dln_weight(const int B, const int d, const long stride,
                       global const REAL* restrict layers, global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
    REAL u[DEPTH];
    for (int k = 0; k < DEPTH; k++) u[k] = layers[k * stride + o];
    w[o] = dln_family_weight(u);
}
