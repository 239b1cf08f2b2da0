/* family_pm.cl: the pm family, w = (u⊙u − v⊙v)/2 (two layers, u = u[0], v = u[1]).
 * Twin: Sources/DLNModel/Families/PM/PM.swift, operation for operation.
 *
 * With η = e, λ = l (the penalty's gradient is λ·u), g = gj (the scaled gradient sum) at one coordinate:
 *   weight:            w = (u·u − v·v)·0.5
 *   gradient descent:  u ← u − η(g+λ)·u,  v ← v + η(g−λ)·v   (the step is formed apart from u and added:
 *                      rounding 1 − η(g+λ) first would drop the step's low digits when η(g+λ) ≪ 1)
 *   multiplicative:    u ← u + u·expm1(−η(g+λ)),  v ← v + v·expm1(η(g−λ))   (MULTIPLICATIVE = 1)
 *   conserved:         C = u·v  (C(t) = C(0)·e^{−2λt}); mean_uv, mean_q defined
 *   effective scale:   α_eff² = u·v (a GD step multiplies it by (1 − η²g²) when λ = 0)
 *   gradient flow:     F_u = u(g+λ), F_v = v(λ−g)   (ẏ = −F)
 *   log representation (FLOW_LOG): u = p = s₀e^{h+z−λτ}, v = q = s₁e^{h−z−λτ}
 * Every family file defines the same functions; the host concatenates the batch's one after common.cl.
 */
#define DLN_FAMILY_UV_MOMENTS 1
#define DLN_FAMILY_EFFECTIVE_SCALE 1

/* The squared effective scale α_eff² of one coordinate (observe.cl divides it by α²). */
inline REAL dln_family_effective_scale(const REAL* u) {
    return u[0] * u[1];
}

/* w from the layers u[0..DEPTH) of one coordinate. */
inline REAL dln_family_weight(const REAL* u) {
    return (u[0] * u[0] - u[1] * u[1]) * (REAL)0.5;
}

/* One step of the update rule on the layers u[0..DEPTH) of one coordinate, in place. */
inline void dln_family_update(REAL* u, const REAL e, const REAL l, const REAL gj) {
#if MULTIPLICATIVE
    const REAL a = e * (gj + l), c = e * (gj - l);
    u[0] = u[0] + u[0] * dln_expm1(-a);
    u[1] = u[1] + u[1] * dln_expm1(c);
#else
    const REAL su = e * (gj + l);
    const REAL sv = e * (gj - l);
    u[0] = u[0] - su * u[0];
    u[1] = u[1] + sv * u[1];
#endif
}

/* F (ẏ = −F) of the layers representation of gradient flow, into f[0..DEPTH). */
inline void dln_family_flow_derivative(const REAL* u, const REAL gj, const REAL l, REAL* f) {
    f[0] = u[0] * (gj + l);
    f[1] = u[1] * (l - gj);
}

/* The observable conservation: dev = max(dev, |C − C0·dec|), scale = max(scale, |C0|). */
inline void dln_family_conservation(const REAL* u, const REAL* u0, const REAL dec, REAL* dev, REAL* scale) {
    const REAL c = u[0] * u[1], c0 = u0[0] * u0[1];
    *dev = fmax(*dev, fabs(c - c0 * dec));
    *scale = fmax(*scale, fabs(c0));
}

/* The curvature observables (curvature.cl): jac[l] = ∂w/∂u_l, and out[l] = Σ_m (∂²w/∂u_l∂u_m)·a[m]. */
inline void dln_family_jacobian(const REAL* u, REAL* jac) {
    jac[0] = u[0];
    jac[1] = -u[1];
}

inline void dln_family_hessian_apply(const REAL* u, const REAL* a, REAL* out) {
    out[0] = a[0];
    out[1] = -a[1];
}

/* The layers from the log representation's p, q. */
inline void dln_family_log_layers(const REAL p, const REAL q, REAL* u) {
    u[0] = p;
    u[1] = q;
}
