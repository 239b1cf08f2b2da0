/* One replica's gradient step (r = Xw − y, g = Xᵀr, w −= ηg) from ONE copy of X, in the three ways
 * docs/performance.md ("What stands between these numbers and the targets", regime I) measures them. A stand-alone
 * prototype, not part of dlnsim: it tells whether a single copy per replica can reach the C baseline.
 *
 *   clang -O3 -mavx2 -mfma -ffp-contract=off replica-one-copy.c -o replica-one-copy
 *   ./replica-one-copy MODE [n d steps]        (default n = 250, d = 500, steps = 4000)
 *
 * MODE
 *   transposed   dlnsim's summation order (each r_i and g_j one fused-multiply-add chain in ascending index) from X
 *                in strips over the coordinates (the CPU engine's second copy), r through 8 × 8 in-register
 *                transposes, two row groups at a time; checked bit for bit against scalar fmaf chains.
 *   groups       the same order from X in groups of 8 rows, column-major within a group: r needs no transpose,
 *                g takes the 8 × 8 transposes; checked likewise.
 *   strided      a second order: r_i as 16 strided partial sums (each in ascending j) and a fixed pairwise tree,
 *                fused with g four rows at a time while the rows sit in L1 (g_j still ascending in i).
 * Prints steps/s of one replica on one core (the C baseline's fused step: dln_ref --regime I, OMP_NUM_THREADS=1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v4f __attribute__((ext_vector_type(4)));
#define FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#define SH __builtin_shufflevector
static inline v8f ld8(const float *p) { v8f v; memcpy(&v, p, 32); return v; }
static inline v4f ld4(const float *p) { v4f v; memcpy(&v, p, 16); return v; }
static inline void st8(float *p, v8f v) { memcpy(p, &v, 32); }
static inline v8f bc(float x) { return (v8f)x; }

/* The strips of the CPU engine's copies: 128 columns while they last, then 64, then 16. */
static int strips(int total, int *cs, int *ms) {
  int c = 0, k = 0, widths[3] = {128, 64, 16};
  for (int q = 0; q < 3; q++)
    while (c + widths[q] <= total) { cs[k] = c; ms[k] = widths[q]; k++; c += widths[q]; }
  return k;
}

/* Columns C[0..7] (8 rows each, rows 0-3 in the low half) of the 8 × 8 block at p, rows s apart. */
static inline void columns(const float *p, long s, v8f C[8]) {
  v8f R[4], Q[4];
  for (int k = 0; k < 4; k++) {
    R[k] = SH(ld4(p + k * s), ld4(p + (k + 4) * s), 0, 1, 2, 3, 4, 5, 6, 7);
    Q[k] = SH(ld4(p + k * s + 4), ld4(p + (k + 4) * s + 4), 0, 1, 2, 3, 4, 5, 6, 7);
  }
  for (int h = 0; h < 2; h++) {
    v8f *A = h ? Q : R;
    v8f t0 = SH(A[0], A[1], 0, 8, 1, 9, 4, 12, 5, 13), t1 = SH(A[0], A[1], 2, 10, 3, 11, 6, 14, 7, 15);
    v8f t2 = SH(A[2], A[3], 0, 8, 1, 9, 4, 12, 5, 13), t3 = SH(A[2], A[3], 2, 10, 3, 11, 6, 14, 7, 15);
    C[4 * h + 0] = SH(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    C[4 * h + 1] = SH(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    C[4 * h + 2] = SH(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    C[4 * h + 3] = SH(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  }
}

/* transposed: r for rows in groups of 8 (two groups at a time), g straight from the strips. */
static void step_transposed(const float *xp, int n, int d16, const float *w, const float *y, float *r, float *g) {
  int cs[64], ms[64], ns = strips(d16, cs, ms);
  for (int i = 0; i < n; i += 16) {
    int two = i + 8 < n;
    v8f a0 = 0, a1 = 0, C[8];
    for (int s = 0; s < ns; s++) {
      const float *b = xp + (long)cs[s] * n;
      int m = ms[s];
      for (int jb = 0; jb < m; jb += 8) {
        const float *p = b + (long)i * m + jb, *wq = w + cs[s] + jb;
        columns(p, m, C);
        for (int q = 0; q < 8; q++) a0 = FMA(C[q], bc(wq[q]), a0);
        if (two) {
          columns(p + 8L * m, m, C);
          for (int q = 0; q < 8; q++) a1 = FMA(C[q], bc(wq[q]), a1);
        }
      }
    }
    st8(r + i, a0 - ld8(y + i));
    if (two) st8(r + i + 8, a1 - ld8(y + i + 8));
  }
  for (int s = 0; s < ns; s++) {
    const float *b = xp + (long)cs[s] * n;
    int m = ms[s];
    for (int h = 0; h < m; h += 16) {
      v8f a0 = 0, a1 = 0;
      for (int i = 0; i < n; i++) {
        const float *p = b + (long)i * m + h;
        a0 = FMA(ld8(p), bc(r[i]), a0);
        a1 = FMA(ld8(p + 8), bc(r[i]), a1);
      }
      st8(g + cs[s] + h, a0);
      st8(g + cs[s] + h + 8, a1);
    }
  }
}

/* groups: (i, j) at (i/8)·8·d16 + 8j + i%8; r four groups at a time, g through the transposes. */
static void step_groups(const float *xg, int n8, int d, int d16, const float *w, const float *y, float *r, float *g) {
  int ng = n8 / 8, q = 0;
  long gs = 8L * d16;
  for (; q + 4 <= ng; q += 4) {
    const float *p = xg + q * gs;
    v8f a[4] = {0, 0, 0, 0};
    for (int j = 0; j < d; j++)
      for (int k = 0; k < 4; k++) a[k] = FMA(ld8(p + k * gs + 8 * j), bc(w[j]), a[k]);
    for (int k = 0; k < 4; k++) st8(r + 8 * (q + k), a[k] - ld8(y + 8 * (q + k)));
  }
  for (; q < ng; q++) {
    v8f a = 0;
    for (int j = 0; j < d; j++) a = FMA(ld8(xg + q * gs + 8 * j), bc(w[j]), a);
    st8(r + 8 * q, a - ld8(y + 8 * q));
  }
  for (int j = 0; j < d16; j += 8) {
    v8f acc = 0, C[8];
    for (int q2 = 0; q2 < ng; q2++) {
      columns(xg + q2 * gs + 8L * j, 8, C); /* C[k]: row 8·q2 + k, coordinates j … j + 7 */
      for (int k = 0; k < 8; k++) acc = FMA(C[k], bc(r[8 * q2 + k]), acc);
    }
    st8(g + j, acc);
  }
}

/* strided: r_i = tree of 16 strided partial sums; g += rows i … i+3 while they sit in L1. */
static inline float tree16(v8f a, v8f b) {
  v8f t = a + b;
  float u0 = t[0] + t[4], u1 = t[1] + t[5], u2 = t[2] + t[6], u3 = t[3] + t[7];
  return (u0 + u2) + (u1 + u3);
}
static void step_strided(const float *xp, int n, int d16, const float *w, const float *y, float *r, float *g) {
  int cs[64], ms[64], ns = strips(d16, cs, ms);
  for (int i = 0; i < n; i += 4) {
    int rows = n - i < 4 ? n - i : 4;
    v8f lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
    for (int s = 0; s < ns; s++) {
      const float *p = xp + (long)cs[s] * n + (long)i * ms[s];
      for (int jb = 0; jb < ms[s]; jb += 16) {
        v8f wl = ld8(w + cs[s] + jb), wh = ld8(w + cs[s] + jb + 8);
        for (int k = 0; k < rows; k++) {
          lo[k] = FMA(ld8(p + k * ms[s] + jb), wl, lo[k]);
          hi[k] = FMA(ld8(p + k * ms[s] + jb + 8), wh, hi[k]);
        }
      }
    }
    for (int k = 0; k < rows; k++) r[i + k] = tree16(lo[k], hi[k]) - y[i + k];
    for (int s = 0; s < ns; s++) {
      const float *p = xp + (long)cs[s] * n + (long)i * ms[s];
      for (int h = 0; h < ms[s]; h += 8) {
        v8f acc = i == 0 ? (v8f)0 : ld8(g + cs[s] + h);
        for (int k = 0; k < rows; k++) acc = FMA(ld8(p + k * ms[s] + h), bc(r[i + k]), acc);
        st8(g + cs[s] + h, acc);
      }
    }
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  int n = argc > 2 ? atoi(argv[2]) : 250, d = argc > 3 ? atoi(argv[3]) : 500, steps = argc > 4 ? atoi(argv[4]) : 4000;
  int kind = !strcmp(mode, "transposed") ? 0 : !strcmp(mode, "groups") ? 1 : !strcmp(mode, "strided") ? 2 : -1;
  if (kind < 0 || n < 1 || d < 1 || steps < 1) {
    fprintf(stderr, "usage: %s transposed|groups|strided [n d steps]\n", argv[0]);
    return 2;
  }
  int d16 = (d + 15) / 16 * 16, n16 = (n + 15) / 16 * 16;
  /* The strips hold n rows; a last row group of 8 may read up to 7 rows past them: pad. */
  float *X = malloc(4L * n * d), *xp = calloc((size_t)(n16 + 16) * d16, 4), *xg = calloc((size_t)n16 * d16, 4);
  float *y = calloc(n16, 4), *w = calloc(d16, 4), *r = calloc(n16, 4), *g = calloc(d16, 4), *rr = calloc(n16, 4);
  srand(1);
  for (long k = 0; k < (long)n * d; k++) X[k] = (rand() / (float)RAND_MAX - 0.5f) * 0.1f;
  for (int i = 0; i < n; i++) y[i] = rand() / (float)RAND_MAX;
  int cs[64], ms[64], ns = strips(d16, cs, ms);
  for (int s = 0; s < ns; s++)
    for (int i = 0; i < n; i++)
      for (int j = cs[s]; j < cs[s] + ms[s] && j < d; j++) xp[(long)cs[s] * n + (long)i * ms[s] + j - cs[s]] = X[(long)i * d + j];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) xg[(long)(i / 8) * 8 * d16 + j * 8 + i % 8] = X[(long)i * d + j];
  for (int j = 0; j < d; j++) w[j] = 0.01f * (j % 7);
#define STEP()                                                         \
  do {                                                                 \
    if (kind == 0) step_transposed(xp, n, d16, w, y, r, g);            \
    else if (kind == 1) step_groups(xg, (n + 7) / 8 * 8, d, d16, w, y, r, g); \
    else step_strided(xp, n, d16, w, y, r, g);                         \
  } while (0)
  STEP();
  if (kind < 2) { /* dlnsim's order: one fmaf chain per r_i and per g_j, ascending */
    long bad = 0;
    for (int i = 0; i < n; i++) {
      float a = 0;
      for (int j = 0; j < d; j++) a = __builtin_fmaf(X[(long)i * d + j], w[j], a);
      rr[i] = a - y[i];
      bad += rr[i] != r[i];
    }
    for (int j = 0; j < d; j++) {
      float a = 0;
      for (int i = 0; i < n; i++) a = __builtin_fmaf(X[(long)i * d + j], rr[i], a);
      bad += a != g[j];
    }
    printf("%s: %ld of %d sums differ from the ascending-order fmaf chains\n", mode, bad, n + d);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int s = 0; s < steps; s++) {
    STEP();
    for (int j = 0; j < d; j++) w[j] -= 1e-3f * g[j];
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("%s: n = %d, d = %d: %.0f steps/s on one core (%.1f us/step)\n", mode, n, d, steps / sec, 1e6 * sec / steps);
  return 0;
}
