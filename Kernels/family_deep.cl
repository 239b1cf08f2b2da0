/* family_deep.cl: the deep family, w = u_0⊙…⊙u_{L−1} (L = DEPTH ≥ 2 layers, product in ascending l).
 * Twin: Sources/DLNModel/Families/Deep/Deep.swift, operation for operation.
 *
 * With η = e, λ = l, g = gj (the scaled gradient sum) at one coordinate:
 *   weight:            w = u_0·u_1·…·u_{L−1}   (ascending)
 *   gradient descent:  u_m ← u_m − η(g·∏_{k≠m} u_k + λu_m)   (old layers; ∏ in ascending k)
 *   conserved:         C_m = u_m² − u_0², m ≥ 1  (C(t) = C(0)·e^{−2λt}); no mean_uv, mean_q (NaN)
 *   gradient flow:     F_m = g·∏_{k≠m} u_k + λu_m   (ẏ = −F)
 *   no log representation.
 * Every family file defines the same functions; the host concatenates the batch's one after common.cl.
 */
#define DLN_FAMILY_UV_MOMENTS 0
#define DLN_FAMILY_EFFECTIVE_SCALE 0

/* ∏_{k≠m} u[k] in ascending k: the factor of layer m's gradient. */
inline REAL dln_prod_except(const REAL* u, const int m) {
    REAL p = (REAL)1;
    int started = 0;
    for (int k = 0; k < DEPTH; k++) {
        if (k == m) continue;
        p = started ? p * u[k] : u[k];
        started = 1;
    }
    return p;
}

/* w from the layers u[0..DEPTH) of one coordinate. */
inline REAL dln_family_weight(const REAL* u) {
    REAL p = u[0];
    for (int k = 1; k < DEPTH; k++) p = p * u[k];
    return p;
}

/* One gradient-descent step on the layers u[0..DEPTH) of one coordinate, in place (from the old layers). */
inline void dln_family_update(REAL* u, const REAL e, const REAL l, const REAL gj) {
    REAL n[DEPTH];
    for (int m = 0; m < DEPTH; m++) n[m] = u[m] - e * (gj * dln_prod_except(u, m) + l * u[m]);
    for (int m = 0; m < DEPTH; m++) u[m] = n[m];
}

/* F (ẏ = −F) of the layers representation of gradient flow, into f[0..DEPTH). */
inline void dln_family_flow_derivative(const REAL* u, const REAL gj, const REAL l, REAL* f) {
    for (int m = 0; m < DEPTH; m++) f[m] = gj * dln_prod_except(u, m) + l * u[m];
}

/* The observable conservation: dev = max(dev, |C_m − C0_m·dec|), scale = max(scale, |C0_m|) over m ≥ 1. */
inline void dln_family_conservation(const REAL* u, const REAL* u0, const REAL dec, REAL* dev, REAL* scale) {
    const REAL a = u[0], a0 = u0[0];
    for (int m = 1; m < DEPTH; m++) {
        const REAL c = u[m] * u[m] - a * a;
        const REAL c0 = u0[m] * u0[m] - a0 * a0;
        *dev = fmax(*dev, fabs(c - c0 * dec));
        *scale = fmax(*scale, fabs(c0));
    }
}

/* The curvature observables (curvature.cl): jac[m] = ∂w/∂u_m = ∏_{k≠m} u_k, and
 * out[m] = Σ_{p≠m} a[p]·∏_{k≠m,p} u_k (a[p] first, then the u_k in ascending k; sums in ascending p from 0). */
inline void dln_family_jacobian(const REAL* u, REAL* jac) {
    for (int m = 0; m < DEPTH; m++) jac[m] = dln_prod_except(u, m);
}

inline void dln_family_hessian_apply(const REAL* u, const REAL* a, REAL* out) {
    for (int m = 0; m < DEPTH; m++) {
        REAL s = (REAL)0;
        for (int p = 0; p < DEPTH; p++) {
            if (p == m) continue;
            REAL t = a[p];
            for (int k = 0; k < DEPTH; k++) {
                if (k != m && k != p) t = t * u[k];
            }
            s = s + t;
        }
        out[m] = s;
    }
}
