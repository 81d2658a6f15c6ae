// A probe, not part of advd: would a packed GEMM of advd's own, with an AVX-512 micro-kernel, beat
// OpenBLAS on the MLPs' products? It times a plain Goto-style GEMM (row-major C[m×n] += A[m×k]·B[k×n]:
// B packed in panels of NR = 16·NV columns, A in panels of MR rows, KC-deep blocks, MC-row blocks, an
// MR × NR register tile) against cblas_sgemm on one thread, best of five 0.1 s runs per shape, and
// checks the two agree. With `kernel-only` it skips the packing after the first call (the kernel's
// speed alone, on stale panels: the results are then wrong, the error column meaningless). With
// `weights-packed` it packs B (the weights, k × n: a layer's W stored transposed) once, whole, before
// timing, and A (the activations) on every call, as a GEMM of advd's own could do over an attack's
// steps or an evaluation, where the weights do not change between calls; the results stay right.
//
//   clang -O3 -DMR=12 -DNV=2 -DKC=256 -DMC=96 bench/packed_gemm_probe.c -o /tmp/probe -lopenblas -lm
//   /tmp/probe; /tmp/probe kernel-only; /tmp/probe weights-packed
//
// OpenBLAS picks its own kernel unless OPENBLAS_CORETYPE names one, and on some CPUs that is not the
// kernel advd runs (on the Zen 4 VM OpenBLAS picks Cooperlake, advd Haswell): set OPENBLAS_CORETYPE to
// the kernel `advbench` reports. The first line names the kernel timed.
//
// What it measured is in docs/speed-history.md ("A packed GEMM of our own, probed", and "The MLPs'
// GEMMs: blocks, orientation and bits, probed").
#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#ifndef MR
#define MR 12
#endif
#ifndef NV
#define NV 2
#endif
#define NR (16 * NV)
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 96
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// B (k×n, row stride ldb) rows [p, p+kc) → panels of NR columns: out[panel][kk][0..NR)
static void pack_b(const float *b, long ldb, long kc, long n, float *out) {
    for (long j = 0; j < n; j += NR) {
        long w = n - j < NR ? n - j : NR;
        for (long kk = 0; kk < kc; kk++) {
            const float *src = b + kk * ldb + j;
            if (w == NR) memcpy(out, src, NR * sizeof(float));
            else { for (long c = 0; c < NR; c++) out[c] = c < w ? src[c] : 0; }
            out += NR;
        }
    }
}
// A (m×k, row stride lda) → panels of MR rows: out[panel][kk][0..MR)
static void pack_a(const float *a, long lda, long mc, long kc, float *out) {
    for (long i = 0; i < mc; i += MR) {
        long h = mc - i < MR ? mc - i : MR;
        for (long kk = 0; kk < kc; kk++) {
            for (long r = 0; r < MR; r++) out[r] = r < h ? a[(i + r) * lda + kk] : 0;
            out += MR;
        }
    }
}

__attribute__((target("avx512f"))) static void kernel(long kc, const float *ap, const float *bp, float *c, long ldc,
                                                       long h, long w) {
    __m512 acc[MR][NV];
    for (int r = 0; r < MR; r++) for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (long kk = 0; kk < kc; kk++) {
        __m512 bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(bp + v * 16);
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ap[r]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
        ap += MR; bp += NR;
    }
    if (h == MR && w == NR) {
        for (int r = 0; r < MR; r++) for (int v = 0; v < NV; v++) {
            float *dst = c + r * ldc + v * 16;
            _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][v]));
        }
    } else {
        float tile[MR][NR];
        for (int r = 0; r < MR; r++) for (int v = 0; v < NV; v++) _mm512_storeu_ps(&tile[r][v * 16], acc[r][v]);
        for (long r = 0; r < h; r++) for (long q = 0; q < w; q++) c[r * ldc + q] += tile[r][q];
    }
}

static float *bpack, *apack;
static int skip_pack = 0, weights_packed = 0;

// Columns of B's panels, padded to whole panels: block p of B (rows p..p+kc) packs to kc × padded
// floats, so in B packed whole it starts at p × padded.
static long padded(long n) { return (n + NR - 1) / NR * NR; }

static void pack_b_whole(const float *b, long k, long n) {
    for (long p = 0; p < k; p += KC) pack_b(b + p * n, n, k - p < KC ? k - p : KC, n, bpack + p * padded(n));
}

static void gemm(long m, long n, long k, const float *a, const float *b, float *c) {
    for (long p = 0; p < k; p += KC) {
        long kc = k - p < KC ? k - p : KC;
        const float *bblock = weights_packed ? bpack + p * padded(n) : bpack;
        if (!skip_pack && !weights_packed) pack_b(b + p * n, n, kc, n, bpack);
        for (long i = 0; i < m; i += MC) {
            long mc = m - i < MC ? m - i : MC;
            if (!skip_pack) pack_a(a + i * k + p, k, mc, kc, apack);
            for (long j = 0; j < n; j += NR) {
                const float *bp = bblock + (j / NR) * kc * NR;
                for (long ii = 0; ii < mc; ii += MR)
                    kernel(kc, apack + (ii / MR) * kc * MR, bp, c + (i + ii) * n + j, n,
                           mc - ii < MR ? mc - ii : MR, n - j < NR ? n - j : NR);
            }
        }
    }
}

int main(int argc, char **argv) {
    openblas_set_num_threads(1);
    printf("# OpenBLAS kernel: %s\n", openblas_get_corename());
    skip_pack = argc > 1 && strcmp(argv[1], "kernel-only") == 0;
    weights_packed = argc > 1 && strcmp(argv[1], "weights-packed") == 0;
    // m × n × k: the MLPs' forwards (batch × outputs × inputs), the first layers' input gradients in an
    // attack (batch × 784 × outputs), a weight gradient (outputs × inputs × batch) and 2048³
    long shapes[][3] = {{128, 1024, 784}, {128, 1024, 1024}, {512, 1024, 1024}, {128, 256, 784}, {512, 256, 784},
                        {128, 256, 256}, {128, 784, 1024}, {128, 784, 256}, {1024, 784, 128}, {2048, 2048, 2048}};
    int count = sizeof shapes / sizeof shapes[0];
    bpack = aligned_alloc(64, 64L << 20); apack = aligned_alloc(64, 16L << 20);
    for (int s = 0; s < count; s++) {
        long m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c1 = calloc(m * n, 4), *c2 = calloc(m * n, 4);
        for (long i = 0; i < m * k; i++) a[i] = rand() / (float)RAND_MAX - 0.5f;
        for (long i = 0; i < k * n; i++) b[i] = rand() / (float)RAND_MAX - 0.5f;
        if (weights_packed) pack_b_whole(b, k, n);
        { int keep = skip_pack; skip_pack = 0; gemm(m, n, k, a, b, c1); skip_pack = keep; }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 1, c2, n);
        double err = 0;
        for (long i = 0; i < m * n; i++) err = fmax(err, fabs(c1[i] - c2[i]));
        double flops = 2.0 * m * n * k, best[2] = {0, 0};
        for (int rep = 0; rep < 5; rep++) {
            for (int which = 0; which < 2; which++) {
                int calls = 0; double t0 = now(), t;
                do {
                    if (which == 0) gemm(m, n, k, a, b, c1);
                    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 1, c2, n);
                    calls++; t = now() - t0;
                } while (t < 0.1);
                double rate = flops * calls / t / 1e9;
                if (rate > best[which]) best[which] = rate;
            }
        }
        printf("%5ld %5ld %5ld  own %6.1f  openblas %6.1f  ratio %.2f  err %.2g\n", m, n, k, best[0], best[1],
               best[0] / best[1], err);
        free(a); free(b); free(c1); free(c2);
    }
}
