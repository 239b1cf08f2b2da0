/* matrix_sgd.cl: mini-batch SGD of the matrix model (training.update: sgd). Twin:
 * Sources/DLNModel/Matrix/MatrixStochasticCPU.swift.
 *
 * stochastic.cl's dln_sgd_indices draws every replica's sorted rows idx[IDX(b, k, N)] of the step (N: the rows drawn
 * from, the samples n of a regression or the measurements m of matrix sensing; every replica draws count of them).
 * These kernels copy those rows of the replica's data set into a buffer of its own; the step's products then run
 * unchanged on them with n (or m) = count and ds[b] = b. Copies only: no arithmetic.
 *
 * mx_sgd_gather: dst[(b·count + k)·width + c] = src[(ds[b]·N + idx_k)·width + c], the kernels' row-major data layout.
 * mx16_sgd_gather: the vector16 shape's spread layout, dst[((b/16)·bstride + k·width + c)·16 + b%16]; a lane past
 * B copies row 0 of replica B − 1's data set (its results are never read).
 * NDRange (padded B, count·width rounded up to 8), local (16, 8).
 */

kernel void mx_sgd_gather(const int B, const int N, const int count, const int width, global const REAL* restrict src,
                          global const int* restrict ds, global const int* restrict idx, global REAL* restrict dst) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (b >= B || e >= count * width) return;
    const int k = e / width, c = e % width;
    const size_t i = (size_t)idx[IDX(b, k, N)];
    dst[((size_t)b * (size_t)count + (size_t)k) * (size_t)width + (size_t)c] =
        src[((size_t)ds[b] * (size_t)N + i) * (size_t)width + (size_t)c];
}

kernel void mx16_sgd_gather(const int B, const int N, const int count, const int width, const long bstride,
                            global const REAL* restrict src, global const int* restrict ds,
                            global const int* restrict idx, global REAL* restrict dst) {
    const int b = get_global_id(0);
    const int e = get_global_id(1);
    if (e >= count * width) return;
    const int k = e / width, c = e % width;
    const int live = b < B;
    const size_t s = (size_t)ds[live ? b : B - 1];
    const size_t i = live ? (size_t)idx[IDX(b, k, N)] : 0;
    dst[((size_t)(b / LANES) * (size_t)bstride + (size_t)e) * LANES + (size_t)(b % LANES)] =
        src[(s * (size_t)N + i) * (size_t)width + (size_t)c];
}
