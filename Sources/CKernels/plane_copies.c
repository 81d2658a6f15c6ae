#include "plane_copies.h"
#include "direct_convolution.h"

#include <string.h>

// y = x·scale + shift must be a product rounded and then a sum rounded, as Swift computes it: never
// one fused multiply-add, which rounds once (and would change the bits).
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "vector_lanes.h"
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

void adv_interleave_plane_portable(const float *even, const float *odd, long rows, long columns,
                                   long source_row_stride, float *target, long target_row_stride) {
    for (long r = 0; r < rows; r++) {
        float *t = target + r * target_row_stride;
        for (long x = 0; x < columns; x++) {
            const float *phase = x % 2 == 0 ? even : odd;
            t[x] = phase ? phase[r * source_row_stride + x / 2] : 0;
        }
    }
}

void adv_cells_pad_plane_portable(const float *source, long images, long image_stride, long height, long width,
                                  long padding, long first_row, long rows, float *target, const float *affine) {
    const long padded_width = width + 2 * padding, cell = ADV_CELL_IMAGES;
    for (long r = first_row; r < first_row + rows; r++) {
        for (long j = 0; j < padded_width; j++) {
            float *t = target + ((r - first_row) * padded_width + j) * cell;
            const long row = r - padding, column = j - padding;
            const int inside = row >= 0 && row < height && column >= 0 && column < width;
            for (long l = 0; l < cell; l++) {
                const float x = inside && l < images ? source[l * image_stride + row * width + column] : 0;
                t[l] = affine && inside && l < images ? adv_affine_relu(x, affine) : x;
            }
        }
    }
}

void adv_cells_store_plane_portable(const float *source, long count, long images, const float *addend,
                                    const float *bias, float *target, long image_stride) {
    for (long l = 0; l < images; l++) {
        for (long i = 0; i < count; i++) {
            const float x = source[i * ADV_CELL_IMAGES + l];
            target[l * image_stride + i] = addend ? x + addend[l * image_stride + i] : bias ? x + *bias : x;
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

// adv_interleave_plane's row loop: WIDTH columns of each phase (zeros for a NULL one) merged into
// 2·WIDTH target columns by interleave_SUFFIX, stored under a mask at the row's end.
#define ADV_INTERLEAVE_PLANE_BODY(SUFFIX, WIDTH)                                                             \
    const long evens = (columns + 1) / 2, odds = columns / 2;                                                  \
    const float *even_end = even ? even + (rows - 1) * source_row_stride + evens : 0;                          \
    const float *odd_end = odd ? odd + (rows - 1) * source_row_stride + odds : 0;                              \
    for (long r = 0; r < rows; r++) {                                                                          \
        const float *e = even ? even + r * source_row_stride : 0, *o = odd ? odd + r * source_row_stride : 0;  \
        float *t = target + r * target_row_stride;                                                             \
        for (long j = 0; j < evens; j += WIDTH) {                                                              \
            const vector_##SUFFIX x = e ? load_##SUFFIX(e + j, evens - j, even_end) : zero_##SUFFIX();         \
            const vector_##SUFFIX y = o ? load_##SUFFIX(o + j, odds - j, odd_end) : zero_##SUFFIX();           \
            vector_##SUFFIX low, high;                                                                         \
            interleave_##SUFFIX(x, y, &low, &high);                                                            \
            const long n = columns - 2 * j;                                                                    \
            store_##SUFFIX(t + 2 * j, n, low);                                                                 \
            if (n > WIDTH) store_##SUFFIX(t + 2 * j + WIDTH, n - WIDTH, high);                                 \
        }                                                                                                      \
    }

// adv_cells_pad_plane's row loop, over the same helpers and transpose_SUFFIX: a cell's WIDTH-image
// part at a time (the whole cell on AVX-512, half of it on AVX2), WIDTH images' rows of WIDTH columns
// loaded (through the map) and transposed into WIDTH cells; the images past `images` are zero lanes.
#define ADV_CELLS_PAD_BODY(SUFFIX, WIDTH)                                                                    \
    const long padded_width = width + 2 * padding, cell = ADV_CELL_IMAGES;                                     \
    for (long r = first_row; r < first_row + rows; r++) {                                                      \
        float *row = target + (r - first_row) * padded_width * cell;                                           \
        const long source_row = r - padding;                                                                   \
        if (!zero_cell_padding(row, source_row, height, width, padding)) continue;                             \
        for (long part = 0; part < cell; part += WIDTH) {                                                      \
            for (long j = 0; j < width; j += WIDTH) {                                                          \
                const long n = width - j < WIDTH ? width - j : WIDTH;                                          \
                vector_##SUFFIX v[WIDTH];                                                                      \
                for (long l = 0; l < WIDTH; l++) {                                                             \
                    if (part + l >= images) {                                                                  \
                        v[l] = broadcast_##SUFFIX(0);                                                          \
                        continue;                                                                              \
                    }                                                                                          \
                    const float *plane = source + (part + l) * image_stride;                                   \
                    v[l] = load_##SUFFIX(plane + source_row * width + j, n, plane + height * width);           \
                    if (affine) v[l] = affine_relu_##SUFFIX(v[l], affine);                                     \
                }                                                                                              \
                transpose_##SUFFIX(v);                                                                         \
                for (long m = 0; m < n; m++) store_##SUFFIX(row + (padding + j + m) * cell + part, WIDTH, v[m]); \
            }                                                                                                  \
        }                                                                                                      \
    }

// adv_cells_store_plane's loop: WIDTH cells' WIDTH-image part at a time transposed into WIDTH images'
// runs of positions, each stored (with its addend or bias) under a mask at the end.
#define ADV_CELLS_STORE_BODY(SUFFIX, WIDTH)                                                                  \
    for (long part = 0; part < images; part += WIDTH) {                                                        \
        for (long i = 0; i < count; i += WIDTH) {                                                              \
            const long n = count - i < WIDTH ? count - i : WIDTH;                                              \
            vector_##SUFFIX v[WIDTH];                                                                          \
            for (long m = 0; m < WIDTH; m++) {                                                                 \
                const float *at = source + (i + m) * ADV_CELL_IMAGES + part;                                   \
                v[m] = m < n ? load_##SUFFIX(at, WIDTH, at + WIDTH) : broadcast_##SUFFIX(0);                   \
            }                                                                                                  \
            transpose_##SUFFIX(v);                                                                             \
            for (long l = 0; l < WIDTH && part + l < images; l++) {                                            \
                vector_##SUFFIX x = v[l];                                                                      \
                if (addend) {                                                                                  \
                    const float *a = addend + (part + l) * image_stride;                                       \
                    x = add_##SUFFIX(x, load_##SUFFIX(a + i, n, a + count));                                   \
                } else if (bias) {                                                                             \
                    x = add_##SUFFIX(x, broadcast_##SUFFIX(*bias));                                            \
                }                                                                                              \
                store_##SUFFIX(target + (part + l) * image_stride + i, n, x);                                  \
            }                                                                                                  \
        }                                                                                                      \
    }


// n columns are floats 0 … 2n − 2: the first sixteen and the rest, then one permute keeps the evens.
__attribute__((target("avx512f"))) static inline __m512 load_evens_avx512(const float *s, long n, const float *end) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const long floats = 2 * n - 1;
    return _mm512_permutex2var_ps(load_avx512(s, floats, end), evens, load_avx512(s + 16, floats - 16, end));
}

// x0 y0 x1 y1 … x7 y7 and x8 y8 … x15 y15.
__attribute__((target("avx512f"))) static inline void interleave_avx512(__m512 x, __m512 y, __m512 *low, __m512 *high) {
    *low = _mm512_permutex2var_ps(x, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), y);
    *high = _mm512_permutex2var_ps(x, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), y);
}

__attribute__((target("avx512f")))
void adv_interleave_plane_avx512(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                                 float *target, long target_row_stride) {
    ADV_INTERLEAVE_PLANE_BODY(avx512, 16)
}

__attribute__((target("avx512f"))) static inline __m512 affine_relu_avx512(__m512 v, const float *affine) {
    v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(affine[0])), _mm512_set1_ps(affine[1]));
    return _mm512_max_ps(_mm512_setzero_ps(), v);
}

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

// Zeroes a padded row of cells that lies outside the image (returning 0), or the padding cells at
// both ends of one inside it (returning 1: its image cells are the caller's to write).
static inline int zero_cell_padding(float *row, long source_row, long height, long width, long padding) {
    const long cell = ADV_CELL_IMAGES;
    if (source_row < 0 || source_row >= height) {
        memset(row, 0, (size_t)((width + 2 * padding) * cell) * sizeof(float));
        return 0;
    }
    memset(row, 0, (size_t)(padding * cell) * sizeof(float));
    memset(row + (padding + width) * cell, 0, (size_t)(padding * cell) * sizeof(float));
    return 1;
}

// Sixteen vectors of sixteen floats transposed in place (v[a] lane b ↔ v[b] lane a): pairs of rows
// interleaved, then pairs of pairs, then the four 128-bit quarters of four vectors gathered twice.
__attribute__((target("avx512f"))) static inline void transpose_avx512(__m512 v[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    // u[4g + m], rows 4g … 4g + 3: quarter q holds their column 4q + m
    __m512 u[16];
    for (int g = 0; g < 16; g += 4) {
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (int m = 0; m < 4; m++) {
        const __m512 even01 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
        const __m512 odd01 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
        const __m512 even23 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
        const __m512 odd23 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
        v[m] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        v[4 + m] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        v[8 + m] = _mm512_shuffle_f32x4(even01, even23, 0xDD);
        v[12 + m] = _mm512_shuffle_f32x4(odd01, odd23, 0xDD);
    }
}

__attribute__((target("avx512f")))
void adv_cells_pad_plane_avx512(const float *source, long images, long image_stride, long height, long width,
                                long padding, long first_row, long rows, float *target, const float *affine) {
    ADV_CELLS_PAD_BODY(avx512, 16)
}

__attribute__((target("avx512f")))
void adv_cells_store_plane_avx512(const float *source, long count, long images, const float *addend,
                                  const float *bias, float *target, long image_stride) {
    ADV_CELLS_STORE_BODY(avx512, 16)
}

// a0 a2 b0 b2 | a4 a6 b4 b6 (a shuffle within each half) → a0 a2 a4 a6 b0 b2 b4 b6 (a permute of quarters)
__attribute__((target("avx2,fma"))) static inline __m256 load_evens_avx2(const float *s, long n, const float *end) {
    const long floats = 2 * n - 1;
    const __m256 mixed = _mm256_shuffle_ps(load_avx2(s, floats, end), load_avx2(s + 8, floats - 8, end),
                                           _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
}

// unpacklo/unpackhi interleave within each 128-bit half: x0 y0 x1 y1 | x4 y4 x5 y5 and x2 y2 x3 y3 |
// x6 y6 x7 y7; the halves are then put in order.
__attribute__((target("avx2,fma"))) static inline void interleave_avx2(__m256 x, __m256 y, __m256 *low, __m256 *high) {
    const __m256 first = _mm256_unpacklo_ps(x, y), second = _mm256_unpackhi_ps(x, y);
    *low = _mm256_permute2f128_ps(first, second, 0x20);
    *high = _mm256_permute2f128_ps(first, second, 0x31);
}

__attribute__((target("avx2,fma")))
void adv_interleave_plane_avx2(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                               float *target, long target_row_stride) {
    ADV_INTERLEAVE_PLANE_BODY(avx2, 8)
}

__attribute__((target("avx2,fma"))) static inline __m256 affine_relu_avx2(__m256 v, const float *affine) {
    v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(affine[0])), _mm256_set1_ps(affine[1]));
    return _mm256_max_ps(_mm256_setzero_ps(), v);
}

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

// Eight vectors of eight floats transposed in place: pairs interleaved, pairs of pairs, then halves.
__attribute__((target("avx2,fma"))) static inline void transpose_avx2(__m256 v[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int g = 0; g < 8; g += 4) {
        u[g] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int m = 0; m < 4; m++) {
        v[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
        v[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
    }
}

__attribute__((target("avx2,fma")))
void adv_cells_pad_plane_avx2(const float *source, long images, long image_stride, long height, long width,
                              long padding, long first_row, long rows, float *target, const float *affine) {
    ADV_CELLS_PAD_BODY(avx2, 8)
}

__attribute__((target("avx2,fma")))
void adv_cells_store_plane_avx2(const float *source, long count, long images, const float *addend,
                                const float *bias, float *target, long image_stride) {
    ADV_CELLS_STORE_BODY(avx2, 8)
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

void adv_interleave_plane_avx512(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                                 float *target, long target_row_stride) {
    adv_interleave_plane_portable(even, odd, rows, columns, source_row_stride, target, target_row_stride);
}

void adv_interleave_plane_avx2(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                               float *target, long target_row_stride) {
    adv_interleave_plane_portable(even, odd, rows, columns, source_row_stride, target, target_row_stride);
}

void adv_cells_pad_plane_avx512(const float *source, long images, long image_stride, long height, long width,
                                long padding, long first_row, long rows, float *target, const float *affine) {
    adv_cells_pad_plane_portable(source, images, image_stride, height, width, padding, first_row, rows, target,
                                 affine);
}

void adv_cells_pad_plane_avx2(const float *source, long images, long image_stride, long height, long width,
                              long padding, long first_row, long rows, float *target, const float *affine) {
    adv_cells_pad_plane_portable(source, images, image_stride, height, width, padding, first_row, rows, target,
                                 affine);
}

void adv_cells_store_plane_avx512(const float *source, long count, long images, const float *addend,
                                  const float *bias, float *target, long image_stride) {
    adv_cells_store_plane_portable(source, count, images, addend, bias, target, image_stride);
}

void adv_cells_store_plane_avx2(const float *source, long count, long images, const float *addend,
                                const float *bias, float *target, long image_stride) {
    adv_cells_store_plane_portable(source, count, images, addend, bias, target, image_stride);
}

#endif
