#include "plane_copies.h"

// y = x·scale + shift must be a product rounded and then a sum rounded, as Swift computes it: never
// one fused multiply-add, which rounds once (and would change the bits).
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ADV_X86 1
#endif

static inline float adv_affine_relu(float x, const float *affine) {
    const float y = x * affine[0] + affine[1];
    return y < 0 ? 0 : y;
}

void adv_copy_plane_portable(const float *source, long rows, long columns, long source_row_stride, long column_step,
                             float *target, long target_row_stride, const float *affine) {
    for (long r = 0; r < rows; r++) {
        const float *s = source + r * source_row_stride;
        float *t = target + r * target_row_stride;
        if (affine) {
            for (long j = 0; j < columns; j++) t[j] = adv_affine_relu(s[j * column_step], affine);
        } else {
            for (long j = 0; j < columns; j++) t[j] = s[j * column_step];
        }
    }
}

void adv_add_plane_portable(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                            float bias, float *target, long target_row_stride) {
    for (long r = 0; r < rows; r++) {
        const float *s = source + r * source_row_stride;
        float *t = target + r * target_row_stride;
        if (addend) {
            const float *a = addend + r * target_row_stride;
            for (long j = 0; j < columns; j++) t[j] = s[j] + a[j];
        } else {
            for (long j = 0; j < columns; j++) t[j] = s[j] + bias;
        }
    }
}

#ifdef ADV_X86

// The row loop, written once for both instruction sets over helpers of the same names with the
// suffix _avx512 or _avx2: `WIDTH` columns a vector, the last ones stored under a mask; a stride-2
// row's vector gathered from the even lanes of the 2·WIDTH floats that hold its columns; the map
// applied as a product and then a sum, and max(0, v), which keeps v when v is −0 or NaN. Loads are
// whole vectors wherever they end within the plane's floats (`end`), reading into the next row lanes
// that are never stored, and masked only at the plane's end: masked loads of memory not yet in cache
// ran several times slower than whole ones (a training step's padding on Zen 5, 4% → 9–13% of it).
#define ADV_COPY_PLANE_BODY(SUFFIX, WIDTH)                                                                   \
    if (column_step > 2) {                                                                                     \
        adv_copy_plane_portable(source, rows, columns, source_row_stride, column_step, target,                  \
                                target_row_stride, affine);                                                    \
        return;                                                                                                \
    }                                                                                                          \
    const float *end = source + (rows - 1) * source_row_stride + (columns - 1) * column_step + 1;              \
    for (long r = 0; r < rows; r++) {                                                                          \
        const float *s = source + r * source_row_stride;                                                       \
        float *t = target + r * target_row_stride;                                                             \
        for (long j = 0; j < columns; j += WIDTH) {                                                            \
            const long n = columns - j < WIDTH ? columns - j : WIDTH;                                          \
            vector_##SUFFIX v = column_step == 1 ? load_##SUFFIX(s + j, n, end)                                  \
                                                 : load_evens_##SUFFIX(s + 2 * j, n, end);                     \
            if (affine) v = affine_relu_##SUFFIX(v, affine);                                                   \
            store_##SUFFIX(t + j, n, v);                                                                       \
        }                                                                                                      \
    }

// adv_add_plane's row loop, over the same helpers: whole-vector loads of the source and the addend
// wherever they end within their planes.
#define ADV_ADD_PLANE_BODY(SUFFIX, WIDTH)                                                                    \
    const float *end = source + (rows - 1) * source_row_stride + columns;                                      \
    const float *addend_end = addend ? addend + (rows - 1) * target_row_stride + columns : 0;                  \
    const vector_##SUFFIX constant = broadcast_##SUFFIX(bias);                                                 \
    for (long r = 0; r < rows; r++) {                                                                          \
        const float *s = source + r * source_row_stride;                                                       \
        float *t = target + r * target_row_stride;                                                             \
        for (long j = 0; j < columns; j += WIDTH) {                                                            \
            const long n = columns - j < WIDTH ? columns - j : WIDTH;                                          \
            const vector_##SUFFIX other =                                                                      \
                addend ? load_##SUFFIX(addend + r * target_row_stride + j, n, addend_end) : constant;          \
            store_##SUFFIX(t + j, n, add_##SUFFIX(load_##SUFFIX(s + j, n, end), other));                       \
        }                                                                                                      \
    }

typedef __m512 vector_avx512;
typedef __m256 vector_avx2;

// AVX-512: the first n of sixteen lanes.
__attribute__((target("avx512f"))) static inline __mmask16 lanes_avx512(long n) {
    return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

// The n floats from s (n may be below 1 or above 16), and whatever follows them up to a whole vector
// where that lies before `end`.
__attribute__((target("avx512f"))) static inline __m512 load_avx512(const float *s, long n, const float *end) {
    return s + 16 <= end ? _mm512_loadu_ps(s) : _mm512_maskz_loadu_ps(lanes_avx512(n), s);
}

// n columns are floats 0 … 2n − 2: the first sixteen and the rest, then one permute keeps the evens.
__attribute__((target("avx512f"))) static inline __m512 load_evens_avx512(const float *s, long n, const float *end) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const long floats = 2 * n - 1;
    return _mm512_permutex2var_ps(load_avx512(s, floats, end), evens, load_avx512(s + 16, floats - 16, end));
}

__attribute__((target("avx512f"))) static inline __m512 affine_relu_avx512(__m512 v, const float *affine) {
    v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(affine[0])), _mm512_set1_ps(affine[1]));
    return _mm512_max_ps(_mm512_setzero_ps(), v);
}

__attribute__((target("avx512f"))) static inline void store_avx512(float *t, long n, __m512 v) {
    if (n >= 16) {
        _mm512_storeu_ps(t, v);
    } else {
        _mm512_mask_storeu_ps(t, lanes_avx512(n), v);
    }
}

__attribute__((target("avx512f"))) static inline __m512 broadcast_avx512(float x) { return _mm512_set1_ps(x); }

__attribute__((target("avx512f"))) static inline __m512 add_avx512(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }

__attribute__((target("avx512f")))
void adv_add_plane_avx512(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                          float bias, float *target, long target_row_stride) {
    ADV_ADD_PLANE_BODY(avx512, 16)
}

__attribute__((target("avx512f")))
void adv_copy_plane_avx512(const float *source, long rows, long columns, long source_row_stride, long column_step,
                           float *target, long target_row_stride, const float *affine) {
    ADV_COPY_PLANE_BODY(avx512, 16)
}

// AVX2: the first n of eight lanes, as a lane mask.
__attribute__((target("avx2,fma"))) static inline __m256i lanes_avx2(long n) {
    const long clamped = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)clamped), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) static inline __m256 load_avx2(const float *s, long n, const float *end) {
    return s + 8 <= end ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, lanes_avx2(n));
}

// a0 a2 b0 b2 | a4 a6 b4 b6 (a shuffle within each half) → a0 a2 a4 a6 b0 b2 b4 b6 (a permute of quarters)
__attribute__((target("avx2,fma"))) static inline __m256 load_evens_avx2(const float *s, long n, const float *end) {
    const long floats = 2 * n - 1;
    const __m256 mixed = _mm256_shuffle_ps(load_avx2(s, floats, end), load_avx2(s + 8, floats - 8, end),
                                           _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2,fma"))) static inline __m256 affine_relu_avx2(__m256 v, const float *affine) {
    v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(affine[0])), _mm256_set1_ps(affine[1]));
    return _mm256_max_ps(_mm256_setzero_ps(), v);
}

__attribute__((target("avx2,fma"))) static inline void store_avx2(float *t, long n, __m256 v) {
    if (n >= 8) {
        _mm256_storeu_ps(t, v);
    } else {
        _mm256_maskstore_ps(t, lanes_avx2(n), v);
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 broadcast_avx2(float x) { return _mm256_set1_ps(x); }

__attribute__((target("avx2,fma"))) static inline __m256 add_avx2(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }

__attribute__((target("avx2,fma")))
void adv_add_plane_avx2(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                        float bias, float *target, long target_row_stride) {
    ADV_ADD_PLANE_BODY(avx2, 8)
}

__attribute__((target("avx2,fma")))
void adv_copy_plane_avx2(const float *source, long rows, long columns, long source_row_stride, long column_step,
                         float *target, long target_row_stride, const float *affine) {
    ADV_COPY_PLANE_BODY(avx2, 8)
}

#else

void adv_add_plane_avx512(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                          float bias, float *target, long target_row_stride) {
    adv_add_plane_portable(source, rows, columns, source_row_stride, addend, bias, target, target_row_stride);
}

void adv_add_plane_avx2(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                        float bias, float *target, long target_row_stride) {
    adv_add_plane_portable(source, rows, columns, source_row_stride, addend, bias, target, target_row_stride);
}

void adv_copy_plane_avx512(const float *source, long rows, long columns, long source_row_stride, long column_step,
                           float *target, long target_row_stride, const float *affine) {
    adv_copy_plane_portable(source, rows, columns, source_row_stride, column_step, target, target_row_stride, affine);
}

void adv_copy_plane_avx2(const float *source, long rows, long columns, long source_row_stride, long column_step,
                         float *target, long target_row_stride, const float *affine) {
    adv_copy_plane_portable(source, rows, columns, source_row_stride, column_step, target, target_row_stride, affine);
}

#endif
