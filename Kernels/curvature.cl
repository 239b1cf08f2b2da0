/* curvature.cl: the curvature observables, per replica: Lanczos on the loss Hessian (sharpness) and on the tangent
 * kernel (pl_constant). Only the tridiagonal coefficients leave the device; the host's shared code
 * (Sources/DLNModel/Core/Tridiagonal.swift) turns them into the two numbers (docs/model.md §3).
 * Twin: CPUBatch.curvature (Sources/DLNModel/CPU/Curvature.swift), operation for operation.
 *
 * Loss ℓ = scale·½‖Xw − y‖² + (λ/2)·Σ_l ‖u_l‖² (scale = 1/n for the mean loss, 1 for the sum), layers u_l (l < DEPTH),
 * J_lj = ∂w_j/∂u_lj (dln_family_jacobian), ḡ = scale·Xᵀ(Xw − y) (the gradient of the data term in w).
 *   Hessian-vector product, v in the P = DEPTH·d layer values (element l·d + j):
 *     t_j = Σ_l J_lj·v_lj (ascending l), q_i = Σ_j X_ij·t_j (fma, ascending j), s_j = (Σ_i X_ij·q_i (fma,
 *     ascending i))·scale, (Hv)_lj = J_lj·s_j + ḡ_j·(Σ_m ∂²w_j/∂u_l∂u_m·v_mj) + λ·v_lj  (dln_family_hessian_apply)
 *   Tangent kernel K = scale·X·diag(D)·Xᵀ (n × n), D_j = Σ_l J_lj² (ascending l):
 *     (Kv)_i = (Σ_j X_ij·(D_j·Σ_i' X_i'j·v_i'))·scale, both sums fma-accumulated in ascending order.
 * Lanczos: q_0 = s/‖s‖ (s = the host's start vector, the same for every replica), then for k = 0, 1, …:
 *   z = A·q_k, α_k = q_k·z, z ← z − α_k·q_k − β_k·q_{k−1} (sharpness; 3 vectors), or z ← z − (q_i·z)·q_i for
 *   i = 0…k, twice (pl_constant: full reorthogonalisation against the stored basis), β_{k+1} = ‖z‖,
 *   q_{k+1} = z/β_{k+1}; stopped after STEPS steps or when β_{k+1} ≤ breakdown·max_k ‖A·q_k‖ (an invariant
 *   subspace: its Ritz values are exact). Dot products and norms: fma-accumulated from 0 in ascending element order.
 * Output row per replica (2·steps values): α_0…α_{steps−1}, β_1…β_{steps−1}, then the number of steps taken
 * (entries past it 0).
 * Scratch vectors use the state layout IDX(b, k, m) with m their length per replica; the pl basis vector k holds
 * element i at IDX(b, k·n + i, steps·n). NDRange: (padded B), local (16); work-item b; b ≥ B does nothing.
 */

/* h = H·v for replica b (see the header). */
inline void dln_hvp(const int b, const int n, const int d, const long stride, const REAL scale, const REAL lam,
                    global const REAL* xs, global const REAL* layers, global const REAL* g,
                    global const REAL* v, global REAL* h, global REAL* t, global REAL* q) {
    const int P = DEPTH * d;
    REAL u[DEPTH], a[DEPTH], jac[DEPTH], sec[DEPTH];
    for (int j = 0; j < d; j++) {
        const size_t o = IDX(b, j, d);
        for (int l = 0; l < DEPTH; l++) {
            u[l] = layers[l * stride + o];
            a[l] = v[IDX(b, l * d + j, P)];
        }
        dln_family_jacobian(u, jac);
        REAL tj = jac[0] * a[0];
        for (int l = 1; l < DEPTH; l++) tj = tj + jac[l] * a[l];
        t[o] = tj;
    }
    for (int i = 0; i < n; i++) {
        global const REAL* row = xs + (size_t)i * (size_t)d;
        REAL acc = (REAL)0;
        for (int j = 0; j < d; j++) acc = fma(row[j], t[IDX(b, j, d)], acc);
        q[IDX(b, i, n)] = acc;
    }
    for (int j = 0; j < d; j++) {
        REAL acc = (REAL)0;
        for (int i = 0; i < n; i++) acc = fma(xs[(size_t)i * (size_t)d + (size_t)j], q[IDX(b, i, n)], acc);
        const REAL sj = acc * scale;
        const size_t o = IDX(b, j, d);
        const REAL gj = g[o];
        for (int l = 0; l < DEPTH; l++) {
            u[l] = layers[l * stride + o];
            a[l] = v[IDX(b, l * d + j, P)];
        }
        dln_family_jacobian(u, jac);
        dln_family_hessian_apply(u, a, sec);
        for (int l = 0; l < DEPTH; l++) h[IDX(b, l * d + j, P)] = jac[l] * sj + gj * sec[l] + lam * a[l];
    }
}

kernel void dln_sharpness(const int B, const int n, const int d, const long stride, const int steps,
                          const REAL scale, const REAL breakdown,
                          global const REAL* restrict X, global const REAL* restrict Y,
                          global const int* restrict ds, global const REAL* restrict w,
                          global const REAL* restrict layers, global const REAL* restrict lambda,
                          global const REAL* restrict start,
                          global REAL* restrict cv, global REAL* restrict cp, global REAL* restrict ch,
                          global REAL* restrict cg, global REAL* restrict ct, global REAL* restrict cr,
                          global REAL* restrict out) {
    const int b = get_global_id(0);
    if (b >= B) return;
    const int P = DEPTH * d;
    const size_t s = (size_t)ds[b];
    global const REAL* xs = X + s * (size_t)n * (size_t)d;
    global const REAL* ys = Y + s * (size_t)n;
    global REAL* row = out + (size_t)b * (size_t)(2 * steps);
    for (int k = 0; k < 2 * steps; k++) row[k] = (REAL)0;
    /* r = Xw − y and ḡ = scale·Xᵀr, in the order of residual.cl and gradient.cl. */
    for (int i = 0; i < n; i++) {
        global const REAL* xrow = xs + (size_t)i * (size_t)d;
        REAL acc = (REAL)0;
        for (int j = 0; j < d; j++) acc = fma(xrow[j], w[IDX(b, j, d)], acc);
        cr[IDX(b, i, n)] = acc - ys[i];
    }
    for (int j = 0; j < d; j++) {
        REAL acc = (REAL)0;
        for (int i = 0; i < n; i++) acc = fma(xs[(size_t)i * (size_t)d + (size_t)j], cr[IDX(b, i, n)], acc);
        cg[IDX(b, j, d)] = acc * scale;
    }
    const REAL lam = lambda[b];
    REAL nn = (REAL)0;
    for (int e = 0; e < P; e++) nn = fma(start[e], start[e], nn);
    nn = sqrt(nn);
    for (int e = 0; e < P; e++) {
        cv[IDX(b, e, P)] = start[e] / nn;
        cp[IDX(b, e, P)] = (REAL)0;
    }
    REAL beta = (REAL)0, est = (REAL)0;
    int count = 0;
    for (int k = 0; k < steps; k++) {
        dln_hvp(b, n, d, stride, scale, lam, xs, layers, cg, cv, ch, ct, cr);
        REAL alpha = (REAL)0, hn = (REAL)0;
        for (int e = 0; e < P; e++) {
            const REAL z = ch[IDX(b, e, P)];
            alpha = fma(cv[IDX(b, e, P)], z, alpha);
            hn = fma(z, z, hn);
        }
        est = fmax(est, sqrt(hn));
        row[k] = alpha;
        count = k + 1;
        if (k + 1 == steps) break;
        REAL bb = (REAL)0;
        for (int e = 0; e < P; e++) {
            const size_t o = IDX(b, e, P);
            const REAL z = ch[o] - alpha * cv[o] - beta * cp[o];
            ch[o] = z;
            bb = fma(z, z, bb);
        }
        const REAL nb = sqrt(bb);
        if (!(nb > breakdown * est)) break;
        for (int e = 0; e < P; e++) {
            const size_t o = IDX(b, e, P);
            cp[o] = cv[o];
            cv[o] = ch[o] / nb;
        }
        beta = nb;
        row[steps + k] = nb;
    }
    row[2 * steps - 1] = (REAL)count;
}

/* z = K·v for replica b: t_j = (Σ_i X_ij·v_i)·D_j, z_i = (Σ_j X_ij·t_j)·scale. */
inline void dln_kernel_apply(const int b, const int n, const int d, const REAL scale, global const REAL* xs,
                             global const REAL* dj, global const REAL* v, global REAL* z, global REAL* t) {
    for (int j = 0; j < d; j++) {
        REAL acc = (REAL)0;
        for (int i = 0; i < n; i++) acc = fma(xs[(size_t)i * (size_t)d + (size_t)j], v[IDX(b, i, n)], acc);
        t[IDX(b, j, d)] = acc * dj[IDX(b, j, d)];
    }
    for (int i = 0; i < n; i++) {
        global const REAL* row = xs + (size_t)i * (size_t)d;
        REAL acc = (REAL)0;
        for (int j = 0; j < d; j++) acc = fma(row[j], t[IDX(b, j, d)], acc);
        z[IDX(b, i, n)] = acc * scale;
    }
}

kernel void dln_pl_constant(const int B, const int n, const int d, const long stride, const int steps,
                            const REAL scale, const REAL breakdown,
                            global const REAL* restrict X, global const int* restrict ds,
                            global const REAL* restrict layers, global const REAL* restrict start,
                            global REAL* restrict cd, global REAL* restrict cv, global REAL* restrict cz,
                            global REAL* restrict ct, global REAL* restrict cq, global REAL* restrict out) {
    const int b = get_global_id(0);
    if (b >= B) return;
    const int M = steps * n;
    global const REAL* xs = X + (size_t)ds[b] * (size_t)n * (size_t)d;
    global REAL* row = out + (size_t)b * (size_t)(2 * steps);
    for (int k = 0; k < 2 * steps; k++) row[k] = (REAL)0;
    REAL u[DEPTH], jac[DEPTH];
    for (int j = 0; j < d; j++) {
        const size_t o = IDX(b, j, d);
        for (int l = 0; l < DEPTH; l++) u[l] = layers[l * stride + o];
        dln_family_jacobian(u, jac);
        REAL dsum = jac[0] * jac[0];
        for (int l = 1; l < DEPTH; l++) dsum = dsum + jac[l] * jac[l];
        cd[o] = dsum;
    }
    REAL nn = (REAL)0;
    for (int i = 0; i < n; i++) nn = fma(start[i], start[i], nn);
    nn = sqrt(nn);
    for (int i = 0; i < n; i++) {
        const REAL q = start[i] / nn;
        cv[IDX(b, i, n)] = q;
        cq[IDX(b, i, M)] = q;
    }
    REAL est = (REAL)0;
    int count = 0;
    for (int k = 0; k < steps; k++) {
        dln_kernel_apply(b, n, d, scale, xs, cd, cv, cz, ct);
        REAL alpha = (REAL)0, hn = (REAL)0;
        for (int i = 0; i < n; i++) {
            const REAL z = cz[IDX(b, i, n)];
            alpha = fma(cv[IDX(b, i, n)], z, alpha);
            hn = fma(z, z, hn);
        }
        est = fmax(est, sqrt(hn));
        row[k] = alpha;
        count = k + 1;
        if (k + 1 == steps) break;
        for (int pass = 0; pass < 2; pass++) {
            for (int m = 0; m <= k; m++) {
                REAL c = (REAL)0;
                for (int i = 0; i < n; i++) c = fma(cq[IDX(b, m * n + i, M)], cz[IDX(b, i, n)], c);
                for (int i = 0; i < n; i++) {
                    const size_t o = IDX(b, i, n);
                    cz[o] = cz[o] - c * cq[IDX(b, m * n + i, M)];
                }
            }
        }
        REAL bb = (REAL)0;
        for (int i = 0; i < n; i++) {
            const REAL z = cz[IDX(b, i, n)];
            bb = fma(z, z, bb);
        }
        const REAL nb = sqrt(bb);
        if (!(nb > breakdown * est)) break;
        for (int i = 0; i < n; i++) {
            const REAL q = cz[IDX(b, i, n)] / nb;
            cv[IDX(b, i, n)] = q;
            cq[IDX(b, (k + 1) * n + i, M)] = q;
        }
        row[steps + k] = nb;
    }
    row[2 * steps - 1] = (REAL)count;
}
