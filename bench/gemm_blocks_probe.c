// A probe, not part of advd: into how many blocks should BLAS.gemm cut the MLPs' products? Every block
// is one single-threaded cblas_sgemm on a slice of C's columns (or rows, when C is taller than wide,
// as BLAS.gemm chooses), and every block packs the operand it does not split again; more blocks let
// more threads share a product. This times each product of the MLP (784-256-256-10) and the wide MLP
// (784-1024-1024-10) whole, in two blocks and in four, on one thread (the blocks one after another)
// and on two (each thread its half of the blocks), the variants interleaved round by round so that a
// shared VM's slow minutes fall on all of them alike; it prints the median time of each and its ratio
// to four blocks' (BLAS.gemm's rule takes four blocks where each keeps 256 columns or rows, else two).
//
// With `orientation` it instead times each forward (C = X·Wᵀ, W stored outputs × inputs as PyTorch
// and advd keep it) against the same product with W stored transposed (C = X·W'), one thread, in the
// blocks BLAS.gemm uses: would a transposed copy of the weights serve OpenBLAS better?
//
// With `bits` it checks whether a product cut into blocks gives the same bits as the product whole,
// on shapes of the models and odd ones, every transpose: if it did, the blocks could follow the
// thread count (one block on one thread) and results still not depend on it. Run it under each
// kernel (OPENBLAS_CORETYPE=Haswell /tmp/blocks bits).
//
//   clang -O2 bench/gemm_blocks_probe.c -o /tmp/blocks -lopenblas -lpthread
//   /tmp/blocks [rounds]; /tmp/blocks orientation [rounds]; /tmp/blocks bits
//
// OpenBLAS picks its own kernel unless OPENBLAS_CORETYPE names one, and on some CPUs that is not the
// kernel advd runs (on the Zen 4 VM OpenBLAS picks Cooperlake, advd Haswell): set OPENBLAS_CORETYPE to
// the kernel `advbench` reports. Every table's first line names the kernel it timed.
//
// What it measured is in docs/speed-history.md ("The MLPs' GEMMs: blocks, orientation and bits, probed").
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

typedef struct {
    const char *name;
    int transA, transB, m, n, k;
} Product;

typedef struct {
    const Product *p;
    const float *a, *b;
    float *c;
    int blocks, first, last; // this thread's blocks: [first, last)
} Work;

// BLAS.gemm's rule: split C's columns when n >= 64 and n >= m, else its rows.
static int splits_columns(const Product *p) { return p->n >= 64 && p->n >= p->m; }

// BLAS.gemm's block count for a product it splits: four where each keeps 256 columns or rows, else two.
static int rule_blocks(const Product *p) { return (splits_columns(p) ? p->n : p->m) >= 4 * 256 ? 4 : 2; }

// Block `index` of `blocks`: equal shares on boundaries of 16 columns or 4 rows, as BLAS.gemm cuts them.
static void run_block(const Product *p, const float *a, const float *b, float *c, int blocks, int index) {
    int columns = splits_columns(p);
    int extent = columns ? p->n : p->m, alignment = columns ? 16 : 4;
    int lower = index == 0 ? 0 : (extent * index / blocks) / alignment * alignment;
    int upper = index == blocks - 1 ? extent : (extent * (index + 1) / blocks) / alignment * alignment;
    int lda = p->transA ? p->m : p->k, ldb = p->transB ? p->k : p->n, ldc = p->n;
    enum CBLAS_TRANSPOSE ta = p->transA ? CblasTrans : CblasNoTrans, tb = p->transB ? CblasTrans : CblasNoTrans;
    if (columns) {
        int j = lower;
        cblas_sgemm(CblasRowMajor, ta, tb, p->m, upper - lower, p->k, 1, a, lda,
                    b + (p->transB ? (long)j * ldb : j), ldb, 1, c + j, ldc);
    } else {
        int i = lower;
        cblas_sgemm(CblasRowMajor, ta, tb, upper - lower, p->n, p->k, 1, a + (p->transA ? i : (long)i * lda), lda,
                    b, ldb, 1, c + (long)i * ldc, ldc);
    }
}

static void *run_share(void *argument) {
    Work *w = argument;
    for (int index = w->first; index < w->last; index++) run_block(w->p, w->a, w->b, w->c, w->blocks, index);
    return NULL;
}

// The second thread: spins on `generation` for its share of each product, as advd's pool does (a
// thread created per product would cost more than the small products take).
static Work shared_work;
static volatile int generation, finished;

static void *worker(void *unused) {
    (void)unused;
    int seen = 0;
    for (;;) {
        while (__atomic_load_n(&generation, __ATOMIC_ACQUIRE) == seen) {}
        seen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
        if (seen < 0) return NULL;
        run_share(&shared_work);
        __atomic_store_n(&finished, seen, __ATOMIC_RELEASE);
    }
}

// Seconds for `reps` products in `blocks` blocks on `threads` threads (1 or 2).
static double time_product(const Product *p, const float *a, const float *b, float *c, int blocks, int threads, int reps) {
    double start = now();
    for (int r = 0; r < reps; r++) {
        if (threads == 1 || blocks == 1) {
            for (int index = 0; index < blocks; index++) run_block(p, a, b, c, blocks, index);
        } else {
            shared_work = (Work){p, a, b, c, blocks, blocks / 2, blocks};
            int ticket = __atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
            Work first = {p, a, b, c, blocks, 0, blocks / 2};
            run_share(&first);
            while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) != ticket) {}
        }
    }
    return (now() - start) / reps;
}

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median_of(double *times, int count) {
    qsort(times, count, sizeof(double), compare_doubles);
    return times[count / 2];
}

// The forward of a Linear layer (batch × inputs → outputs) in BLAS.gemm's blocks (of columns or rows), with the
// weights as stored (NT) and transposed (NN), rounds interleaved; one thread.
static void compare_orientations(int rounds) {
    int layers[][2] = {{784, 256}, {256, 256}, {784, 1024}, {1024, 1024}}, batches[2] = {128, 512};
    printf("product            batch inputs outputs blocks | GFLOP/s: W (NT)  Wᵀ (NN) | NN/NT\n");
    for (int l = 0; l < 4; l++) {
        for (int bi = 0; bi < 2; bi++) {
            int batch = batches[bi], inputs = layers[l][0], outputs = layers[l][1];
            Product p = {"forward", 0, 1, batch, outputs, inputs};
            int blocks = rule_blocks(&p);
            float *x = malloc(sizeof(float) * batch * inputs), *w = malloc(sizeof(float) * inputs * outputs);
            float *wt = malloc(sizeof(float) * inputs * outputs), *c = calloc((size_t)batch * outputs, sizeof(float));
            for (long i = 0; i < (long)batch * inputs; i++) x[i] = (float)(i % 97) / 97 - 0.5f;
            for (long i = 0; i < (long)inputs * outputs; i++) w[i] = (float)(i % 89) / 89 - 0.5f;
            for (int o = 0; o < outputs; o++)
                for (int i = 0; i < inputs; i++) wt[(long)i * outputs + o] = w[(long)o * inputs + i];
            Product transposed = {"forward", 0, 0, batch, outputs, inputs};
            double flops = 2.0 * batch * inputs * outputs, times[2][64];
            int reps = (int)(1e9 / flops) + 1;
            for (int r = 0; r < rounds && r < 64; r++) {
                times[0][r] = time_product(&p, x, w, c, blocks, 1, reps);
                times[1][r] = time_product(&transposed, x, wt, c, blocks, 1, reps);
            }
            double nt = median_of(times[0], rounds), nn = median_of(times[1], rounds);
            printf("%-18s %5d %6d %7d %6d | %15.1f %8.1f | %.3f\n", "forward", batch, inputs, outputs, blocks,
                   flops / nt * 1e-9, flops / nn * 1e-9, nt / nn);
            fflush(stdout);
            free(x); free(w); free(wt); free(c);
        }
    }
}

// Each hidden-to-hidden product whole and in two and four blocks, on one thread and on two.
static void compare_blocks(int rounds) {
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    int widths[2] = {256, 1024}, batches[3] = {32, 128, 512};
    Product products[18];
    int count = 0;
    for (int w = 0; w < 2; w++) {
        for (int bi = 0; bi < 3; bi++) {
            int hidden = widths[w], batch = batches[bi];
            // the second hidden layer (hidden → hidden), in each of its three products
            products[count++] = (Product){"forward h->h", 0, 1, batch, hidden, hidden};
            products[count++] = (Product){"weight grad h->h", 1, 0, hidden, hidden, batch};
            products[count++] = (Product){"input grad h->h", 0, 0, batch, hidden, hidden};
        }
    }
    printf("product              batch  width threads | ms: 4 blocks  2 blocks  1 block | 2/4   1/4\n");
    for (int i = 0; i < count; i++) {
        Product *p = &products[i];
        long sa = (long)p->m * p->k, sb = (long)p->k * p->n, sc = (long)p->m * p->n;
        float *a = malloc(sa * sizeof(float)), *b = malloc(sb * sizeof(float)), *c = malloc(sc * sizeof(float));
        for (long x = 0; x < sa; x++) a[x] = (float)((x * 7919) % 1000) / 1000 - 0.5f;
        for (long x = 0; x < sb; x++) b[x] = (float)((x * 104729) % 1000) / 1000 - 0.5f;
        memset(c, 0, sc * sizeof(float));
        double flops = 2.0 * p->m * p->n * p->k;
        int reps = (int)(1e9 / flops) + 1; // ~10 ms of work per timing at 100 GFLOP/s
        int batch = p->transA ? p->k : p->m, width = p->n;
        for (int threads = 1; threads <= 2; threads++) {
            double times[3][64];
            int variants[3] = {4, 2, 1};
            for (int r = 0; r < rounds && r < 64; r++)
                for (int v = 0; v < 3; v++) times[v][r] = time_product(p, a, b, c, variants[v], threads, reps);
            double median[3];
            for (int v = 0; v < 3; v++) median[v] = median_of(times[v], rounds);
            printf("%-20s %5d %6d %7d | %11.3f %9.3f %8.3f | %.2f  %.2f\n", p->name, batch, width, threads,
                   median[0] * 1e3, median[1] * 1e3, median[2] * 1e3, median[1] / median[0], median[2] / median[0]);
            fflush(stdout);
        }
        free(a); free(b); free(c);
    }
    __atomic_store_n(&generation, -1, __ATOMIC_RELEASE);
    pthread_join(thread, NULL);
}

// Whether cutting a product into 2 or 4 blocks of columns (or rows) changes its bits, for this kernel.
static void compare_bits(void) {
    int shapes[][3] = {{128, 1024, 1024}, {128, 256, 784}, {512, 256, 256}, {32, 1024, 1024}, {1024, 784, 128},
                       {256, 784, 512}, {100, 200, 333}, {512, 96, 300}, {77, 130, 51}};
    int count = sizeof shapes / sizeof shapes[0], cases = 0, differing = 0;
    for (int s = 0; s < count; s++) {
        for (int transposes = 0; transposes < 4; transposes++) {
            Product p = {"bits", transposes & 1, transposes >> 1, shapes[s][0], shapes[s][1], shapes[s][2]};
            long sa = (long)p.m * p.k, sb = (long)p.k * p.n, sc = (long)p.m * p.n;
            float *a = malloc(sa * sizeof(float)), *b = malloc(sb * sizeof(float));
            float *whole = calloc(sc, sizeof(float)), *split = malloc(sc * sizeof(float));
            srand(s * 4 + transposes);
            for (long x = 0; x < sa; x++) a[x] = (float)(rand() % 2001) / 2000 - 0.5f;
            for (long x = 0; x < sb; x++) b[x] = (float)(rand() % 2001) / 2000 - 0.5f;
            run_block(&p, a, b, whole, 1, 0);
            for (int blocks = 2; blocks <= 4; blocks *= 2) {
                memset(split, 0, sc * sizeof(float));
                for (int index = 0; index < blocks; index++) run_block(&p, a, b, split, blocks, index);
                cases++;
                if (memcmp(whole, split, sc * sizeof(float)) != 0) {
                    differing++;
                    printf("  %d x %d x %d, transposes A %d B %d, %d blocks: bits differ\n", p.m, p.n, p.k,
                           p.transA, p.transB, blocks);
                }
            }
            free(a); free(b); free(whole); free(split);
        }
    }
    printf("%s: %d of %d split products differ from the whole product\n", openblas_get_corename(), differing, cases);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 && (strcmp(argv[1], "orientation") == 0 || strcmp(argv[1], "bits") == 0) ? argv[1] : "";
    int first_number = *mode ? 2 : 1;
    int rounds = argc > first_number ? atoi(argv[first_number]) : 15;
    if (rounds < 1 || rounds > 64) rounds = 15;
    openblas_set_num_threads(1);
    printf("# OpenBLAS kernel: %s\n", openblas_get_corename());
    if (strcmp(mode, "orientation") == 0) compare_orientations(rounds);
    else if (strcmp(mode, "bits") == 0) compare_bits();
    else compare_blocks(rounds);
    return 0;
}
