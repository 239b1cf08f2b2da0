/* family_uv.cl: the uv family, w = u⊙v (two layers, u = u[0], v = u[1]).
 * Twin: Sources/DLNModel/Families/UV/UV.swift, operation for operation.
 *
 * With η = e, λ = l, g = gj (the scaled gradient sum) at one coordinate:
 *   weight:            w = u·v
 *   gradient descent:  u ← u − η(g·v + λu),  v ← v − η(g·u + λv)   (old u, v on the right)
 *   conserved:         C = u·u − v·v  (C(t) = C(0)·e^{−2λt}); mean_uv, mean_q defined
 *   effective scale:   α_eff² = u·u − v·v (pm's u·v of p = (u+v)/√2, q = (u−v)/√2 is (u·u − v·v)/2, and w = (p²−q²)/2;
 *                      a GD step multiplies it by (1 − η²g²) when λ = 0)
 *   gradient flow:     F_u = g·v + λu, F_v = g·u + λv   (ẏ = −F)
 *   log representation (FLOW_LOG): p = u+v, q = u−v as pm's u, v: u = (p+q)·0.5, v = (p−q)·0.5
 * Every family file defines the same functions; the host concatenates the batch's one after common.cl.
 */
#define DLN_FAMILY_UV_MOMENTS 1
#define DLN_FAMILY_EFFECTIVE_SCALE 1

/* The squared effective scale α_eff² of one coordinate (observe.cl divides it by α²). */
inline REAL dln_family_effective_scale(const REAL* u) {
    return u[0] * u[0] - u[1] * u[1];
}

/* w from the layers u[0..DEPTH) of one coordinate. */
inline REAL dln_family_weight(const REAL* u) {
    return u[0] * u[1];
}

/* One gradient-descent step on the layers u[0..DEPTH) of one coordinate, in place. */
inline void dln_family_update(REAL* u, const REAL e, const REAL l, const REAL gj) {
    const REAL ou = u[0], ov = u[1];
    u[0] = ou - e * (gj * ov + l * ou);
    u[1] = ov - e * (gj * ou + l * ov);
}

/* F (ẏ = −F) of the layers representation of gradient flow, into f[0..DEPTH). */
inline void dln_family_flow_derivative(const REAL* u, const REAL gj, const REAL l, REAL* f) {
    f[0] = gj * u[1] + l * u[0];
    f[1] = gj * u[0] + l * u[1];
}

/* The observable conservation: dev = max(dev, |C − C0·dec|), scale = max(scale, |C0|). */
inline void dln_family_conservation(const REAL* u, const REAL* u0, const REAL dec, REAL* dev, REAL* scale) {
    const REAL c = u[0] * u[0] - u[1] * u[1], c0 = u0[0] * u0[0] - u0[1] * u0[1];
    *dev = fmax(*dev, fabs(c - c0 * dec));
    *scale = fmax(*scale, fabs(c0));
}

/* The curvature observables (curvature.cl): jac[l] = ∂w/∂u_l, and out[l] = Σ_m (∂²w/∂u_l∂u_m)·a[m]. */
inline void dln_family_jacobian(const REAL* u, REAL* jac) {
    jac[0] = u[1];
    jac[1] = u[0];
}

inline void dln_family_hessian_apply(const REAL* u, const REAL* a, REAL* out) {
    out[0] = a[1];
    out[1] = a[0];
}

/* The layers from the log representation's p, q. */
inline void dln_family_log_layers(const REAL p, const REAL q, REAL* u) {
    u[0] = (p + q) * (REAL)0.5;
    u[1] = (p - q) * (REAL)0.5;
}
