/* matrix_v16.cl: the products of Kernels/matrix.cl for CPU devices, in REAL16 vectors: one work-item per block of
 * 16 replicas and strip of TR output rows, register tiles of TR×TC outputs (float: 5×5; double: 2×4), as the CPU
 * engine runs them (Sources/DLNModel/Matrix/MatrixDots.swift, its twin tile for tile). PoCL vectorises the lanes;
 * the tiles keep TR + TC loads per TR·TC fmas (the scalar kernels load two values per fma).
 *
 * mx16_dots: out(r, c) = start(r, c) + Σ_{k<K} A(r, k)·B(c, k), k ascending, one fma per term, for r < R, c < C:
 * every output is the fma chain of matrix.cl's kernels, whichever tile computes it, so the bits are the same.
 * Vectors are counted per block: block blk's vector v of a buffer with m vectors per block (IDX layout, common.cl)
 * is at (blk·m + v)·16. A(r, k) is vector a_off + r·ar + k·ak of A's block, whose first vector is blk·a_block, or
 * a_table[blk] when a_block < 0 (the data sets, spread over the 16 lanes by the host); B likewise.
 * Output (r, c) is vector e = o_off + r·rs + c·cs of its block: start = 0, or part[e] (blocks of p_block
 * vectors, o_off not added) when resume ≠ 0; kind 0: out[e] = s; kind 1 (mx_update): out[e] ← w − η·(s + λ·w),
 * w = out[e]; kind 2 (mx_update with write_f): f[e] = s + λ·out[e]. η, λ: per replica, padded to whole blocks.
 * The host calls it for the forward chain (A = h_{l−1} or X, B = W_l), back-propagation (A = δ_l, B(j, i) =
 * W_l[i][j]) and each chunk of samples of a layer gradient (A(i, μ) = δ_l[μ][i], B(j, μ) = h_{l−1}[μ][j]).
 * NDRange (⌈R/TR⌉, blocks), local (1, 1): strips of one block are neighbours, so they share its operands in cache.
 * Knobs: REAL, REAL16, DLN_FP64 (selects the 2×4 tiles).
 */
#pragma OPENCL FP_CONTRACT OFF
#ifndef REAL16
#define REAL16 float16
#endif
#ifdef DLN_FP64
#define TR 2
#define TC 4
#else
#define TR 5
#define TC 5
#endif

/* Where a tile's outputs go (see above), in the block's own vectors. */
typedef struct {
    global REAL* out;
    global const REAL* part;
    global REAL* f;
    int rs, cs, kind, resume;
    REAL16 eta, lambda;
} mx16_out;

inline REAL16 mx16_start(const mx16_out o, const int r, const int c) {
    return o.resume ? vload16(r * o.rs + c * o.cs, o.part) : (REAL16)(0);
}

inline void mx16_store(const mx16_out o, const int r, const int c, const REAL16 s) {
    const int e = r * o.rs + c * o.cs;
    if (o.kind == 0) {
        vstore16(s, e, o.out);
    } else if (o.kind == 1) {
        const REAL16 w = vload16(e, o.out);
        vstore16(w - o.eta * (s + o.lambda * w), e, o.out);
    } else {
        vstore16(s + o.lambda * vload16(e, o.out), e, o.f);
    }
}

#define MX_START(i, j) REAL16 s##i##j = mx16_start(o, r + i, c + j)
#define MX_X(i) const REAL16 x##i = vload16(k * ak + i * ar, a)
#define MX_Y(j) const REAL16 y##j = vload16(k * bk + j * br, b)
#define MX_FMA(i, j) s##i##j = fma(x##i, y##j, s##i##j)
#define MX_STORE(i, j) mx16_store(o, r + i, c + j, s##i##j)

inline void mx16_tile5x5(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0); MX_START(0, 1); MX_START(0, 2); MX_START(0, 3); MX_START(0, 4);
    MX_START(1, 0); MX_START(1, 1); MX_START(1, 2); MX_START(1, 3); MX_START(1, 4);
    MX_START(2, 0); MX_START(2, 1); MX_START(2, 2); MX_START(2, 3); MX_START(2, 4);
    MX_START(3, 0); MX_START(3, 1); MX_START(3, 2); MX_START(3, 3); MX_START(3, 4);
    MX_START(4, 0); MX_START(4, 1); MX_START(4, 2); MX_START(4, 3); MX_START(4, 4);
    for (int k = 0; k < K; k++) {
        MX_Y(0); MX_Y(1); MX_Y(2); MX_Y(3); MX_Y(4);
        MX_X(0); MX_FMA(0, 0); MX_FMA(0, 1); MX_FMA(0, 2); MX_FMA(0, 3); MX_FMA(0, 4);
        MX_X(1); MX_FMA(1, 0); MX_FMA(1, 1); MX_FMA(1, 2); MX_FMA(1, 3); MX_FMA(1, 4);
        MX_X(2); MX_FMA(2, 0); MX_FMA(2, 1); MX_FMA(2, 2); MX_FMA(2, 3); MX_FMA(2, 4);
        MX_X(3); MX_FMA(3, 0); MX_FMA(3, 1); MX_FMA(3, 2); MX_FMA(3, 3); MX_FMA(3, 4);
        MX_X(4); MX_FMA(4, 0); MX_FMA(4, 1); MX_FMA(4, 2); MX_FMA(4, 3); MX_FMA(4, 4);
    }
    MX_STORE(0, 0); MX_STORE(0, 1); MX_STORE(0, 2); MX_STORE(0, 3); MX_STORE(0, 4);
    MX_STORE(1, 0); MX_STORE(1, 1); MX_STORE(1, 2); MX_STORE(1, 3); MX_STORE(1, 4);
    MX_STORE(2, 0); MX_STORE(2, 1); MX_STORE(2, 2); MX_STORE(2, 3); MX_STORE(2, 4);
    MX_STORE(3, 0); MX_STORE(3, 1); MX_STORE(3, 2); MX_STORE(3, 3); MX_STORE(3, 4);
    MX_STORE(4, 0); MX_STORE(4, 1); MX_STORE(4, 2); MX_STORE(4, 3); MX_STORE(4, 4);
}

inline void mx16_tile5x1(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0);
    MX_START(1, 0);
    MX_START(2, 0);
    MX_START(3, 0);
    MX_START(4, 0);
    for (int k = 0; k < K; k++) {
        MX_Y(0);
        MX_X(0); MX_FMA(0, 0);
        MX_X(1); MX_FMA(1, 0);
        MX_X(2); MX_FMA(2, 0);
        MX_X(3); MX_FMA(3, 0);
        MX_X(4); MX_FMA(4, 0);
    }
    MX_STORE(0, 0);
    MX_STORE(1, 0);
    MX_STORE(2, 0);
    MX_STORE(3, 0);
    MX_STORE(4, 0);
}

inline void mx16_tile1x5(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0); MX_START(0, 1); MX_START(0, 2); MX_START(0, 3); MX_START(0, 4);
    for (int k = 0; k < K; k++) {
        MX_Y(0); MX_Y(1); MX_Y(2); MX_Y(3); MX_Y(4);
        MX_X(0); MX_FMA(0, 0); MX_FMA(0, 1); MX_FMA(0, 2); MX_FMA(0, 3); MX_FMA(0, 4);
    }
    MX_STORE(0, 0); MX_STORE(0, 1); MX_STORE(0, 2); MX_STORE(0, 3); MX_STORE(0, 4);
}

inline void mx16_tile2x4(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0); MX_START(0, 1); MX_START(0, 2); MX_START(0, 3);
    MX_START(1, 0); MX_START(1, 1); MX_START(1, 2); MX_START(1, 3);
    for (int k = 0; k < K; k++) {
        MX_Y(0); MX_Y(1); MX_Y(2); MX_Y(3);
        MX_X(0); MX_FMA(0, 0); MX_FMA(0, 1); MX_FMA(0, 2); MX_FMA(0, 3);
        MX_X(1); MX_FMA(1, 0); MX_FMA(1, 1); MX_FMA(1, 2); MX_FMA(1, 3);
    }
    MX_STORE(0, 0); MX_STORE(0, 1); MX_STORE(0, 2); MX_STORE(0, 3);
    MX_STORE(1, 0); MX_STORE(1, 1); MX_STORE(1, 2); MX_STORE(1, 3);
}

inline void mx16_tile2x1(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0);
    MX_START(1, 0);
    for (int k = 0; k < K; k++) {
        MX_Y(0);
        MX_X(0); MX_FMA(0, 0);
        MX_X(1); MX_FMA(1, 0);
    }
    MX_STORE(0, 0);
    MX_STORE(1, 0);
}

inline void mx16_tile1x4(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0); MX_START(0, 1); MX_START(0, 2); MX_START(0, 3);
    for (int k = 0; k < K; k++) {
        MX_Y(0); MX_Y(1); MX_Y(2); MX_Y(3);
        MX_X(0); MX_FMA(0, 0); MX_FMA(0, 1); MX_FMA(0, 2); MX_FMA(0, 3);
    }
    MX_STORE(0, 0); MX_STORE(0, 1); MX_STORE(0, 2); MX_STORE(0, 3);
}

inline void mx16_tile1x1(const int K, global const REAL* a, const int ar, const int ak, global const REAL* b,
                         const int br, const int bk, const mx16_out o, const int r, const int c) {
    MX_START(0, 0);
    for (int k = 0; k < K; k++) {
        MX_Y(0);
        MX_X(0); MX_FMA(0, 0);
    }
    MX_STORE(0, 0);
}

#ifdef DLN_FP64
#define MX_TILE mx16_tile2x4
#define MX_TILE_COLUMN mx16_tile2x1
#define MX_TILE_ROW mx16_tile1x4
#else
#define MX_TILE mx16_tile5x5
#define MX_TILE_COLUMN mx16_tile5x1
#define MX_TILE_ROW mx16_tile1x5
#endif

kernel void mx16_dots(const int R, const int C, const int K,
                      global const REAL* restrict A, const long a_block, global const long* restrict a_table,
                      const long a_off, const int ar, const int ak,
                      global const REAL* restrict B, const long b_block, global const long* restrict b_table,
                      const long b_off, const int br, const int bk,
                      global REAL* out, const long o_block, const long o_off, const int rs, const int cs,
                      const int kind, global const REAL* part, const long p_block, const int resume,
                      global const REAL* restrict eta, global const REAL* restrict lambda, global REAL* f) {
    const int r = get_global_id(0) * TR;
    const int blk = get_global_id(1);
    if (r >= R) return;
    global const REAL* a = A + ((a_block >= 0 ? blk * a_block : a_table[blk]) + a_off) * LANES;
    global const REAL* b = B + ((b_block >= 0 ? blk * b_block : b_table[blk]) + b_off) * LANES;
    mx16_out o;
    o.out = out + (blk * o_block + o_off) * LANES;
    o.f = f + (blk * o_block + o_off) * LANES;
    o.part = part + blk * p_block * LANES;
    o.rs = rs;
    o.cs = cs;
    o.kind = kind;
    o.resume = resume;
    o.eta = vload16(blk, eta);
    o.lambda = vload16(blk, lambda);
    global const REAL* ra = a + (size_t)r * ar * LANES;
    if (r + TR <= R) {
        int c = 0;
        for (; c + TC <= C; c += TC) MX_TILE(K, ra, ar, ak, b + (size_t)c * br * LANES, br, bk, o, r, c);
        for (; c < C; c++) MX_TILE_COLUMN(K, ra, ar, ak, b + (size_t)c * br * LANES, br, bk, o, r, c);
    } else {
        for (int rr = r; rr < R; rr++) {
            global const REAL* rowa = a + (size_t)rr * ar * LANES;
            int c = 0;
            for (; c + TC <= C; c += TC) MX_TILE_ROW(K, rowa, ar, ak, b + (size_t)c * br * LANES, br, bk, o, rr, c);
            for (; c < C; c++) mx16_tile1x1(K, rowa, ar, ak, b + (size_t)c * br * LANES, br, bk, o, rr, c);
        }
    }
}
