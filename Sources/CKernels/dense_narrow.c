#include "dense_narrow.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "vector_lanes.h"
#define ADV_X86 1
#endif

void adv_narrow_weight_gradient_portable(const float *d_output, long rows, long outputs, const float *input,
                                         long columns, long stride, float *d_weight, float *scratch) {
    (void)scratch;
    for (long o = 0; o < outputs; o++)
        for (long c = 0; c < columns; c++) {
            float sum = 0;
            for (long n = 0; n < rows; n++) sum += d_output[n * outputs + o] * input[n * stride + c];
            d_weight[o * stride + c] += sum;
        }
}

void adv_narrow_input_gradient_portable(const float *d_output, long rows, long outputs, const float *weight,
                                        long columns, long stride, float *d_input, float *scratch) {
    (void)scratch;
    for (long n = 0; n < rows; n++)
        for (long c = 0; c < columns; c++) {
            float sum = 0;
            for (long o = 0; o < outputs; o++) sum += d_output[n * outputs + o] * weight[o * stride + c];
            d_input[n * stride + c] = sum;
        }
}

#ifdef ADV_X86

static inline long adv_narrow_min(long a, long b) { return a < b ? a : b; }

// The vector kernels, written once over each instruction set's helpers (vector_lanes.h). Both sweep
// the rows in order, NARROW_ROWS at a time, and each row from its first column to its last, a vector
// at a time (the last one partial: its lanes past `columns` load zeros and are not stored). What every
// vector of columns needs of the outputs' rows — the weight gradient's sums, the input gradient's
// weights — sits in `scratch`, the outputs' vectors of one block of columns side by side: the rows of
// a 1024-input layer are 4 KB apart, so its ten rows' vectors at one column share one L1 set of eight
// ways, and read in place they ran at a third of the speed (0.6× OpenBLAS).
//
// Weight gradient: scratch holds the sums, from zero; for each vector of columns, a group of
// NARROW_GROUP outputs' sums (a ten-class head in one group) are carried through the block of rows'
// fused multiply–adds in registers (NARROW_WEIGHT_ROWS rows between a load and a store of the sums);
// at the end each sum is added to d_weight. A group past the last output repeats the last one's index
// and stores only the outputs that exist.
// Input gradient: scratch holds the weights; the block of rows' sums for a vector of columns sit in
// registers, each output's weight vector loaded once for all of them, the rows independent chains that
// hide the FMA latency.
#define NARROW_GROUP 10
#define NARROW_ROWS 8
#define NARROW_WEIGHT_ROWS 64
#define ADV_NARROW_BODIES(SUFFIX, TARGET, WIDTH)                                                                 \
    TARGET void adv_narrow_weight_gradient_##SUFFIX(const float *d_output, long rows, long outputs,              \
                                                     const float *input, long columns, long stride,              \
                                                     float *d_weight, float *scratch) {                          \
        const long blocks = (columns + WIDTH - 1) / WIDTH;                                                       \
        for (long i = 0; i < blocks * outputs; i++) store_##SUFFIX(scratch + i * WIDTH, WIDTH, zero_##SUFFIX()); \
        for (long n0 = 0; n0 < rows; n0 += NARROW_WEIGHT_ROWS) {                                                 \
            const long count = adv_narrow_min(NARROW_WEIGHT_ROWS, rows - n0);                                    \
            for (long o0 = 0; o0 < outputs; o0 += NARROW_GROUP) {                                                \
                long o[NARROW_GROUP];                                                                            \
                for (int j = 0; j < NARROW_GROUP; j++) o[j] = adv_narrow_min(o0 + j, outputs - 1);               \
                for (long b = 0; b < blocks; b++) {                                                              \
                    const long c0 = b * WIDTH;                                                                   \
                    const int lanes = (int)adv_narrow_min(WIDTH, columns - c0);                                  \
                    float *block = scratch + b * outputs * WIDTH;                                                \
                    vector_##SUFFIX sums[NARROW_GROUP];                                                          \
                    for (int j = 0; j < NARROW_GROUP; j++) sums[j] = load_whole_##SUFFIX(block + o[j] * WIDTH);  \
                    for (long n = n0; n < n0 + count; n++) {                                                     \
                        const vector_##SUFFIX x = load_part_##SUFFIX(input + n * stride + c0, lanes);            \
                        const float *d = d_output + n * outputs;                                                 \
                        for (int j = 0; j < NARROW_GROUP; j++)                                                   \
                            sums[j] = fmadd_##SUFFIX(broadcast_##SUFFIX(d[o[j]]), x, sums[j]);                   \
                    }                                                                                            \
                    for (int j = 0; j < NARROW_GROUP && o0 + j < outputs; j++)                                   \
                        store_##SUFFIX(block + (o0 + j) * WIDTH, WIDTH, sums[j]);                                \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
        for (long b = 0; b < blocks; b++) {                                                                      \
            const int lanes = (int)adv_narrow_min(WIDTH, columns - b * WIDTH);                                   \
            for (long o = 0; o < outputs; o++) {                                                                 \
                float *w = d_weight + o * stride + b * WIDTH;                                                    \
                store_##SUFFIX(w, lanes, add_##SUFFIX(load_part_##SUFFIX(w, lanes),                              \
                                                    load_whole_##SUFFIX(scratch + (b * outputs + o) * WIDTH)));  \
            }                                                                                                    \
        }                                                                                                        \
    }                                                                                                            \
                                                                                                                 \
    TARGET void adv_narrow_input_gradient_##SUFFIX(const float *d_output, long rows, long outputs,               \
                                                    const float *weight, long columns, long stride,              \
                                                    float *d_input, float *scratch) {                            \
        const long blocks = (columns + WIDTH - 1) / WIDTH;                                                       \
        for (long b = 0; b < blocks; b++)                                                                        \
            for (long o = 0; o < outputs; o++)                                                                   \
                store_##SUFFIX(scratch + (b * outputs + o) * WIDTH, WIDTH,                                       \
                               load_part_##SUFFIX(weight + o * stride + b * WIDTH,                               \
                                                  (int)adv_narrow_min(WIDTH, columns - b * WIDTH)));             \
        for (long n0 = 0; n0 < rows; n0 += NARROW_ROWS) {                                                        \
            const float *d[NARROW_ROWS];                                                                         \
            for (int r = 0; r < NARROW_ROWS; r++) d[r] = d_output + adv_narrow_min(n0 + r, rows - 1) * outputs;  \
            for (long b = 0; b < blocks; b++) {                                                                  \
                const long c0 = b * WIDTH;                                                                       \
                const int lanes = (int)adv_narrow_min(WIDTH, columns - c0);                                      \
                const float *block = scratch + b * outputs * WIDTH;                                              \
                vector_##SUFFIX sums[NARROW_ROWS];                                                               \
                for (int r = 0; r < NARROW_ROWS; r++) sums[r] = zero_##SUFFIX();                                 \
                for (long o = 0; o < outputs; o++) {                                                             \
                    const vector_##SUFFIX w = load_whole_##SUFFIX(block + o * WIDTH);                            \
                    for (int r = 0; r < NARROW_ROWS; r++)                                                        \
                        sums[r] = fmadd_##SUFFIX(broadcast_##SUFFIX(d[r][o]), w, sums[r]);                       \
                }                                                                                                \
                for (int r = 0; r < NARROW_ROWS && n0 + r < rows; r++)                                           \
                    store_##SUFFIX(d_input + (n0 + r) * stride + c0, lanes, sums[r]);                            \
            }                                                                                                    \
        }                                                                                                        \
    }

#define ADV_AVX512 __attribute__((target("avx512f")))
#define ADV_AVX2 __attribute__((target("avx2,fma")))

// The first `lanes` floats from p (zeros past them); a whole vector from p.
ADV_AVX512 static inline __m512 load_part_avx512(const float *p, long lanes) {
    return load_avx512(p, lanes, p + lanes);
}
ADV_AVX512 static inline __m512 load_whole_avx512(const float *p) { return _mm512_loadu_ps(p); }
ADV_AVX2 static inline __m256 load_part_avx2(const float *p, long lanes) { return load_avx2(p, lanes, p + lanes); }
ADV_AVX2 static inline __m256 load_whole_avx2(const float *p) { return _mm256_loadu_ps(p); }

ADV_NARROW_BODIES(avx512, ADV_AVX512, 16)
ADV_NARROW_BODIES(avx2, ADV_AVX2, 8)

#else

// Not x86: the portable twins serve (the Swift side takes these paths only where a vector kernel runs).
void adv_narrow_weight_gradient_avx512(const float *d_output, long rows, long outputs, const float *input,
                                       long columns, long stride, float *d_weight, float *scratch) {
    adv_narrow_weight_gradient_portable(d_output, rows, outputs, input, columns, stride, d_weight, scratch);
}
void adv_narrow_weight_gradient_avx2(const float *d_output, long rows, long outputs, const float *input,
                                     long columns, long stride, float *d_weight, float *scratch) {
    adv_narrow_weight_gradient_portable(d_output, rows, outputs, input, columns, stride, d_weight, scratch);
}
void adv_narrow_input_gradient_avx512(const float *d_output, long rows, long outputs, const float *weight,
                                      long columns, long stride, float *d_input, float *scratch) {
    adv_narrow_input_gradient_portable(d_output, rows, outputs, weight, columns, stride, d_input, scratch);
}
void adv_narrow_input_gradient_avx2(const float *d_output, long rows, long outputs, const float *weight,
                                    long columns, long stride, float *d_input, float *scratch) {
    adv_narrow_input_gradient_portable(d_output, rows, outputs, weight, columns, stride, d_input, scratch);
}

#endif
