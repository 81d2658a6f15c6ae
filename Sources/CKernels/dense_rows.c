#include "dense_rows.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "vector_lanes.h"
#define ADV_X86 1
#endif

void adv_dense_rows_portable(const float *input, long rows, long inputs, const float *weight, long outputs,
                             const float *bias, float *output, long output_stride) {
    for (long i = 0; i < rows; i++) {
        for (long j = 0; j < outputs; j++) {
            const float *x = input + i * inputs, *w = weight + j * inputs;
            float sum = 0;
            for (long k = 0; k < inputs; k++) sum += x[k] * w[k];
            output[i * output_stride + j] = sum + bias[j];
        }
    }
}

#ifdef ADV_X86

// Both kernels walk tiles of R input rows × C weight rows (outputs). A tile at the bottom or right edge
// repeats its last row's pointer for the rows it lacks, so every output is computed by the same
// instructions as in a full tile, and stores only the outputs that exist.

static inline long adv_min(long a, long b) { return a < b ? a : b; }

/// pointers[t] = the row first + t of a matrix of `count` rows `length` floats long, for t < tile, the
/// last row standing in for those past it.
static inline void adv_tile_rows(const float *matrix, long first, long count, long length, int tile,
                                 const float **pointers) {
    for (int t = 0; t < tile; t++) pointers[t] = matrix + adv_min(first + t, count - 1) * length;
}

/// Stores a tile of R × C sums (row-major), plus the bias, for the rows and outputs that exist.
static inline void adv_store_tile(const float *tile, int R, int C, long i0, long j0, long rows, long outputs,
                                  const float *bias, float *output, long output_stride) {
    for (int r = 0; r < R && i0 + r < rows; r++)
        for (int c = 0; c < C && j0 + c < outputs; c++)
            output[(i0 + r) * output_stride + j0 + c] = tile[r * C + c] + bias[j0 + c];
}

/// AVX-512: 4 × 4 tiles, sixteen accumulators (half the registers), each step 8 loads for 16 FMAs.
__attribute__((target("avx512f")))
static inline __m512 adv_sum_lanes_16(const __m512 v[16]) {
    // → one vector holding the 16 vectors' lane sums, in order: adjacent pairs, then quadruples, then
    // the 128-bit quarters
    __m512 pairs[8], quads[4];
    for (int p = 0; p < 8; p++)
        pairs[p] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]), _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
    for (int p = 0; p < 4; p++)
        quads[p] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * p], pairs[2 * p + 1], 0x44),
                                 _mm512_shuffle_ps(pairs[2 * p], pairs[2 * p + 1], 0xEE));
    const __m512 low = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88),
                                     _mm512_shuffle_f32x4(quads[0], quads[1], 0xDD));
    const __m512 high = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88),
                                      _mm512_shuffle_f32x4(quads[2], quads[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(low, high, 0x88), _mm512_shuffle_f32x4(low, high, 0xDD));
}

/// sums[r·4 + c] += x[r] · w[c] over the 16 floats at k, or the first lanes of them under `mask`.
__attribute__((target("avx512f")))
static inline void adv_dense_step_avx512(const float *const x[4], const float *const w[4], long k, __mmask16 mask,
                                         __m512 sums[16]) {
    __m512 wv[4];
    for (int c = 0; c < 4; c++) wv[c] = _mm512_maskz_loadu_ps(mask, w[c] + k);
    for (int r = 0; r < 4; r++) {
        const __m512 xv = _mm512_maskz_loadu_ps(mask, x[r] + k);
        for (int c = 0; c < 4; c++) sums[r * 4 + c] = _mm512_fmadd_ps(xv, wv[c], sums[r * 4 + c]);
    }
}

__attribute__((target("avx512f")))
void adv_dense_rows_avx512(const float *input, long rows, long inputs, const float *weight, long outputs,
                           const float *bias, float *output, long output_stride) {
    enum { R = 4, C = 4, WIDTH = 16 };
    const long whole = inputs / WIDTH * WIDTH;
    const __mmask16 all = 0xFFFF, tail = lanes_avx512(inputs - whole);
    for (long j0 = 0; j0 < outputs; j0 += C) {
        const float *w[C];
        adv_tile_rows(weight, j0, outputs, inputs, C, w);
        for (long i0 = 0; i0 < rows; i0 += R) {
            const float *x[R];
            adv_tile_rows(input, i0, rows, inputs, R, x);
            __m512 sums[R * C];
            for (int t = 0; t < R * C; t++) sums[t] = _mm512_setzero_ps();
            for (long k = 0; k < whole; k += WIDTH) adv_dense_step_avx512(x, w, k, all, sums);
            if (tail) adv_dense_step_avx512(x, w, whole, tail, sums);
            float tile[R * C];
            _mm512_storeu_ps(tile, adv_sum_lanes_16(sums));
            adv_store_tile(tile, R, C, i0, j0, rows, outputs, bias, output, output_stride);
        }
    }
}

/// AVX2: 2 × 4 tiles, eight accumulators (16 registers leave no room for more with the loads), each
/// step 6 loads for 8 FMAs.
__attribute__((target("avx2,fma")))
static inline __m256 adv_sum_lanes_8(const __m256 v[8]) {
    // → one vector holding the 8 vectors' lane sums, in order: horizontal adds within each 128-bit
    // half, then the two halves
    const __m256 first = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    const __m256 second = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(first, second, 0x20), _mm256_permute2f128_ps(first, second, 0x31));
}

/// sums[r·4 + c] += x[r] · w[c] over the 8 floats at k, or, with `mask`, the lanes it selects.
__attribute__((target("avx2,fma")))
static inline void adv_dense_step_avx2(const float *const x[2], const float *const w[4], long k, const __m256i *mask,
                                       __m256 sums[8]) {
    __m256 wv[4];
    for (int c = 0; c < 4; c++) wv[c] = mask ? _mm256_maskload_ps(w[c] + k, *mask) : _mm256_loadu_ps(w[c] + k);
    for (int r = 0; r < 2; r++) {
        const __m256 xv = mask ? _mm256_maskload_ps(x[r] + k, *mask) : _mm256_loadu_ps(x[r] + k);
        for (int c = 0; c < 4; c++) sums[r * 4 + c] = _mm256_fmadd_ps(xv, wv[c], sums[r * 4 + c]);
    }
}

__attribute__((target("avx2,fma")))
void adv_dense_rows_avx2(const float *input, long rows, long inputs, const float *weight, long outputs,
                         const float *bias, float *output, long output_stride) {
    enum { R = 2, C = 4, WIDTH = 8 };
    const long whole = inputs / WIDTH * WIDTH, remainder = inputs - whole;
    const __m256i tail = lanes_avx2(remainder);
    for (long j0 = 0; j0 < outputs; j0 += C) {
        const float *w[C];
        adv_tile_rows(weight, j0, outputs, inputs, C, w);
        for (long i0 = 0; i0 < rows; i0 += R) {
            const float *x[R];
            adv_tile_rows(input, i0, rows, inputs, R, x);
            __m256 sums[R * C];
            for (int t = 0; t < R * C; t++) sums[t] = _mm256_setzero_ps();
            for (long k = 0; k < whole; k += WIDTH) adv_dense_step_avx2(x, w, k, 0, sums);
            if (remainder) adv_dense_step_avx2(x, w, whole, &tail, sums);
            float tile[R * C];
            _mm256_storeu_ps(tile, adv_sum_lanes_8(sums));
            adv_store_tile(tile, R, C, i0, j0, rows, outputs, bias, output, output_stride);
        }
    }
}

#else

void adv_dense_rows_avx512(const float *input, long rows, long inputs, const float *weight, long outputs,
                           const float *bias, float *output, long output_stride) {
    adv_dense_rows_portable(input, rows, inputs, weight, outputs, bias, output, output_stride);
}

void adv_dense_rows_avx2(const float *input, long rows, long inputs, const float *weight, long outputs,
                         const float *bias, float *output, long output_stride) {
    adv_dense_rows_portable(input, rows, inputs, weight, outputs, bias, output, output_stride);
}

#endif
