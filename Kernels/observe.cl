/* observe.cl: every observable but the train loss, per replica (see Sources/DLNModel/Core/Observables.swift).
 *
 * One pass over the coordinates j in ascending order, sums fma-accumulated from 0:
 *   dist = Σ(w−w*)², overlap = Σ w·w*, norm = Σ w², l1 = Σ|w|, muv = Σ u·v, mq = Σ (u·u + v·v)·0.5,
 *   dev = max_j |C_j − C0_j·decay|, scale = max_j |C0_j|   (C = u·v pm, u·u − v·v uv, u_l² − u_0² deep, l ≥ 1:
 *   dln_family_conservation; muv, mq only where the family defines DLN_FAMILY_UV_MOMENTS),
 *   per threshold τ_t: cnt_t = #{|w_j| > τ_t}, tp_t = #{|w_j| > τ_t and w*_j ≠ 0}; nstar = #{w*_j ≠ 0};
 *   where the family defines DLN_FAMILY_EFFECTIVE_SCALE (pm: u·v, uv: u·u − v·v), the squared effective scale
 *   relative to α², e_j = dln_family_effective_scale(u)·inv_alpha_sq[b]: esum = Σ e_j, emin = min_j e_j (by <,
 *   from +∞), ew = Σ |w_j|·e_j (fma-accumulated).
 * Output obs[b·K + k], K = OBS_SUPPORT + 3·NTHRESH: test_error at OBS_TEST_ERROR, overlap/d at OBS_OVERLAP,
 *   norm/d at OBS_NORM_SQ, muv/d at OBS_MEAN_UV, mq/d at OBS_MEAN_Q, l1 at OBS_L1_NORM, sqrt(norm) at OBS_L2_NORM,
 *   dist at OBS_DIST_SQ, dev/scale (dev if scale = 0) at OBS_CONSERVATION, esum/d at OBS_EFFECTIVE_SCALE_SQ_MEAN,
 *   emin at OBS_EFFECTIVE_SCALE_SQ_MIN, ew/l1 (NaN if l1 = 0) at OBS_EFFECTIVE_SCALE_SQ_L1 (all three NaN
 *   without DLN_FAMILY_EFFECTIVE_SCALE), then per τ from OBS_SUPPORT: cnt,
 *   tp/cnt (1 if cnt = 0), tp/nstar (1 if nstar = 0). The host sets every OBS_* from the one list of
 *   observables (Sources/DLNModel/Core/Observables.swift, `ObservableSet.kernelOptions`).
 * test_error: with a held-out set (nt > 0), (1/nt)·Σ_i (x_i·w − y_i)²; else dist·dvar when the teacher is known.
 * Unknown teacher (has_teacher[ds] = 0): overlap, dist, test_error (without a test set), precision, recall = NaN.
 * Twin: CPUBatch.observables (Sources/DLNModel/CPU/Observe.swift). NDRange: (padded B), local (16).
 * Knobs: NTHRESH (number of thresholds, ≥ 0), OBS_* (positions in the output row).
 */
#ifndef NTHRESH
#define NTHRESH 2
#endif
#ifndef OBS_SUPPORT
#define OBS_TEST_ERROR 0
#define OBS_OVERLAP 1
#define OBS_NORM_SQ 2
#define OBS_MEAN_UV 3
#define OBS_MEAN_Q 4
#define OBS_L1_NORM 5
#define OBS_L2_NORM 6
#define OBS_DIST_SQ 7
#define OBS_CONSERVATION 8
#define OBS_EFFECTIVE_SCALE_SQ_MEAN 9
#define OBS_EFFECTIVE_SCALE_SQ_MIN 10
#define OBS_EFFECTIVE_SCALE_SQ_L1 11
#define OBS_SUPPORT 12
#endif
#define NOBS (OBS_SUPPORT + 3 * NTHRESH)

kernel void dln_observe(const int B, const int d, const long stride,
                        global const int* restrict ds, global const REAL* restrict w,
                        global const REAL* restrict layers, global const REAL* restrict init,
                        global const REAL* restrict teacher, global const int* restrict has_teacher,
                        global const REAL* restrict decay, global const REAL* restrict inv_alpha_sq,
                        global const REAL* restrict thresholds,
                        const REAL inv_d, const REAL dvar, const int use_dvar,
                        const int nt, const REAL inv_nt,
                        global const REAL* restrict xt, global const REAL* restrict yt,
                        global REAL* restrict obs) {
    const int b = get_global_id(0);
    if (b >= B) return;
    const int s = ds[b];
    global const REAL* ws = teacher + (size_t)s * (size_t)d;
    const REAL dec = decay[b];
    REAL dist = 0, ov = 0, nrm = 0, l1 = 0, muv = 0, mq = 0, dev = 0, scale = 0, nstar = 0;
    REAL esum = 0, emin = (REAL)INFINITY, ew = 0;
    const REAL ia2 = inv_alpha_sq[b];
    REAL cnt[NTHRESH + 1], tp[NTHRESH + 1];
    for (int t = 0; t < NTHRESH; t++) { cnt[t] = 0; tp[t] = 0; }
    for (int j = 0; j < d; j++) {
        const size_t o = IDX(b, j, d);
        const REAL wj = w[o], wsj = ws[j];
        const REAL diff = wj - wsj;
        dist = fma(diff, diff, dist);
        ov = fma(wj, wsj, ov);
        nrm = fma(wj, wj, nrm);
        l1 = l1 + fabs(wj);
        REAL u[DEPTH], u0[DEPTH];
        for (int l = 0; l < DEPTH; l++) {
            u[l] = layers[l * stride + o];
            u0[l] = init[l * stride + o];
        }
#if DLN_FAMILY_UV_MOMENTS
        muv = fma(u[0], u[1], muv);
        mq = mq + (u[0] * u[0] + u[1] * u[1]) * (REAL)0.5;
#endif
#if DLN_FAMILY_EFFECTIVE_SCALE
        const REAL ej = dln_family_effective_scale(u) * ia2;
        esum = esum + ej;
        if (ej < emin) emin = ej;
        ew = fma(fabs(wj), ej, ew);
#endif
        dln_family_conservation(u, u0, dec, &dev, &scale);
        const REAL star = wsj != (REAL)0 ? (REAL)1 : (REAL)0;
        nstar = nstar + star;
        for (int t = 0; t < NTHRESH; t++) {
            if (fabs(wj) > thresholds[t]) {
                cnt[t] = cnt[t] + (REAL)1;
                tp[t] = tp[t] + star;
            }
        }
    }
    const int known = has_teacher[s];
    const REAL nan_value = (REAL)NAN;
    REAL test_error = nan_value;
    if (nt > 0) {
        REAL sse = 0;
        for (int i = 0; i < nt; i++) {
            global const REAL* row = xt + ((size_t)s * (size_t)nt + (size_t)i) * (size_t)d;
            REAL acc = 0;
            for (int j = 0; j < d; j++) acc = fma(row[j], w[IDX(b, j, d)], acc);
            const REAL ri = acc - yt[(size_t)s * (size_t)nt + (size_t)i];
            sse = fma(ri, ri, sse);
        }
        test_error = sse * inv_nt;
    } else if (known && use_dvar) {
        test_error = dist * dvar;
    }
    global REAL* out = obs + (size_t)b * NOBS;
    out[OBS_TEST_ERROR] = test_error;
    out[OBS_OVERLAP] = known ? ov * inv_d : nan_value;
    out[OBS_NORM_SQ] = nrm * inv_d;
#if DLN_FAMILY_UV_MOMENTS
    out[OBS_MEAN_UV] = muv * inv_d;
    out[OBS_MEAN_Q] = mq * inv_d;
#else
    out[OBS_MEAN_UV] = nan_value;
    out[OBS_MEAN_Q] = nan_value;
#endif
    out[OBS_L1_NORM] = l1;
    out[OBS_L2_NORM] = sqrt(nrm);
    out[OBS_DIST_SQ] = known ? dist : nan_value;
    out[OBS_CONSERVATION] = scale > (REAL)0 ? dev / scale : dev;
#if DLN_FAMILY_EFFECTIVE_SCALE
    out[OBS_EFFECTIVE_SCALE_SQ_MEAN] = esum * inv_d;
    out[OBS_EFFECTIVE_SCALE_SQ_MIN] = emin;
    out[OBS_EFFECTIVE_SCALE_SQ_L1] = l1 > (REAL)0 ? ew / l1 : nan_value;
#else
    out[OBS_EFFECTIVE_SCALE_SQ_MEAN] = nan_value;
    out[OBS_EFFECTIVE_SCALE_SQ_MIN] = nan_value;
    out[OBS_EFFECTIVE_SCALE_SQ_L1] = nan_value;
#endif
    for (int t = 0; t < NTHRESH; t++) {
        out[OBS_SUPPORT + 3 * t] = cnt[t];
        out[OBS_SUPPORT + 1 + 3 * t] = known ? (cnt[t] > (REAL)0 ? tp[t] / cnt[t] : (REAL)1) : nan_value;
        out[OBS_SUPPORT + 2 + 3 * t] = known ? (nstar > (REAL)0 ? tp[t] / nstar : (REAL)1) : nan_value;
    }
}
