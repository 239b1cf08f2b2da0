/* replica_v16.cl: independent data (every replica its own data set), one replica per work-item running many steps
 * while its own data stay in the core's cache: the CPU-device shape of regime I (PoCL), instead of blocks of 16
 * replicas streaming their lane-interleaved data at every step.
 *
 * Same sums in the same order as the block kernels (products_v16.cl) and the CPU engine, so the same bits:
 *   r_i = (fma-sum over ascending j of X_ij·w_j) − y_i, 16 rows i per REAL16 vector (one chain per lane);
 *   g_j = (fma-sum over ascending i of X_ij·r_i)·scale, 16 coordinates j per REAL16 vector;
 *   the family's update (dln_family_update, dln_family_weight) coordinate by coordinate, η = eta[b]·factors[k].
 * The update of coordinate j needs only g_j, so it follows each strip of g at once (g is never stored).
 *
 * The copies (built on the host once per data set, 2·n16·d16 + n16 elements each, at copy_at[b] for replica b; zero
 * padded; n16, d16: n, d rounded up to multiples of 16):
 *   Xᵀ in strips over the rows i:        strip (c, m): d rows of m elements at c·d, element (j, i) at c·d + j·m + i − c;
 *   X in strips over the coordinates j:  at n16·d16, strip (c, m): n rows of m at c·n, element (i, j) at c·n + i·m + j − c;
 *   y at 2·n16·d16.
 * In the Gram form (`gram` = 1; g = Σw − c with Σ = scale·XᵀX, c = scale·Xᵀy, so `scale` is 1): Σᵀ in strips over the
 * rows (d rows of d16), c at d·d16 (d16 elements).
 * Strips: 128 wide while they last, then 64, then 16 (dln_strip_width; CPU: stripWidths, Sources/DLNVector).
 * Scratch per work-item (global, at `scratch` + b·((DEPTH + 1)·d16 + max(n16, d16))): the layers (DEPTH rows of d16),
 * w (d16), r (n16) or the Gram form's g (d16). The state is gathered from the replica-interleaved layout at the start of a launch and written back at
 * its end.
 * NDRange: (replicas), local (1). Twin: CPUBatch.replicaSteps (Sources/DLNModel/CPU/ReplicaSteps.swift).
 */

/* The width of the strip that starts at column c of `total` (a multiple of 16). */
inline int dln_strip_width(const int c, const int total) {
    const int w128 = total / 128 * 128;
    if (c < w128) return 128;
    const int w64 = w128 + (total - w128) / 64 * 64;
    return c < w64 ? 64 : 16;
}

/* The update of the 16 coordinates c..c+15 (those below d) from their gradient sums acc. */
inline void dln_replica_update16(const REAL16 acc, const int c, const int d, const int d16, const REAL scale,
                                 const REAL e, const REAL l, global REAL* restrict lt, global REAL* restrict wt) {
    REAL gs[16];
    vstore16(acc * scale, 0, gs);
    const int top = min(16, d - c);
    for (int q = 0; q < top; q++) {
        const int j = c + q;
        REAL u[DEPTH];
        for (int k = 0; k < DEPTH; k++) u[k] = lt[k * d16 + j];
        dln_family_update(u, e, l, gs[q]);
        for (int k = 0; k < DEPTH; k++) lt[k * d16 + j] = u[k];
        wt[j] = dln_family_weight(u);
    }
}

/* What becomes of the sums acc of the 16 columns from `col` (`mode`): 0, out = acc − t (the residual, or the Gram
 * form's g = Σw − c); 1, the update with g = acc (the products' gradient: the update needs only r, read before). */
inline void dln_strip_out(REAL16 acc, const int col, const int mode, global const REAL* restrict t,
                          global REAL* restrict out, const int d, const int d16, const REAL scale, const REAL e,
                          const REAL l, global REAL* restrict lt, global REAL* restrict wt) {
    if (mode == 0) {
        vstore16(acc - vload16(0, t + col), 0, out + col);
    } else {
        dln_replica_update16(acc, col, d, d16, scale, e, l, lt, wt);
    }
}

#define DLN_STRIP_OUT(acc, col) dln_strip_out(acc, col, mode, t, out, d, d16, scale, e, l, lt, wt)

/* Sums over A in strips (`rows` rows, `columns` columns): acc_col = fma-sum over ascending k of A_k,col·v_k, 16
 * columns per vector and up to eight vectors at a time, each handed to dln_strip_out. */
inline void dln_strips(global const REAL* restrict a, const int rows, const int columns,
                       global const REAL* restrict v, const int mode, global const REAL* restrict t,
                       global REAL* restrict out, const int d, const int d16, const REAL scale, const REAL e,
                       const REAL l, global REAL* restrict lt, global REAL* restrict wt) {
    for (int c = 0; c < columns;) {
        const int m = dln_strip_width(c, columns);
        global const REAL* row = a + (size_t)c * rows;
        if (m == 128) {
            REAL16 a0 = (REAL16)(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int k = 0; k < rows; k++, row += 128) {
                const REAL16 vk = (REAL16)(v[k]);
                a0 = fma(vload16(0, row), vk, a0);
                a1 = fma(vload16(1, row), vk, a1);
                a2 = fma(vload16(2, row), vk, a2);
                a3 = fma(vload16(3, row), vk, a3);
                a4 = fma(vload16(4, row), vk, a4);
                a5 = fma(vload16(5, row), vk, a5);
                a6 = fma(vload16(6, row), vk, a6);
                a7 = fma(vload16(7, row), vk, a7);
            }
            DLN_STRIP_OUT(a0, c);
            DLN_STRIP_OUT(a1, c + 16);
            DLN_STRIP_OUT(a2, c + 32);
            DLN_STRIP_OUT(a3, c + 48);
            DLN_STRIP_OUT(a4, c + 64);
            DLN_STRIP_OUT(a5, c + 80);
            DLN_STRIP_OUT(a6, c + 96);
            DLN_STRIP_OUT(a7, c + 112);
        } else if (m == 64) {
            REAL16 a0 = (REAL16)(0), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k < rows; k++, row += 64) {
                const REAL16 vk = (REAL16)(v[k]);
                a0 = fma(vload16(0, row), vk, a0);
                a1 = fma(vload16(1, row), vk, a1);
                a2 = fma(vload16(2, row), vk, a2);
                a3 = fma(vload16(3, row), vk, a3);
            }
            DLN_STRIP_OUT(a0, c);
            DLN_STRIP_OUT(a1, c + 16);
            DLN_STRIP_OUT(a2, c + 32);
            DLN_STRIP_OUT(a3, c + 48);
        } else {
            REAL16 a0 = (REAL16)(0);
            for (int k = 0; k < rows; k++, row += 16) a0 = fma(vload16(0, row), (REAL16)(v[k]), a0);
            DLN_STRIP_OUT(a0, c);
        }
        c += m;
    }
}

/* Replica b's layers and w from the replica-interleaved layout into its scratch (DEPTH rows of d16, then w; zero past
 * d), and back at the end of a launch. */
inline void dln_replica_gather(const int b, const int d, const int d16, const long stride,
                               global const REAL* restrict layers, global const REAL* restrict w,
                               global REAL* restrict lt, global REAL* restrict wt) {
    for (int j = 0; j < d16; j++) {
        const int live = j < d;
        for (int k = 0; k < DEPTH; k++) lt[k * d16 + j] = live ? layers[k * stride + IDX(b, j, d)] : (REAL)0;
        wt[j] = live ? w[IDX(b, j, d)] : (REAL)0;
    }
}

inline void dln_replica_scatter(const int b, const int d, const int d16, const long stride,
                                global const REAL* restrict lt, global const REAL* restrict wt,
                                global REAL* restrict layers, global REAL* restrict w) {
    for (int j = 0; j < d; j++) {
        for (int k = 0; k < DEPTH; k++) layers[k * stride + IDX(b, j, d)] = lt[k * d16 + j];
        w[IDX(b, j, d)] = wt[j];
    }
}

kernel void dln_replica_steps_v16(const int n, const int d, const int n16, const int d16, const long stride,
                                  const int steps, const REAL scale, const int gram,
                                  global const long* restrict copy_at, global const REAL* restrict copies,
                                  global const REAL* restrict eta, global const REAL* restrict factors,
                                  global const REAL* restrict lam, global REAL* restrict layers,
                                  global REAL* restrict w, global REAL* restrict scratch) {
    const int b = get_global_id(0);
    global REAL* lt = scratch + (size_t)b * (size_t)((DEPTH + 1) * d16 + max(n16, d16));
    global REAL* wt = lt + (size_t)DEPTH * d16;
    global REAL* rt = wt + d16;
    dln_replica_gather(b, d, d16, stride, layers, w, lt, wt);
    const REAL e0 = eta[b], l = lam[b];
    global const REAL* a = copies + copy_at[b];
    if (gram) {  /* Σᵀ (d rows of d16), then c: g = Σw − c into rt, then the update (g reads every w first) */
        global const REAL* cv = a + (size_t)d * (size_t)d16;
        for (int s = 0; s < steps; s++) {
            const REAL e = e0 * factors[s];
            dln_strips(a, d, d16, wt, 0, cv, rt, d, d16, scale, e, l, lt, wt);
            for (int c = 0; c < d; c += 16) dln_replica_update16(vload16(0, rt + c), c, d, d16, scale, e, l, lt, wt);
        }
    } else {  /* Xᵀ (d rows of n16), X (n rows of d16), y */
        global const REAL* xp = a + (size_t)n16 * (size_t)d16;
        global const REAL* yp = xp + (size_t)n16 * (size_t)d16;
        for (int s = 0; s < steps; s++) {
            const REAL e = e0 * factors[s];
            dln_strips(a, d, n16, wt, 0, yp, rt, d, d16, scale, e, l, lt, wt);
            dln_strips(xp, n, d16, rt, 1, yp, rt, d, d16, scale, e, l, lt, wt);
        }
    }
    dln_replica_scatter(b, d, d16, stride, lt, wt, layers, w);
}

/* dln_replica_strided_v16: the same work-item per replica in the strided summation order (the batch's `summation`),
 * from one copy of its data set (`StridedCopy`: X row-major, n rows of d16 padded by zeros, then y at n16·d16), read
 * once per step: four rows at a time, r_i = tree(p) − y_i with lane k of the REAL16 p the fma-sum over j ≡ k (mod 16)
 * ascending from 0, and tree(p) = (q0 + q2) + (q1 + q3), q_k = t_k + t_{k+4}, t_k = p_k + p_{k+8}; then, while
 * those rows sit in cache, g_j += X_ij·r_i (fma, ascending i from 0; g in the scratch), and after the last row the
 * update of every coordinate. Arguments as dln_replica_steps_v16 (`gram` unused: the strided order is the products
 * form's). Twin: Kernels.stridedProducts (Sources/DLNVector/Strided.swift) in CPUBatch.replicaSteps. */
#ifdef DLN_FP64
#define DLN_REAL8 double8
#define DLN_REAL4 double4
#else
#define DLN_REAL8 float8
#define DLN_REAL4 float4
#endif

inline REAL dln_tree16(const REAL16 p) {
    const DLN_REAL8 t = p.lo + p.hi;
    const DLN_REAL4 q = t.lo + t.hi;
    return (q.x + q.z) + (q.y + q.w);
}

kernel void dln_replica_strided_v16(const int n, const int d, const int n16, const int d16, const long stride,
                                    const int steps, const REAL scale, const int gram,
                                    global const long* restrict copy_at, global const REAL* restrict copies,
                                    global const REAL* restrict eta, global const REAL* restrict factors,
                                    global const REAL* restrict lam, global REAL* restrict layers,
                                    global REAL* restrict w, global REAL* restrict scratch) {
    const int b = get_global_id(0);
    global REAL* lt = scratch + (size_t)b * (size_t)((DEPTH + 1) * d16 + max(n16, d16));
    global REAL* wt = lt + (size_t)DEPTH * d16;
    global REAL* g = wt + d16;
    dln_replica_gather(b, d, d16, stride, layers, w, lt, wt);
    const REAL e0 = eta[b], l = lam[b];
    global const REAL* x = copies + copy_at[b];
    global const REAL* y = x + (size_t)n16 * (size_t)d16;
    for (int s = 0; s < steps; s++) {
        const REAL e = e0 * factors[s];
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            global const REAL* x0 = x + (size_t)i * (size_t)d16;
            global const REAL* x1 = x0 + d16;
            global const REAL* x2 = x1 + d16;
            global const REAL* x3 = x2 + d16;
            REAL16 a0 = (REAL16)(0), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < d16; j += 16) {
                const REAL16 wv = vload16(0, wt + j);
                a0 = fma(vload16(0, x0 + j), wv, a0);
                a1 = fma(vload16(0, x1 + j), wv, a1);
                a2 = fma(vload16(0, x2 + j), wv, a2);
                a3 = fma(vload16(0, x3 + j), wv, a3);
            }
            const REAL16 r0 = (REAL16)(dln_tree16(a0) - y[i]), r1 = (REAL16)(dln_tree16(a1) - y[i + 1]);
            const REAL16 r2 = (REAL16)(dln_tree16(a2) - y[i + 2]), r3 = (REAL16)(dln_tree16(a3) - y[i + 3]);
            for (int j = 0; j < d16; j += 16) {
                REAL16 acc = i == 0 ? (REAL16)(0) : vload16(0, g + j);
                acc = fma(vload16(0, x0 + j), r0, acc);
                acc = fma(vload16(0, x1 + j), r1, acc);
                acc = fma(vload16(0, x2 + j), r2, acc);
                acc = fma(vload16(0, x3 + j), r3, acc);
                vstore16(acc, 0, g + j);
            }
        }
        for (; i < n; i++) {
            global const REAL* x0 = x + (size_t)i * (size_t)d16;
            REAL16 a0 = (REAL16)(0);
            for (int j = 0; j < d16; j += 16) a0 = fma(vload16(0, x0 + j), vload16(0, wt + j), a0);
            const REAL16 r0 = (REAL16)(dln_tree16(a0) - y[i]);
            for (int j = 0; j < d16; j += 16)
                vstore16(fma(vload16(0, x0 + j), r0, i == 0 ? (REAL16)(0) : vload16(0, g + j)), 0, g + j);
        }
        for (int c = 0; c < d; c += 16) dln_replica_update16(vload16(0, g + c), c, d, d16, scale, e, l, lt, wt);
    }
    dln_replica_scatter(b, d, d16, stride, lt, wt, layers, w);
}

/* dln_block_steps_v16: shared data (every lane of a block uses one data set, block_ds[blk] ≥ 0) on CPU devices: one
 * work-item per block of 16 replicas runs up to 256 whole steps per launch while the block's w, r and layers stay in
 * its core's cache: the residual four rows at a time and the gradient four coordinates at a time in REAL16 (the helpers
 * of dln_residual_v16 and dln_gradient_v16 in products_v16.cl: the same sums in the same order), each coordinate updated as soon as its gradient is summed
 * (the update reads only r), per lane as dln_update with η = eta[b]·factors[k]; padding lanes (b ≥ B) are not updated.
 * Six rows and six coordinates at a time while they last (dln_residual_rows6 and the loop below), then four, then one;
 * with -D DLN_BLOCK_HALVES (float64 on AVX2 CPU devices) the sixes in two halves of eight lanes. The sixes read the
 * data set's panels (`panels` from `panel_at[s]`: ⌈n/6⌉ row panels of 6·d values, then ⌈d/6⌉ column panels of 6·n,
 * zero past the edge; the CPU engine's SharedPanels), the fours and ones X itself.
 * NDRange: (blocks), local (1). Twin: CPUBatch's step loop (products(block:), update(block:)).
 */
/* The update of lanes first … first + count − 1 of coordinate j from their scaled gradient sums gs[0 …]. */
inline void dln_block_update_lanes(const REAL* gs, const int first, const int count, const int j, const int blk,
                                   const int B, const int d, const long stride, const REAL* e, const REAL* l,
                                   global REAL* restrict layers, global REAL* restrict w) {
    for (int q = 0; q < count; q++) {
        const int lane = first + q;
        if (blk * LANES + lane >= B) break;
        dln_update_one((size_t)blk * (size_t)d * LANES + (size_t)j * LANES + lane, stride, e[lane], l[lane], gs[q],
                       layers, w);
    }
}

inline void dln_block_update(const REAL16 acc, const int j, const int blk, const int B, const int d, const long stride,
                             const REAL scale, const REAL* e, const REAL* l, global REAL* restrict layers,
                             global REAL* restrict w) {
    REAL gs[16];
    vstore16(acc * scale, 0, gs);
    dln_block_update_lanes(gs, 0, LANES, j, blk, B, d, stride, e, l, layers, w);
}

/* The six-row and six-coordinate passes run on BLK_VEC vectors of BLK_WIDTH lanes, BLK_PARTS parts per block:
 * REAL16 and one part, or, with -D DLN_BLOCK_HALVES in float64 (CPU devices without 16-wide vectors: AVX2), double8
 * and two halves of eight lanes, since six double16 accumulators take 24 AVX2 registers and spill (as the CPU
 * engine's panels). Each lane's sums are the same either way. BLK_AT(k, part): the vector index of element k·16 +
 * part·BLK_WIDTH. */
#if defined(DLN_BLOCK_HALVES) && defined(DLN_FP64)
#define BLK_VEC DLN_REAL8
#define BLK_WIDTH 8
#define BLK_PARTS 2
#define BLK_AT(k, part) (2 * (k) + (part))
#define BLK_LOAD vload8
#define BLK_STORE vstore8
#else
#define BLK_VEC REAL16
#define BLK_WIDTH 16
#define BLK_PARTS 1
#define BLK_AT(k, part) (k)
#define BLK_LOAD vload16
#define BLK_STORE vstore16
#endif

inline void dln_block_update_part(const BLK_VEC acc, const int j, const int part, const int blk, const int B,
                                  const int d, const long stride, const REAL scale, const REAL* e, const REAL* l,
                                  global REAL* restrict layers, global REAL* restrict w) {
    REAL gs[BLK_WIDTH];
    BLK_STORE(acc * scale, 0, gs);
    dln_block_update_lanes(gs, part * BLK_WIDTH, BLK_WIDTH, j, blk, B, d, stride, e, l, layers, w);
}

/* Six sums of `length` terms over one panel, lanes of `part`: a_c = Σ_k xp[6k + c]·v_k (fma in ascending k), v_k the
 * vector k of vb (w for the residual, r for the gradient). 12 AVX2 registers of accumulators (two per float16) against
 * 8 for four rows or coordinates; the panels (below) make xp one stream where X gave six. Twin: panelSums
 * (Sources/DLNVector/Panels.swift). */
inline void dln_panel_sums6(const int length, const int part, global const REAL* restrict xp,
                            global const REAL* restrict vb, BLK_VEC* a) {
    BLK_VEC a0 = (BLK_VEC)(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    for (int k = 0; k < length; k++) {
        const BLK_VEC vk = BLK_LOAD(BLK_AT(k, part), vb);
        global const REAL* x = xp + 6 * (size_t)k;
        a0 = fma((BLK_VEC)(x[0]), vk, a0);
        a1 = fma((BLK_VEC)(x[1]), vk, a1);
        a2 = fma((BLK_VEC)(x[2]), vk, a2);
        a3 = fma((BLK_VEC)(x[3]), vk, a3);
        a4 = fma((BLK_VEC)(x[4]), vk, a4);
        a5 = fma((BLK_VEC)(x[5]), vk, a5);
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
    a[4] = a4;
    a[5] = a5;
}

/* Six rows (residual) of a block with one data set, lanes of `part`. `xp`: the rows' panel (the data set's row panels,
 * rows i0 … i0 + 5 side by side, column by column: xp[6j + c] = X[i0 + c][j]). */
inline void dln_residual_rows6(const int d, const int i0, const int part, global const REAL* restrict xp,
                               global const REAL* restrict ys, global const REAL* restrict wb,
                               global REAL* restrict rb) {
    BLK_VEC a[6];
    dln_panel_sums6(d, part, xp, wb, a);
    for (int c = 0; c < 6; c++) BLK_STORE(a[c] - (BLK_VEC)(ys[i0 + c]), BLK_AT(i0 + c, part), rb);
}

/* Six coordinates' gradient sums over every row, lanes of `part`, each coordinate updated at once. `xp`: the
 * coordinates' panel (the data set's column panels, columns j0 … j0 + 5 side by side, row by row: xp[6i + c] =
 * X[i][j0 + c]). */
inline void dln_gradient_cols6(const int n, const int d, const int j0, const int part, global const REAL* restrict xp,
                               global const REAL* restrict rb, const int blk, const int B, const long stride,
                               const REAL scale, const REAL* e, const REAL* l, global REAL* restrict layers,
                               global REAL* restrict w) {
    BLK_VEC a[6];
    dln_panel_sums6(n, part, xp, rb, a);
    for (int c = 0; c < 6; c++) dln_block_update_part(a[c], j0 + c, part, blk, B, d, stride, scale, e, l, layers, w);
}

kernel void dln_block_steps_v16(const int B, const int n, const int d, const long stride, const int steps,
                                const REAL scale, global const REAL* restrict X, global const REAL* restrict Y,
                                global const int* restrict block_ds, global const REAL* restrict eta,
                                global const REAL* restrict factors, global const REAL* restrict lam,
                                global REAL* restrict layers, global REAL* restrict w, global REAL* restrict r,
                                global const REAL* restrict panels, global const long* restrict panel_at) {
    const int blk = get_global_id(0);
    const size_t s = (size_t)block_ds[blk];
    global const REAL* xs = X + s * (size_t)n * (size_t)d;
    global const REAL* row_panels = panels + panel_at[s];
    global const REAL* column_panels = row_panels + (size_t)((n + 5) / 6) * 6 * (size_t)d;
    global const REAL* ys = Y + s * (size_t)n;
    global REAL* wb = w + (size_t)blk * (size_t)d * LANES;
    global REAL* rb = r + (size_t)blk * (size_t)n * LANES;
    REAL e0[LANES], l[LANES], e[LANES];
    for (int q = 0; q < LANES; q++) {
        const int b = blk * LANES + q;
        e0[q] = b < B ? eta[b] : (REAL)0;
        l[q] = b < B ? lam[b] : (REAL)0;
    }
    for (int k = 0; k < steps; k++) {
        for (int q = 0; q < LANES; q++) e[q] = e0[q] * factors[k];
        int i0 = 0;
        for (; i0 + 6 <= n; i0 += 6) {
            global const REAL* xp = row_panels + (size_t)i0 * (size_t)d;
            for (int part = 0; part < BLK_PARTS; part++) dln_residual_rows6(d, i0, part, xp, ys, wb, rb);
        }
        for (; i0 < n; i0 += 4) dln_residual_rows4(n, d, i0, xs, ys, wb, rb);
        int j0 = 0;
        for (; j0 + 6 <= d; j0 += 6) {
            for (int part = 0; part < BLK_PARTS; part++) {
                dln_gradient_cols6(n, d, j0, part, column_panels + (size_t)j0 * (size_t)n, rb, blk, B, stride, scale,
                                   e, l, layers, w);
            }
        }
        for (; j0 + 4 <= d; j0 += 4) {
            REAL16 a0, a1, a2, a3;
            dln_gradient_cols4(n, d, xs + j0, rb, &a0, &a1, &a2, &a3);
            dln_block_update(a0, j0, blk, B, d, stride, scale, e, l, layers, w);
            dln_block_update(a1, j0 + 1, blk, B, d, stride, scale, e, l, layers, w);
            dln_block_update(a2, j0 + 2, blk, B, d, stride, scale, e, l, layers, w);
            dln_block_update(a3, j0 + 3, blk, B, d, stride, scale, e, l, layers, w);
        }
        for (int j = j0; j < d; j++) {
            dln_block_update(dln_gradient_col(n, d, xs, j, rb), j, blk, B, d, stride, scale, e, l, layers, w);
        }
    }
}
