/* update.cl: the element-wise layer update and w = model(layers), per (replica, coordinate).
 *
 * With η = eta[b], λ = lam[b] (λ_u: the penalty's gradient is λ·u), g = g[b][j]:
 *   pm, gradient descent:  u ← u·(1 − η(g+λ)),      v ← v·(1 + η(g−λ))
 *   pm, multiplicative:    u ← u·exp(−η(g+λ)),      v ← v·exp(η(g−λ))
 *   uv:                    u ← u − η(g·v + λu),     v ← v − η(g·u + λv)          (old u, v on the right)
 *   deep:                  u_l ← u_l − η(g·∏_{k≠l} u_k + λu_l)  (old layers; product in ascending k)
 * then w = (u·u − v·v)·0.5 (pm), u·v (uv) or u_0·…·u_{L−1} in ascending l (deep).
 * Twin: CPUBatch.gradientAndUpdate and CPUBatch.product.
 * NDRange: (padded B, d), local (16, 1); b ≥ B does nothing. Layer l at layers + l·stride.
 */
/* One (replica, coordinate) of the update, from the scaled gradient gj. Shared by dln_update and the tiled
 * kernel (tiled.cl). */
inline void dln_update_one(const size_t o, const long stride, const REAL e, const REAL l, const REAL gj,
                           global REAL* restrict layers, global REAL* restrict w) {
#if MODEL == 1
    REAL u = layers[o], v = layers[stride + o];
#if MULTIPLICATIVE
    const REAL a = e * (gj + l), c = e * (gj - l);
    u = u * dln_exp(-a);
    v = v * dln_exp(c);
#else
    const REAL fu = (REAL)1 - e * (gj + l);
    const REAL fv = (REAL)1 + e * (gj - l);
    u = u * fu;
    v = v * fv;
#endif
    layers[o] = u;
    layers[stride + o] = v;
    w[o] = (u * u - v * v) * (REAL)0.5;
#elif MODEL == 2
    const REAL u = layers[o], v = layers[stride + o];
    const REAL nu = u - e * (gj * v + l * u);
    const REAL nv = v - e * (gj * u + l * v);
    layers[o] = nu;
    layers[stride + o] = nv;
    w[o] = nu * nv;
#else
    REAL u[DEPTH];
    for (int k = 0; k < DEPTH; k++) u[k] = layers[k * stride + o];
    REAL prod = (REAL)1;
    for (int m = 0; m < DEPTH; m++) {
        const REAL p = dln_prod_except(u, m);
        const REAL nm = u[m] - e * (gj * p + l * u[m]);
        layers[m * stride + o] = nm;
        prod = m == 0 ? nm : prod * nm;
    }
    w[o] = prod;
#endif
}

kernel void dln_update(const int B, const int d, const long stride,
                       global const REAL* restrict eta, global const REAL* restrict lam,
                       global const REAL* restrict g, global REAL* restrict layers,
                       global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
    dln_update_one(o, stride, eta[b], lam[b], g[o], layers, w);
}

/* dln_weight: w = model(layers) without an update (after loading a state). Same products as above. */
kernel void dln_weight(const int B, const int d, const long stride,
                       global const REAL* restrict layers, global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const size_t o = IDX(b, j, d);
#if MODEL == 1
    const REAL u = layers[o], v = layers[stride + o];
    w[o] = (u * u - v * v) * (REAL)0.5;
#elif MODEL == 2
    w[o] = layers[o] * layers[stride + o];
#else
    REAL prod = layers[o];
    for (int k = 1; k < DEPTH; k++) prod = prod * layers[k * stride + o];
    w[o] = prod;
#endif
}
