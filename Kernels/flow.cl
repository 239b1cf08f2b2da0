/* flow.cl: gradient flow (update flow) by the adaptive Dormand–Prince 5(4) integrator, one step size per
 * replica, and the log-scale mirror representation of pm and uv. Twins: Sources/DLNModel/CPU/Flow.swift
 * (FlowMath, CPUBatch.flow*), operation for operation.
 *
 * State y: FLOW_LOG = 1: z (one component, the mirror variable of pm/uv); FLOW_LOG = 0: the layers themselves
 * (DEPTH components, component l at l·stride). Derivative buffers f: 7 of components·stride each (stage k at
 * k·count, count = components·stride). ys: the stage state. Per (padded) replica: t, hdes, errprev, h, ...
 * The Dormand–Prince tableau comes from the host (DormandPrince.packed rounded to REAL): a[s][k] at tab[7s + k]
 * (lower triangle, zeros above), c[s] at tab[49 + s], e[k] at tab[56 + k].
 *
 * One round (host loop, OpenCLEngine.swift): dln_flow_plan → for s = 1…6: dln_flow_stage (y_s and w at
 * τ = t + c_s·h) → the shape's residual and gradient → dln_flow_derivative (into f_s) → dln_flow_control
 * (error norm, controller, counters, freezing) → dln_flow_accept (y ← y_7, F₁ ← F₇ where accepted).
 * Replicas that are done, frozen (status ≠ 0) or padding (status −1) get h = 0 and idle.
 *
 * Knobs: FLOW_LOG (0 | 1), with DEPTH from common.cl; the family's pieces (dln_family_weight,
 * dln_family_flow_derivative, dln_family_log_layers) from family_<name>.cl.
 */
#ifndef FLOW_LOG
#define FLOW_LOG 0
#endif
#if FLOW_LOG
#define FLOW_COMPONENTS 1
#else
#define FLOW_COMPONENTS DEPTH
#endif
/* ln β is read only in the log representation (the layers representation passes a 1-element buffer). */
#if FLOW_LOG
#define DLN_LNB(p, o) ((p)[o])
#else
#define DLN_LNB(p, o) ((REAL)0)
#endif
#define DP_C 49
#define DP_E 56

#ifdef DLN_FP64
#define DLN_EPS DBL_EPSILON
#else
#define DLN_EPS FLT_EPSILON
#endif

/* w = β·e^{−2λτ}·sinh 2z as sign(z)·exp(ln β − 2λτ + 2|z| − ln 2)·(1 − e^{−4|z|}) (FlowMath.logWeight). */
inline REAL dln_logweight(const REAL z, const REAL lnbeta, const REAL lambda, const REAL tau) {
    const REAL az = fabs(z);
    const REAL lm = lnbeta - ((REAL)2 * lambda) * tau;
    const REAL ex = lm + (REAL)2 * az - (REAL)0.6931471805599453;
    const REAL mag = dln_exp(ex) * (-dln_expm1(-((REAL)4 * az)));
    return z < (REAL)0 ? -mag : mag;
}

/* w from one coordinate's state components (FlowMath / CPUBatch.flowWeights). */
inline REAL dln_flow_w(const REAL* u, const REAL lnbeta, const REAL lambda, const REAL tau) {
#if FLOW_LOG
    return dln_logweight(u[0], lnbeta, lambda, tau);
#else
    return dln_family_weight(u);
#endif
}

/* x^(1/8), x^(1/32), x^(1/64) by repeated square roots (FlowMath.roots). */
inline void dln_roots(const REAL x, REAL* r8, REAL* r32, REAL* r64) {
    const REAL a2 = sqrt(x), a4 = sqrt(a2), a8 = sqrt(a4);
    const REAL a16 = sqrt(a8), a32 = sqrt(a16), a64 = sqrt(a32);
    *r8 = a8;
    *r32 = a32;
    *r64 = a64;
}

/* max(min_step, 16 ulp of t, 1e-30) (FlowMath.floor). */
inline REAL dln_flow_floor(const REAL t, const REAL hmin) {
    REAL f = (REAL)16 * DLN_EPS * fabs(t);
    if (f < hmin) f = hmin;
    if (f < (REAL)1e-30) f = (REAL)1e-30;
    return f;
}

/* w ← model(state) at per-replica times: τ = (REAL)step·η_b when step ≥ 0 (the Euler path), τ = tau[b]
 * otherwise. NDRange (padded B, d), local (16, 1). Twin: CPUBatch.flowWeights. */
kernel void dln_flow_weights(const int d, const long stride, const long step,
                             global const REAL* state, global const REAL* lnbeta,
                             global const REAL* lam, global const REAL* eta, global const REAL* tau,
                             global REAL* w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d) return;
    const size_t o = IDX(b, j, d);
    REAL u[FLOW_COMPONENTS];
    for (int l = 0; l < FLOW_COMPONENTS; l++) u[l] = state[(size_t)l * stride + o];
    const REAL tb = step >= 0 ? (REAL)step * eta[b] : tau[b];
    w[o] = dln_flow_w(u, DLN_LNB(lnbeta, o), lam[b], tb);
}

/* Stage s (1…6) of an attempt: y_s = y − h·Σ_{k<s} a[s][k]·F_k into ys, and w(y_s) at τ = t + c_s·h.
 * NDRange (padded B, d), local (16, 1). Twin: CPUBatch.flowAttempt (+ flowWeights). */
kernel void dln_flow_stage(const int s, const int d, const long stride, const long count,
                           global const REAL* tab, global const REAL* y, global const REAL* f,
                           global const REAL* h, global const REAL* t, global const REAL* lnbeta,
                           global const REAL* lam, global REAL* ys, global REAL* w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d) return;
    const size_t o = IDX(b, j, d);
    const REAL hb = h[b];
    REAL u[FLOW_COMPONENTS];
    for (int l = 0; l < FLOW_COMPONENTS; l++) {
        const size_t ol = (size_t)l * stride + o;
        REAL acc = tab[7 * s] * f[ol];
        for (int k = 1; k < s; k++) acc = acc + tab[7 * s + k] * f[(size_t)k * count + ol];
        u[l] = y[ol] - hb * acc;
        ys[ol] = u[l];
    }
    const REAL tau = t[b] + tab[DP_C + s] * hb;
    w[o] = dln_flow_w(u, DLN_LNB(lnbeta, o), lam[b], tau);
}

/* F (ẏ = −F) from a state and the scaled gradient g into f + offset. Log: F = g. Layers: pm F_u = u(g+λ),
 * F_v = v(λ−g); uv F_u = g·v + λu, F_v = g·u + λv; deep F_l = g·∏_{k≠l}u_k + λu_l (ascending k).
 * NDRange (padded B, d), local (16, 1). Twin: CPUBatch.flowDerivative. */
kernel void dln_flow_derivative(const int d, const long stride, const long offset,
                                global const REAL* state, global const REAL* g,
                                global const REAL* lam, global REAL* f) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d) return;
    const size_t o = IDX(b, j, d);
    const REAL gj = g[o];
    global REAL* out = f + offset;
#if FLOW_LOG
    out[o] = gj;
#else
    const REAL l = lam[b];
    REAL u[DEPTH], fo[DEPTH];
    for (int k = 0; k < DEPTH; k++) u[k] = state[(size_t)k * stride + o];
    dln_family_flow_derivative(u, gj, l, fo);
    for (int m = 0; m < DEPTH; m++) out[(size_t)m * stride + o] = fo[m];
#endif
}

/* Σ (x/(atol + rtol·|y|))² over one replica's state, ascending (component, coordinate), fma-accumulated. */
inline REAL dln_flow_norm_sum(const int b, const int d, const long stride, global const REAL* x,
                              global const REAL* y, const REAL rtol, const REAL atol) {
    REAL acc = (REAL)0;
    for (int l = 0; l < FLOW_COMPONENTS; l++) {
        for (int j = 0; j < d; j++) {
            const size_t o = (size_t)l * stride + IDX(b, j, d);
            const REAL sc = atol + rtol * fabs(y[o]);
            const REAL q = x[o] / sc;
            acc = fma(q, q, acc);
        }
    }
    return acc;
}

/* The first step of every running replica, after F₁ = F(y, 0) is in f. has_h0: flow.initial_step given.
 * NDRange (padded B), local (16). Twin: CPUBatch.flowStart. */
kernel void dln_flow_start(const int d, const long stride, const REAL rtol, const REAL atol,
                           const REAL inv_m, const REAL hmax, const int has_h0, const REAL h0,
                           global const REAL* y, global const REAL* f, global int* status,
                           global REAL* hdes, global REAL* errprev, global int* evaluations,
                           global REAL* frozen_at) {
    const int b = get_global_id(0);
    if (status[b] != 0) return;
    const REAL d0s = dln_flow_norm_sum(b, d, stride, y, y, rtol, atol);
    const REAL d1s = dln_flow_norm_sum(b, d, stride, f, y, rtol, atol);
    const REAL d0 = sqrt(d0s * inv_m), d1 = sqrt(d1s * inv_m);
    REAL h = (d0 < (REAL)1e-5 || d1 < (REAL)1e-5) ? (REAL)1e-6 : ((REAL)0.01 * d0) / d1;
    if (has_h0) h = h0;
    if (h > hmax) h = hmax;
    hdes[b] = h;
    errprev[b] = (REAL)1e-4;
    evaluations[b] = 1;
    if (!(h > (REAL)0)) { status[b] = 2; frozen_at[b] = (REAL)0; }  /* F(y₀) not finite */
}

/* Each replica's attempt toward target: h = min(hdes, hmax, target − t) (clamped: it lands on target);
 * h = 0 for replicas that are done, frozen or padding. NDRange (padded B), local (16). */
kernel void dln_flow_plan(const REAL target, const REAL hmax, global const int* status,
                          global const REAL* t, global const REAL* hdes,
                          global REAL* h, global int* clamped) {
    const int b = get_global_id(0);
    REAL hh = (REAL)0;
    int cl = 0;
    const REAL tb = t[b];
    if (status[b] == 0 && tb < target) {
        const REAL rem = target - tb;
        hh = hdes[b];
        if (hh > hmax) hh = hmax;
        if (!(hh < rem)) { hh = rem; cl = 1; }
    }
    h[b] = hh;
    clamped[b] = cl;
}

/* Error norm, PI controller, counters and freezing of one replica after an attempt (h > 0 only).
 * NDRange (padded B), local (16). Twin: CPUBatch.flowAdvance (error sum, control) and FlowMath.control/floor. */
kernel void dln_flow_control(const int d, const long stride, const long count, const REAL target,
                             const REAL rtol, const REAL atol, const REAL hmin, const REAL inv_m,
                             const int max_steps, global const REAL* tab,
                             global const REAL* y, global const REAL* ys, global const REAL* f,
                             global const REAL* h, global const int* clamped,
                             global REAL* t, global REAL* hdes, global REAL* errprev,
                             global int* last_rejected, global int* status, global REAL* frozen_at,
                             global int* evaluations, global int* rejected, global int* attempts,
                             global int* accepted) {
    const int b = get_global_id(0);
    const REAL hb = h[b];
    if (!(hb > (REAL)0)) { accepted[b] = 0; return; }
    REAL sum = (REAL)0;
    for (int l = 0; l < FLOW_COMPONENTS; l++) {
        for (int j = 0; j < d; j++) {
            const size_t o = (size_t)l * stride + IDX(b, j, d);
            REAL acc = tab[DP_E] * f[o];
            for (int k = 1; k < 7; k++) acc = acc + tab[DP_E + k] * f[(size_t)k * count + o];
            const REAL err = hb * acc;
            const REAL ay = fabs(y[o]), an = fabs(ys[o]);
            const REAL big = an > ay ? an : ay;
            const REAL sc = atol + rtol * big;
            const REAL q = err / sc;
            sum = fma(q, q, sum);
        }
    }
    evaluations[b] = (int)((uint)evaluations[b] + 6u);
    const int att = (int)((uint)attempts[b] + 1u);
    attempts[b] = att;
    // FlowMath.control
    const int cl = clamped[b];
    const REAL hd = hdes[b], ep0 = errprev[b];
    const REAL err = sqrt(sum * inv_m);
    int acc_flag, rej, fin;
    REAL hn, ep;
    if (err <= (REAL)1) {
        REAL fac = (REAL)10;
        if (err > (REAL)0) {
            REAL e8, e32, e64, p8, p32, p64;
            dln_roots(err, &e8, &e32, &e64);
            dln_roots(ep0, &p8, &p32, &p64);
            fac = ((REAL)0.9 * (p32 * p64)) / ((e8 * e32) * e64);
            fac = fac < (REAL)0.2 ? (REAL)0.2 : fac;
            fac = fac > (REAL)10 ? (REAL)10 : fac;
        }
        if (last_rejected[b] != 0 && fac > (REAL)1) fac = (REAL)1;
        hn = hb * fac;
        if (cl && fac >= (REAL)10 && hd > hn) hn = hd;
        ep = err > (REAL)1e-4 ? err : (REAL)1e-4;
        acc_flag = 1; rej = 0; fin = 1;
    } else {
        fin = isfinite(err) ? 1 : 0;
        REAL fac = (REAL)0.1;
        if (fin) {
            REAL e8, e32, e64;
            dln_roots(err, &e8, &e32, &e64);
            fac = (REAL)0.9 / ((e8 * e32) * e64);
            fac = fac < (REAL)0.2 ? (REAL)0.2 : fac;
        }
        hn = hb * fac;
        ep = ep0;
        acc_flag = 0; rej = 1;
    }
    REAL tn = t[b];
    if (acc_flag) {
        tn = cl ? target : tn + hb;
        t[b] = tn;
    } else {
        rejected[b] = (int)((uint)rejected[b] + 1u);
    }
    hdes[b] = hn;
    errprev[b] = ep;
    last_rejected[b] = rej;
    if (tn < target) {
        if (att >= max_steps) {
            status[b] = 3;
            frozen_at[b] = tn;
        } else if (hn < dln_flow_floor(tn, hmin)) {
            status[b] = fin ? 1 : 2;
            frozen_at[b] = tn;
        }
    }
    accepted[b] = acc_flag;
}

/* Accepted replicas take the new state, and F₇ becomes F₁ (first same as last).
 * NDRange (padded B, d), local (16, 1). */
kernel void dln_flow_accept(const int d, const long stride, const long count,
                            global const int* accepted, global const REAL* ys,
                            global REAL* y, global REAL* f) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d || accepted[b] == 0) return;
    const size_t o = IDX(b, j, d);
    for (int l = 0; l < FLOW_COMPONENTS; l++) {
        const size_t ol = (size_t)l * stride + o;
        y[ol] = ys[ol];
        f[ol] = f[(size_t)6 * count + ol];
    }
}

/* out[0] = replicas still running toward target (status 0, t < target); out[1] = those of them whose
 * planned step would be 0 (they could never arrive). One work-item. */
kernel void dln_flow_active(const int P, const REAL target, global const int* status,
                            global const REAL* t, global const REAL* hdes, global int* out) {
    if (get_global_id(0) != 0) return;
    int n = 0, stuck = 0;
    for (int b = 0; b < P; b++) {
        if (status[b] == 0 && t[b] < target) {
            n++;
            if (hdes[b] <= (REAL)0) stuck++;  /* NaN plans the whole remainder */
        }
    }
    out[0] = n;
    out[1] = stuck;
}

/* One fixed step of the log representation (the multiplicative update): z ← z − η·F with F = g.
 * NDRange (padded B, d), local (16, 1). Twin: CPUBatch.flowEuler. */
kernel void dln_flow_euler(const int d, global const REAL* eta, global const REAL* g, global REAL* y) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d) return;
    const size_t o = IDX(b, j, d);
    y[o] = y[o] - eta[b] * g[o];
}

/* Layers and w from the state at per-replica times tau (before observing or reading the state). Log: pm
 * u = s₀e^{h+z−λτ}, v = s₁e^{h−z−λτ}; uv p, q that way, u = (p+q)/2, v = (p−q)/2. Layers: w only.
 * NDRange (padded B, d), local (16, 1). Twin: CPUBatch.flowMaterialize. */
kernel void dln_flow_materialize(const int d, const long stride, global const REAL* y,
                                 global const REAL* lnbeta, global const REAL* lnhalf,
                                 global const REAL* sign0, global const REAL* sign1,
                                 global const REAL* lam, global const REAL* tau,
                                 global REAL* layers, global REAL* w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (j >= d) return;
    const size_t o = IDX(b, j, d);
    const REAL tb = tau[b];
    REAL u[FLOW_COMPONENTS];
    for (int l = 0; l < FLOW_COMPONENTS; l++) u[l] = y[(size_t)l * stride + o];
    w[o] = dln_flow_w(u, DLN_LNB(lnbeta, o), lam[b], tb);
#if FLOW_LOG
    const REAL lt = lam[b] * tb;
    const REAL z = u[0], hl = lnhalf[o];
    const REAL xu = (hl + z) - lt, xv = (hl - z) - lt;
    const REAL p = sign0[o] * dln_exp(xu), q = sign1[o] * dln_exp(xv);
    REAL lu[2];
    dln_family_log_layers(p, q, lu);
    layers[o] = lu[0];
    layers[stride + o] = lu[1];
#endif
}
