/* stochastic.cl: the stochastic steps (update sgd, label noise, gradient noise), one dedicated kernel shape used
 * on every device (scalar work-items, whatever the batch's products shape).
 * Twin: Sources/DLNModel/Core/StochasticRandom.swift (dln_words, dln_below, dln_gauss, BatchSampler) and
 * Sources/DLNModel/CPU/Stochastic.swift (the step), operation for operation.
 *
 * Random numbers: Philox4x32-10 keyed by the replica's seed, counter (index, step mod 2^32, stream, step / 2^32);
 * streams 7 batch draws, 8 epoch permutations (the epoch in the step slot), 9 label noise (row i), 10 Langevin
 * noise (l·d + j). The Gaussian is Box–Muller with our own log and cos polynomials (+, −, ×, ÷, √ only).
 *
 * A step is four launches:
 *   dln_sgd_indices  (padded B) (16):    the sorted rows idx[b][0..cnt) of step `step` and the scale
 *   dln_sgd_residual (padded B, n) (16, 1): r[b][k] = (Σ_j X[i_k][j]·w[b][j]) − (y[i_k] + σ_ℓ·ξ_{i_k}), k < cnt[b]
 *   dln_sgd_gradient (padded B, d) (16, 1): g[b][j] = (Σ_{k<cnt} X[i_k][j]·r[b][k])·sc[b]
 *   dln_update (update.cl), then, when some replica has T > 0,
 *   dln_sgd_langevin (padded B, d) (16, 1): u_l ← u_l + (√(2ηT)·root)·ξ_{l·d+j}, w = dln_family_weight(u)
 *   (root = √s_k, the learning-rate schedule's factor of the step, rounded once on the host; 1 without one)
 * Sums are fma-accumulated in ascending index from 0. idx, r use IDX(b, k, n); the epoch permutation perm[b]
 * is row-major per replica (b·n + i) with its epoch in permEpoch[b] (−1: none, redrawn).
 */
#define DLN_STREAM_BATCH 7u
#define DLN_STREAM_PERMUTATION 8u
#define DLN_STREAM_LABEL 9u
#define DLN_STREAM_GRADIENT 10u
#define DLN_SAMPLING_REPLACEMENT 0
#define DLN_SAMPLING_EPOCHS 1
#define DLN_SAMPLING_SEQUENTIAL 2

/* Philox4x32-10 of counter (index, step low, stream, step high) under key (klo, khi). Twin: CounterRNG.philox. */
inline uint4 dln_words(const uint klo, const uint khi, const uint stream, const ulong step, const uint index) {
    uint c0 = index, c1 = (uint)step, c2 = stream, c3 = (uint)(step >> 32);
    uint k0 = klo, k1 = khi;
    for (int r = 0; r < 10; r++) {
        const ulong p0 = (ulong)0xD2511F53u * (ulong)c0;
        const ulong p1 = (ulong)0xCD9E8D57u * (ulong)c2;
        const uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
        const uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint)p1;
        c3 = (uint)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return (uint4)(c0, c1, c2, c3);
}

/* floor(word·m / 2^32): an integer in [0, m). */
inline int dln_below(const int m, const uint word) { return (int)(((ulong)word * (ulong)m) >> 32); }

inline float dln_log_f(const float x) {
    const uint bits = as_uint(x);
    int e = (int)((bits >> 23) & 0xFFu) - 127;
    float m = as_float((bits & 0x7FFFFFu) | 0x3F800000u);
    if (m > 1.4142135f) {
        m = m * 0.5f;
        e = e + 1;
    }
    const float s = (m - 1.0f) / (m + 1.0f);
    const float z = s * s;
    float p = 0.09090909f;
    p = p * z + 0.11111111f;
    p = p * z + 0.14285715f;
    p = p * z + 0.2f;
    p = p * z + 0.33333334f;
    p = p * z + 1.0f;
    return (float)e * 0.6931472f + 2.0f * s * p;
}

inline float dln_cos_turn_f(const float u) {
    float a = fabs(u - rint(u));
    int negative = 0;
    if (a > 0.25f) {
        a = 0.5f - a;
        negative = 1;
    }
    float c;
    if (a <= 0.125f) {
        const float x = a * 6.2831855f;
        const float z = x * x;
        float p = -2.7557319e-07f;
        p = p * z + 2.4801588e-05f;
        p = p * z + -0.0013888889f;
        p = p * z + 0.041666668f;
        p = p * z + -0.5f;
        c = p * z + 1.0f;
    } else {
        const float x = (0.25f - a) * 6.2831855f;
        const float z = x * x;
        float p = 2.7557319e-06f;
        p = p * z + -0.0001984127f;
        p = p * z + 0.008333334f;
        p = p * z + -0.16666667f;
        p = p * z + 1.0f;
        c = p * x;
    }
    return negative ? -c : c;
}

inline float dln_gauss_f(const uint4 w) {
    const float u1 = (float)(2u * (w.x >> 9) + 1u) * 5.9604645e-08f;
    const float u2 = (float)(2u * (w.z >> 9) + 1u) * 5.9604645e-08f;
    const float radius = sqrt(-2.0f * dln_log_f(u1));
    return radius * dln_cos_turn_f(u2);
}

#ifdef DLN_FP64
inline double dln_log_d(const double x) {
    const ulong bits = as_ulong(x);
    long e = (long)((bits >> 52) & 0x7FFul) - 1023;
    double m = as_double((bits & 0xFFFFFFFFFFFFFul) | 0x3FF0000000000000ul);
    if (m > 1.4142135623730951) {
        m = m * 0.5;
        e = e + 1;
    }
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    double p = 0.043478260869565216;
    p = p * z + 0.047619047619047616;
    p = p * z + 0.05263157894736842;
    p = p * z + 0.058823529411764705;
    p = p * z + 0.06666666666666667;
    p = p * z + 0.07692307692307693;
    p = p * z + 0.09090909090909091;
    p = p * z + 0.1111111111111111;
    p = p * z + 0.14285714285714285;
    p = p * z + 0.2;
    p = p * z + 0.3333333333333333;
    p = p * z + 1.0;
    const double r = 2.0 * s * p;
    return (double)e * 0.6931471805599453 + r;
}

inline double dln_cos_turn_d(const double u) {
    double a = fabs(u - rint(u));
    int negative = 0;
    if (a > 0.25) {
        a = 0.5 - a;
        negative = 1;
    }
    double c;
    if (a <= 0.125) {
        const double x = a * 6.283185307179586;
        const double z = x * x;
        double p = 4.779477332387385e-14;
        p = p * z + -1.1470745597729725e-11;
        p = p * z + 2.08767569878681e-09;
        p = p * z + -2.755731922398589e-07;
        p = p * z + 2.48015873015873e-05;
        p = p * z + -0.001388888888888889;
        p = p * z + 0.041666666666666664;
        p = p * z + -0.5;
        c = p * z + 1.0;
    } else {
        const double x = (0.25 - a) * 6.283185307179586;
        const double z = x * x;
        double p = -7.647163731819816e-13;
        p = p * z + 1.6059043836821613e-10;
        p = p * z + -2.505210838544172e-08;
        p = p * z + 2.755731922398589e-06;
        p = p * z + -0.0001984126984126984;
        p = p * z + 0.008333333333333333;
        p = p * z + -0.16666666666666666;
        p = p * z + 1.0;
        c = p * x;
    }
    return negative ? -c : c;
}

inline double dln_gauss_d(const uint4 w) {
    const ulong k1 = ((ulong)w.x << 20) | (ulong)(w.y >> 12);
    const ulong k2 = ((ulong)w.z << 20) | (ulong)(w.w >> 12);
    const double u1 = (double)(2ul * k1 + 1ul) * 1.1102230246251565e-16;
    const double u2 = (double)(2ul * k2 + 1ul) * 1.1102230246251565e-16;
    const double radius = sqrt(-2.0 * dln_log_d(u1));
    return radius * dln_cos_turn_d(u2);
}
#define dln_gauss dln_gauss_d
#else
#define dln_gauss dln_gauss_f
#endif

/* The sorted rows of one replica's step (twin: BatchSampler.indices). */
kernel void dln_sgd_indices(const int B, const int n, const long step, const int sampling,
                            global const uint* restrict keys, global const int* restrict bsz,
                            global const REAL* restrict scaleFull, global const REAL* restrict scaleLast,
                            global int* restrict idx, global int* restrict cnt, global REAL* restrict sc,
                            global int* restrict perm, global long* restrict permEpoch) {
    const int b = get_global_id(0);
    if (b >= B) return;
    const uint klo = keys[2 * b], khi = keys[2 * b + 1];
    const int size = bsz[b];
    int count = size;
    if (sampling == DLN_SAMPLING_REPLACEMENT) {
        for (int k = 0; k < size; k++)
            idx[IDX(b, k, n)] = dln_below(n, dln_words(klo, khi, DLN_STREAM_BATCH, (ulong)step, (uint)k).x);
    } else {
        const ulong perEpoch = (ulong)((n + size - 1) / size);
        const ulong epoch = (ulong)step / perEpoch;
        const int start = (int)((ulong)step % perEpoch) * size;
        count = min(size, n - start);
        if (sampling == DLN_SAMPLING_SEQUENTIAL) {
            for (int k = 0; k < count; k++) idx[IDX(b, k, n)] = start + k;
        } else {
            global int* p = perm + (size_t)b * (size_t)n;
            if (permEpoch[b] != (long)epoch) {
                for (int i = 0; i < n; i++) p[i] = i;
                for (int i = n - 1; i >= 1; i--) {
                    const int j = dln_below(i + 1, dln_words(klo, khi, DLN_STREAM_PERMUTATION, epoch, (uint)i).x);
                    const int t = p[i];
                    p[i] = p[j];
                    p[j] = t;
                }
                permEpoch[b] = (long)epoch;
            }
            for (int k = 0; k < count; k++) idx[IDX(b, k, n)] = p[start + k];
        }
    }
    if (sampling != DLN_SAMPLING_SEQUENTIAL) {
        for (int k = 1; k < count; k++) {
            const int v = idx[IDX(b, k, n)];
            int m = k - 1;
            while (m >= 0 && idx[IDX(b, m, n)] > v) {
                idx[IDX(b, m + 1, n)] = idx[IDX(b, m, n)];
                m--;
            }
            idx[IDX(b, m + 1, n)] = v;
        }
    }
    cnt[b] = count;
    sc[b] = count == size ? scaleFull[b] : scaleLast[b];
}

kernel void dln_sgd_residual(const int B, const int n, const int d, const long step,
                             global const REAL* restrict X, global const REAL* restrict Y,
                             global const int* restrict ds, global const uint* restrict keys,
                             global const REAL* restrict sigma, global const int* restrict idx,
                             global const int* restrict cnt, global const REAL* restrict w,
                             global REAL* restrict r) {
    const int b = get_global_id(0);
    const int k = get_global_id(1);
    if (b >= B || k >= cnt[b]) return;
    const size_t s = (size_t)ds[b];
    const int i = idx[IDX(b, k, n)];
    global const REAL* xrow = X + s * (size_t)n * (size_t)d + (size_t)i * (size_t)d;
    REAL acc = (REAL)0;
    for (int j = 0; j < d; j++) acc = fma(xrow[j], w[IDX(b, j, d)], acc);
    REAL yi = Y[s * (size_t)n + (size_t)i];
    const REAL sg = sigma[b];
    if (sg != (REAL)0) {
        const REAL xi = dln_gauss(dln_words(keys[2 * b], keys[2 * b + 1], DLN_STREAM_LABEL, (ulong)step, (uint)i));
        yi = yi + sg * xi;
    }
    r[IDX(b, k, n)] = acc - yi;
}

kernel void dln_sgd_gradient(const int B, const int n, const int d, global const REAL* restrict X,
                             global const int* restrict ds, global const int* restrict idx,
                             global const int* restrict cnt, global const REAL* restrict sc,
                             global const REAL* restrict r, global REAL* restrict g) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    global const REAL* xs = X + (size_t)ds[b] * (size_t)n * (size_t)d + (size_t)j;
    const int count = cnt[b];
    REAL acc = (REAL)0;
    for (int k = 0; k < count; k++) acc = fma(xs[(size_t)idx[IDX(b, k, n)] * (size_t)d], r[IDX(b, k, n)], acc);
    g[IDX(b, j, d)] = acc * sc[b];
}

/* The matrix model (DLN_MATRIX) has no Langevin noise and no dln_family_weight. */
#ifndef DLN_MATRIX
kernel void dln_sgd_langevin(const int B, const int d, const long stride, const long step, const REAL root,
                             global const uint* restrict keys, global const REAL* restrict coef,
                             global REAL* restrict layers, global REAL* restrict w) {
    const int b = get_global_id(0);
    const int j = get_global_id(1);
    if (b >= B || j >= d) return;
    const REAL c0 = coef[b];
    if (c0 == (REAL)0) return;
    const REAL c = c0 * root;
    const size_t o = IDX(b, j, d);
    REAL u[DEPTH];
    for (int l = 0; l < DEPTH; l++) {
        const REAL xi =
            dln_gauss(dln_words(keys[2 * b], keys[2 * b + 1], DLN_STREAM_GRADIENT, (ulong)step, (uint)(l * d + j)));
        u[l] = layers[l * stride + o] + c * xi;
        layers[l * stride + o] = u[l];
    }
    w[o] = dln_family_weight(u);
}
#endif
