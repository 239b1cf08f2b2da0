/* family_deep_pm.cl: the signed deep family, w = u_0⊙…⊙u_{L−1} − v_0⊙…⊙v_{L−1} (DEPTH = 2L layers: u_m = u[m],
 * v_m = u[L + m], L = DEPTH/2 ≥ 2; each product in ascending layer order).
 * Twin: Sources/DLNModel/Families/DeepPM/DeepPM.swift, operation for operation.
 *
 * With η = e, λ = l, g = gj (the scaled gradient sum) at one coordinate, P_m = ∏_{k≠m} of the same half (ascending):
 *   weight:            w = ∏u − ∏v
 *   gradient descent:  u_m ← u_m − η(g·P_m(u) + λu_m),  v_m ← v_m − η((−g)·P_m(v) + λv_m)   (old layers)
 *   conserved:         u_m² − u_0², v_m² − v_0², m ≥ 1  (times e^{−2λt}); no mean_uv, mean_q (NaN)
 *   gradient flow:     F = the same directions (ẏ = −F)
 *   no log representation, no multiplicative update.
 * Every family file defines the same functions; the host concatenates the batch's one after common.cl.
 */
#define DLN_FAMILY_UV_MOMENTS 0
#define DLN_FAMILY_EFFECTIVE_SCALE 0
#define DLN_HALF (DEPTH / 2)

/* ∏_{k≠m} u[base + k], k < DLN_HALF, in ascending k: the factor of layer base + m's gradient. */
inline REAL dln_half_prod_except(const REAL* u, const int base, const int m) {
    REAL p = (REAL)1;
    int started = 0;
    for (int k = 0; k < DLN_HALF; k++) {
        if (k == m) continue;
        p = started ? p * u[base + k] : u[base + k];
        started = 1;
    }
    return p;
}

/* ∏ u[base + k], k < DLN_HALF, ascending. */
inline REAL dln_half_prod(const REAL* u, const int base) {
    REAL p = u[base];
    for (int k = 1; k < DLN_HALF; k++) p = p * u[base + k];
    return p;
}

/* w from the layers u[0..DEPTH) of one coordinate. */
inline REAL dln_family_weight(const REAL* u) {
    return dln_half_prod(u, 0) - dln_half_prod(u, DLN_HALF);
}

/* One gradient-descent step on the layers u[0..DEPTH) of one coordinate, in place (from the old layers). */
inline void dln_family_update(REAL* u, const REAL e, const REAL l, const REAL gj) {
    REAL n[DEPTH];
    const REAL gn = -gj;
    for (int m = 0; m < DLN_HALF; m++) n[m] = u[m] - e * (gj * dln_half_prod_except(u, 0, m) + l * u[m]);
    for (int m = 0; m < DLN_HALF; m++) {
        const int k = DLN_HALF + m;
        n[k] = u[k] - e * (gn * dln_half_prod_except(u, DLN_HALF, m) + l * u[k]);
    }
    for (int m = 0; m < DEPTH; m++) u[m] = n[m];
}

/* F (ẏ = −F) of the layers representation of gradient flow, into f[0..DEPTH). */
inline void dln_family_flow_derivative(const REAL* u, const REAL gj, const REAL l, REAL* f) {
    const REAL gn = -gj;
    for (int m = 0; m < DLN_HALF; m++) f[m] = gj * dln_half_prod_except(u, 0, m) + l * u[m];
    for (int m = 0; m < DLN_HALF; m++) {
        const int k = DLN_HALF + m;
        f[k] = gn * dln_half_prod_except(u, DLN_HALF, m) + l * u[k];
    }
}

/* The observable conservation: dev = max(dev, |C − C0·dec|), scale = max(scale, |C0|) over C = u_m² − u_0² and
 * v_m² − v_0², m ≥ 1. */
inline void dln_family_conservation(const REAL* u, const REAL* u0, const REAL dec, REAL* dev, REAL* scale) {
    for (int h = 0; h < 2; h++) {
        const int base = h * DLN_HALF;
        const REAL a = u[base], a0 = u0[base];
        for (int m = 1; m < DLN_HALF; m++) {
            const REAL c = u[base + m] * u[base + m] - a * a;
            const REAL c0 = u0[base + m] * u0[base + m] - a0 * a0;
            *dev = fmax(*dev, fabs(c - c0 * dec));
            *scale = fmax(*scale, fabs(c0));
        }
    }
}

/* The curvature observables (curvature.cl): jac = ∂w/∂u (P_m(u), then −P_m(v)), and out[l] = Σ_m (∂²w/∂u_l∂u_m)·a[m]
 * within each half: Σ_{p≠m} a[base+p]·∏_{k≠m,p} u[base+k] (a first, the u in ascending k; sums ascending p from 0),
 * negated in the v half. */
inline void dln_family_jacobian(const REAL* u, REAL* jac) {
    for (int m = 0; m < DLN_HALF; m++) {
        jac[m] = dln_half_prod_except(u, 0, m);
        jac[DLN_HALF + m] = -dln_half_prod_except(u, DLN_HALF, m);
    }
}

inline void dln_family_hessian_apply(const REAL* u, const REAL* a, REAL* out) {
    for (int h = 0; h < 2; h++) {
        const int base = h * DLN_HALF;
        for (int m = 0; m < DLN_HALF; m++) {
            REAL s = (REAL)0;
            for (int p = 0; p < DLN_HALF; p++) {
                if (p == m) continue;
                REAL t = a[base + p];
                for (int k = 0; k < DLN_HALF; k++) {
                    if (k != m && k != p) t = t * u[base + k];
                }
                s = s + t;
            }
            out[base + m] = h == 0 ? s : -s;
        }
    }
}
