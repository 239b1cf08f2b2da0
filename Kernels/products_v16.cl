/* products_v16.cl: r = X·w − y and g = scale·Xᵀr for a block of 16 replicas at once, in REAL16 vectors
 * (the CPU-device shape: PoCL vectorises the lanes, not a loop).
 *
 * Same arithmetic as residual.cl / gradient.cl, lane by lane: r[i] = (fma-sum over ascending j of
 * X[i][j]·w[j]) − y[i]; g[j] = (fma-sum over ascending i of X[i][j]·r[i])·scale. Four rows (residual) or four
 * coordinates (gradient) per work-item, in named accumulators.
 * Data per block: block_ds[blk] ≥ 0 when all 16 lanes use that data set (X broadcast from X, y from Y);
 * −1 when they differ: then the block's data are lane-interleaved in XI at block_xi[blk]:
 * X at XI[o + (i·d + j)·16 + lane], y at XI[o + (n·d + i)·16 + lane].
 * Padding lanes (b ≥ B) are computed too (their w is 0); nothing reads them.
 * NDRange: residual (blocks, ceil(n/4)), gradient (blocks, ceil(d/4)); local (1, 1). Knob: REAL16.
 * Twin: CPUBatch.matVec, CPUBatch.gradient, CPUBatch.pairProducts, CPUBatch.fusedProducts
 * (Sources/DLNModel/CPU/Products.swift).
 */
#ifndef REAL16
#define REAL16 float16
#endif

/* r of rows i0 … min(i0 + 4, n) − 1 of a block whose lanes share one data set (xs, ys): four named accumulators when
 * four rows remain, else one row at a time. Shared by dln_residual_v16 and dln_block_steps_v16 (replica_v16.cl). */
inline void dln_residual_rows4(const int n, const int d, const int i0, global const REAL* restrict xs,
                               global const REAL* restrict ys, global const REAL* restrict wb,
                               global REAL* restrict rb) {
    if (i0 + 4 <= n) {
        global const REAL* x0 = xs + (size_t)i0 * d;
        global const REAL* x1 = x0 + d;
        global const REAL* x2 = x1 + d;
        global const REAL* x3 = x2 + d;
        REAL16 a0 = (REAL16)(0), a1 = (REAL16)(0), a2 = (REAL16)(0), a3 = (REAL16)(0);
        for (int j = 0; j < d; j++) {
            const REAL16 wj = vload16(j, wb);
            a0 = fma((REAL16)(x0[j]), wj, a0);
            a1 = fma((REAL16)(x1[j]), wj, a1);
            a2 = fma((REAL16)(x2[j]), wj, a2);
            a3 = fma((REAL16)(x3[j]), wj, a3);
        }
        vstore16(a0 - (REAL16)(ys[i0]), i0, rb);
        vstore16(a1 - (REAL16)(ys[i0 + 1]), i0 + 1, rb);
        vstore16(a2 - (REAL16)(ys[i0 + 2]), i0 + 2, rb);
        vstore16(a3 - (REAL16)(ys[i0 + 3]), i0 + 3, rb);
    } else {
        for (int i = i0; i < n; i++) {
            global const REAL* xi = xs + (size_t)i * d;
            REAL16 a = (REAL16)(0);
            for (int j = 0; j < d; j++) a = fma((REAL16)(xi[j]), vload16(j, wb), a);
            vstore16(a - (REAL16)(ys[i]), i, rb);
        }
    }
}

/* The gradient sums of coordinates j0 … j0 + 3 of a block whose lanes share one data set (xj = xs + j0), unscaled. */
inline void dln_gradient_cols4(const int n, const int d, global const REAL* restrict xj,
                               global const REAL* restrict rb, REAL16* s0, REAL16* s1, REAL16* s2, REAL16* s3) {
    REAL16 a0 = (REAL16)(0), a1 = (REAL16)(0), a2 = (REAL16)(0), a3 = (REAL16)(0);
    for (int i = 0; i < n; i++) {
        const REAL16 ri = vload16(i, rb);
        global const REAL* xi = xj + (size_t)i * d;
        a0 = fma((REAL16)(xi[0]), ri, a0);
        a1 = fma((REAL16)(xi[1]), ri, a1);
        a2 = fma((REAL16)(xi[2]), ri, a2);
        a3 = fma((REAL16)(xi[3]), ri, a3);
    }
    *s0 = a0;
    *s1 = a1;
    *s2 = a2;
    *s3 = a3;
}

/* The gradient sum of coordinate j alone (shared data set xs), unscaled. */
inline REAL16 dln_gradient_col(const int n, const int d, global const REAL* restrict xs, const int j,
                               global const REAL* restrict rb) {
    REAL16 a = (REAL16)(0);
    for (int i = 0; i < n; i++) a = fma((REAL16)(xs[(size_t)i * d + j]), vload16(i, rb), a);
    return a;
}

kernel void dln_residual_v16(const int n, const int d,
                             global const REAL* restrict X, global const REAL* restrict Y,
                             global const int* restrict block_ds, global const long* restrict block_xi,
                             global const REAL* restrict XI, global const REAL* restrict w,
                             global REAL* restrict r, global const int* restrict skip) {
    const int blk = get_global_id(0);
    const int i0 = get_global_id(1) * 4;
    if (i0 >= n || skip[blk]) return;
    global const REAL* wb = w + (size_t)blk * (size_t)d * LANES;
    global REAL* rb = r + (size_t)blk * (size_t)n * LANES;
    const int s = block_ds[blk];
    if (s >= 0) {
        dln_residual_rows4(n, d, i0, X + (size_t)s * (size_t)n * (size_t)d, Y + (size_t)s * (size_t)n, wb, rb);
    } else {
        global const REAL* xb = XI + block_xi[blk];
        global const REAL* yb = xb + (size_t)n * (size_t)d * LANES;
        const int i1 = min(i0 + 4, n);
        for (int i = i0; i < i1; i++) {
            global const REAL* xi = xb + (size_t)i * (size_t)d * LANES;
            REAL16 a = (REAL16)(0);
            for (int j = 0; j < d; j++) a = fma(vload16(j, xi), vload16(j, wb), a);
            vstore16(a - vload16(i, yb), i, rb);
        }
    }
}

kernel void dln_gradient_v16(const int n, const int d, const REAL scale,
                             global const REAL* restrict X, global const int* restrict block_ds,
                             global const long* restrict block_xi, global const REAL* restrict XI,
                             global const REAL* restrict r, global REAL* restrict g,
                             global const int* restrict skip) {
    const int blk = get_global_id(0);
    const int j0 = get_global_id(1) * 4;
    if (j0 >= d || skip[blk]) return;
    global const REAL* rb = r + (size_t)blk * (size_t)n * LANES;
    global REAL* gb = g + (size_t)blk * (size_t)d * LANES;
    const int s = block_ds[blk];
    if (s >= 0 && j0 + 4 <= d) {
        REAL16 a0, a1, a2, a3;
        dln_gradient_cols4(n, d, X + (size_t)s * (size_t)n * (size_t)d + j0, rb, &a0, &a1, &a2, &a3);
        vstore16(a0 * scale, j0, gb);
        vstore16(a1 * scale, j0 + 1, gb);
        vstore16(a2 * scale, j0 + 2, gb);
        vstore16(a3 * scale, j0 + 3, gb);
    } else {
        const int j1 = min(j0 + 4, d);
        for (int j = j0; j < j1; j++) {
            REAL16 a = (REAL16)(0);
            if (s >= 0) {
                a = dln_gradient_col(n, d, X + (size_t)s * (size_t)n * (size_t)d, j, rb);
            } else {
                global const REAL* xb = XI + block_xi[blk] + (size_t)j * LANES;
                for (int i = 0; i < n; i++) a = fma(vload16((size_t)i * d, xb), vload16(i, rb), a);
            }
            vstore16(a * scale, j, gb);
        }
    }
}

/* Pairs of neighbouring blocks that share one data set (pairs[p] = the first block; the single-block kernels
 * skip both): four rows (residual) or four coordinates (gradient) × 32 replicas per work-item, twice the
 * independent fma chains per load of X. Same sums in the same order per replica as above.
 * NDRange: residual (pairs, ceil(n/4)), gradient (pairs, ceil(d/4)); local (1, 1). */
kernel void dln_residual_v16p(const int n, const int d, global const REAL* restrict X, global const REAL* restrict Y,
                              global const int* restrict block_ds, global const int* restrict pairs,
                              global const REAL* restrict w, global REAL* restrict r) {
    const int blk = pairs[get_global_id(0)];
    const int i0 = get_global_id(1) * 4;
    if (i0 >= n) return;
    global const REAL* wa = w + (size_t)blk * (size_t)d * LANES;
    global const REAL* wb = wa + (size_t)d * LANES;
    global REAL* ra = r + (size_t)blk * (size_t)n * LANES;
    global REAL* rb = ra + (size_t)n * LANES;
    const size_t s = (size_t)block_ds[blk];
    global const REAL* xs = X + s * (size_t)n * (size_t)d;
    global const REAL* ys = Y + s * (size_t)n;
    if (i0 + 4 <= n) {
        global const REAL* x0 = xs + (size_t)i0 * d;
        global const REAL* x1 = x0 + d;
        global const REAL* x2 = x1 + d;
        global const REAL* x3 = x2 + d;
        REAL16 a0 = (REAL16)(0), a1 = (REAL16)(0), a2 = (REAL16)(0), a3 = (REAL16)(0);
        REAL16 c0 = (REAL16)(0), c1 = (REAL16)(0), c2 = (REAL16)(0), c3 = (REAL16)(0);
        for (int j = 0; j < d; j++) {
            const REAL16 wj = vload16(j, wa), vj = vload16(j, wb);
            const REAL16 e0 = (REAL16)(x0[j]), e1 = (REAL16)(x1[j]), e2 = (REAL16)(x2[j]), e3 = (REAL16)(x3[j]);
            a0 = fma(e0, wj, a0); c0 = fma(e0, vj, c0);
            a1 = fma(e1, wj, a1); c1 = fma(e1, vj, c1);
            a2 = fma(e2, wj, a2); c2 = fma(e2, vj, c2);
            a3 = fma(e3, wj, a3); c3 = fma(e3, vj, c3);
        }
        vstore16(a0 - (REAL16)(ys[i0]), i0, ra); vstore16(c0 - (REAL16)(ys[i0]), i0, rb);
        vstore16(a1 - (REAL16)(ys[i0 + 1]), i0 + 1, ra); vstore16(c1 - (REAL16)(ys[i0 + 1]), i0 + 1, rb);
        vstore16(a2 - (REAL16)(ys[i0 + 2]), i0 + 2, ra); vstore16(c2 - (REAL16)(ys[i0 + 2]), i0 + 2, rb);
        vstore16(a3 - (REAL16)(ys[i0 + 3]), i0 + 3, ra); vstore16(c3 - (REAL16)(ys[i0 + 3]), i0 + 3, rb);
    } else {
        for (int i = i0; i < n; i++) {
            global const REAL* xi = xs + (size_t)i * d;
            REAL16 a = (REAL16)(0), c = (REAL16)(0);
            for (int j = 0; j < d; j++) {
                const REAL16 e = (REAL16)(xi[j]);
                a = fma(e, vload16(j, wa), a);
                c = fma(e, vload16(j, wb), c);
            }
            vstore16(a - (REAL16)(ys[i]), i, ra);
            vstore16(c - (REAL16)(ys[i]), i, rb);
        }
    }
}

kernel void dln_gradient_v16p(const int n, const int d, const REAL scale, global const REAL* restrict X,
                              global const int* restrict block_ds, global const int* restrict pairs,
                              global const REAL* restrict r, global REAL* restrict g) {
    const int blk = pairs[get_global_id(0)];
    const int j0 = get_global_id(1) * 4;
    if (j0 >= d) return;
    global const REAL* ra = r + (size_t)blk * (size_t)n * LANES;
    global const REAL* rb = ra + (size_t)n * LANES;
    global REAL* ga = g + (size_t)blk * (size_t)d * LANES;
    global REAL* gb = ga + (size_t)d * LANES;
    const size_t s = (size_t)block_ds[blk];
    if (j0 + 4 <= d) {
        global const REAL* xs = X + s * (size_t)n * (size_t)d + j0;
        REAL16 a0 = (REAL16)(0), a1 = (REAL16)(0), a2 = (REAL16)(0), a3 = (REAL16)(0);
        REAL16 c0 = (REAL16)(0), c1 = (REAL16)(0), c2 = (REAL16)(0), c3 = (REAL16)(0);
        for (int i = 0; i < n; i++) {
            const REAL16 ri = vload16(i, ra), qi = vload16(i, rb);
            global const REAL* xi = xs + (size_t)i * d;
            const REAL16 e0 = (REAL16)(xi[0]), e1 = (REAL16)(xi[1]), e2 = (REAL16)(xi[2]), e3 = (REAL16)(xi[3]);
            a0 = fma(e0, ri, a0); c0 = fma(e0, qi, c0);
            a1 = fma(e1, ri, a1); c1 = fma(e1, qi, c1);
            a2 = fma(e2, ri, a2); c2 = fma(e2, qi, c2);
            a3 = fma(e3, ri, a3); c3 = fma(e3, qi, c3);
        }
        vstore16(a0 * scale, j0, ga); vstore16(c0 * scale, j0, gb);
        vstore16(a1 * scale, j0 + 1, ga); vstore16(c1 * scale, j0 + 1, gb);
        vstore16(a2 * scale, j0 + 2, ga); vstore16(c2 * scale, j0 + 2, gb);
        vstore16(a3 * scale, j0 + 3, ga); vstore16(c3 * scale, j0 + 3, gb);
    } else {
        for (int j = j0; j < d; j++) {
            global const REAL* xs = X + s * (size_t)n * (size_t)d + j;
            REAL16 a = (REAL16)(0), c = (REAL16)(0);
            for (int i = 0; i < n; i++) {
                const REAL16 e = (REAL16)(xs[(size_t)i * d]);
                a = fma(e, vload16(i, ra), a);
                c = fma(e, vload16(i, rb), c);
            }
            vstore16(a * scale, j, ga);
            vstore16(c * scale, j, gb);
        }
    }
}

/* Blocks whose lanes use different data sets (lane-interleaved data): the residual and the gradient in one pass
 * over the rows, as the CPU engine's fused pass. Row i (16 lanes × d) is read once: r_i = (fma-sum over
 * ascending j of X[i][j]·w[j]) − y[i], then g[j] += X[i][j]·r_i for every j while the row sits in cache; at the
 * end g ← g·scale. Same sums in the same order per replica as the two kernels above.
 * NDRange: (mixed blocks), local (1); mixed[k] = the block. */
kernel void dln_products_v16_fused(const int n, const int d, const REAL scale, global const int* restrict mixed,
                                   global const long* restrict block_xi, global const REAL* restrict XI,
                                   global const REAL* restrict w, global REAL* restrict r, global REAL* restrict g) {
    const int blk = mixed[get_global_id(0)];
    global const REAL* xb = XI + block_xi[blk];
    global const REAL* yb = xb + (size_t)n * (size_t)d * LANES;
    global const REAL* wb = w + (size_t)blk * (size_t)d * LANES;
    global REAL* rb = r + (size_t)blk * (size_t)n * LANES;
    global REAL* gb = g + (size_t)blk * (size_t)d * LANES;
    for (int j = 0; j < d; j++) vstore16((REAL16)(0), j, gb);
    for (int i = 0; i < n; i++) {
        global const REAL* xi = xb + (size_t)i * (size_t)d * LANES;
        REAL16 a = (REAL16)(0);
        for (int j = 0; j < d; j++) a = fma(vload16(j, xi), vload16(j, wb), a);
        const REAL16 ri = a - vload16(i, yb);
        vstore16(ri, i, rb);
        for (int j = 0; j < d; j++) vstore16(fma(vload16(j, xi), ri, vload16(j, gb)), j, gb);
    }
    for (int j = 0; j < d; j++) vstore16(vload16(j, gb) * scale, j, gb);
}
