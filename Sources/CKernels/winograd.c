#include "winograd.h"

// The data transforms run eight tiles of a tile row at a time, as vectors of eight lanes (GCC's vector
// extensions: SSE pairs on the baseline, AVX where `target_clones` compiles for it): a tile row's
// inputs, m floats apart, are loaded as m consecutive vectors and de-interleaved by shuffles, and its
// outputs interleaved back the same way. Every tile's values are formed by the same operations in the
// same order whatever lane it falls in, so a tile's bits never depend on where it sits in a row, a
// plane or a chunk. The loader picks each entry point's clone for the CPU once.
#if defined(__x86_64__) && defined(__clang__)
#define ADV_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ADV_CLONES
#endif

// Every helper is inlined into each clone, so that it is compiled for the clone's instruction set.
#define ADV_INLINE static inline __attribute__((always_inline))

typedef float lanes __attribute__((vector_size(32)));
#define LANES 8

ADV_INLINE lanes load_lanes(const float *p) { lanes v; __builtin_memcpy(&v, p, sizeof v); return v; }
ADV_INLINE void store_lanes(float *p, lanes v) { __builtin_memcpy(p, &v, sizeof v); }

// Lanes 0, m, 2m, … of the 8·m floats from p: element m·t of p for the eight tiles t.
ADV_INLINE lanes load_strided(const float *p, const long m) {
    const lanes v0 = load_lanes(p), v1 = load_lanes(p + 8);
    if (m == 2) return __builtin_shufflevector(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14);
    const lanes v2 = load_lanes(p + 16), v3 = load_lanes(p + 24);
    const lanes low = __builtin_shufflevector(v0, v1, 0, 4, 8, 12, 0, 4, 8, 12);
    const lanes high = __builtin_shufflevector(v2, v3, 0, 4, 8, 12, 0, 4, 8, 12);
    return __builtin_shufflevector(low, high, 0, 1, 2, 3, 8, 9, 10, 11);
}

// The inverse: p[m·t + l] = y[l] lane t, for the m vectors y and the eight tiles t (8·m floats).
ADV_INLINE void store_interleaved(float *p, const lanes *y, const long m) {
    if (m == 2) {
        store_lanes(p, __builtin_shufflevector(y[0], y[1], 0, 8, 1, 9, 2, 10, 3, 11));
        store_lanes(p + 8, __builtin_shufflevector(y[0], y[1], 4, 12, 5, 13, 6, 14, 7, 15));
        return;
    }
    const lanes even_low = __builtin_shufflevector(y[0], y[2], 0, 8, 1, 9, 2, 10, 3, 11);
    const lanes even_high = __builtin_shufflevector(y[0], y[2], 4, 12, 5, 13, 6, 14, 7, 15);
    const lanes odd_low = __builtin_shufflevector(y[1], y[3], 0, 8, 1, 9, 2, 10, 3, 11);
    const lanes odd_high = __builtin_shufflevector(y[1], y[3], 4, 12, 5, 13, 6, 14, 7, 15);
    store_lanes(p, __builtin_shufflevector(even_low, odd_low, 0, 8, 1, 9, 2, 10, 3, 11));
    store_lanes(p + 8, __builtin_shufflevector(even_low, odd_low, 4, 12, 5, 13, 6, 14, 7, 15));
    store_lanes(p + 16, __builtin_shufflevector(even_high, odd_high, 0, 8, 1, 9, 2, 10, 3, 11));
    store_lanes(p + 24, __builtin_shufflevector(even_high, odd_high, 4, 12, 5, 13, 6, 14, 7, 15));
}

// Bᵀ x for the points 0, 1, −1, 2, −2, ∞: the rows of Bᵀ applied to six values.
ADV_INLINE void input_points(const lanes x[6], lanes y[6]) {
    y[0] = (4.0f * x[0] - 5.0f * x[2]) + x[4];
    y[1] = (x[3] + x[4]) - 4.0f * (x[1] + x[2]);
    y[2] = (x[4] - x[3]) + 4.0f * (x[1] - x[2]);
    y[3] = (x[4] - x[2]) + 2.0f * (x[3] - x[1]);
    y[4] = (x[4] - x[2]) - 2.0f * (x[3] - x[1]);
    y[5] = (4.0f * x[1] - 5.0f * x[3]) + x[5];
}

// Aᵀ x: the m outputs of six points (row k of Aᵀ holds each finite point to the power k, and the
// point ∞ in its last row).
ADV_INLINE void output_points(const lanes x[6], lanes *y, const long m) {
    const lanes even = x[1] + x[2], odd = x[1] - x[2], even_far = x[3] + x[4], odd_far = x[3] - x[4];
    y[0] = (x[0] + even) + even_far;
    if (m == 2) {
        y[1] = (odd + 2.0f * odd_far) + x[5];
    } else {
        y[1] = odd + 2.0f * odd_far;
        y[2] = even + 4.0f * even_far;
        y[3] = (odd + 8.0f * odd_far) + x[5];
    }
}

// A y: six points from m outputs' gradients (the transpose of output_points).
ADV_INLINE void output_gradient_points(const lanes *y, lanes x[6], const long m) {
    if (m == 2) {
        x[0] = y[0];
        x[1] = y[0] + y[1];
        x[2] = y[0] - y[1];
        x[3] = y[0] + 2.0f * y[1];
        x[4] = y[0] - 2.0f * y[1];
        x[5] = y[1];
    } else {
        const lanes even = y[0] + y[2], odd = y[1] + y[3];
        const lanes even_far = y[0] + 4.0f * y[2], odd_far = 2.0f * y[1] + 8.0f * y[3];
        x[0] = y[0];
        x[1] = even + odd;
        x[2] = even - odd;
        x[3] = even_far + odd_far;
        x[4] = even_far - odd_far;
        x[5] = y[3];
    }
}

// The 36 points of eight tiles, stored or loaded as whole vectors: a row's last block also covers the
// places of the (up to seven) tiles after the row's end (see winograd.h).
ADV_INLINE void store_points(const lanes v[6][6], float *row, long point_stride) {
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) store_lanes(row + (a * 6 + b) * point_stride, v[a][b]);
}

ADV_INLINE void load_points(const float *row, long point_stride, lanes v[6][6]) {
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) v[a][b] = load_lanes(row + (a * 6 + b) * point_stride);
}

ADV_INLINE void input_tiles(const float *padded, long plane_width, const long m, long tiles_down,
                            long tiles_across, float *transformed, long point_stride) {
    for (long s = 0; s < tiles_down; s++) {
        const float *band = padded + s * m * plane_width;
        for (long t = 0; t < tiles_across; t += LANES) {
            lanes columns[6][6], v[6][6];   // columns[j] = Bᵀ · column j of the eight tiles
            for (int j = 0; j < 6; j++) {
                lanes x[6];
                for (int i = 0; i < 6; i++) x[i] = load_strided(band + i * plane_width + t * m + j, m);
                input_points(x, columns[j]);
            }
            for (int a = 0; a < 6; a++) {
                lanes x[6];
                for (int j = 0; j < 6; j++) x[j] = columns[j][a];
                input_points(x, v[a]);
            }
            store_points(v, transformed + s * tiles_across + t, point_stride);
        }
    }
}

ADV_CLONES
void adv_winograd_input(const float *padded, long plane_width, long m, long tiles_down, long tiles_across,
                        float *transformed, long point_stride) {
    if (m == 2) input_tiles(padded, plane_width, 2, tiles_down, tiles_across, transformed, point_stride);
    else input_tiles(padded, plane_width, 4, tiles_down, tiles_across, transformed, point_stride);
}

ADV_INLINE void output_tiles(const float *transformed, long point_stride, const long m, long tiles_down,
                             long tiles_across, float *grid, long grid_width) {
    for (long s = 0; s < tiles_down; s++) {
        float *band = grid + s * m * grid_width;
        for (long t = 0; t < tiles_across; t += LANES) {
            lanes v[6][6], half[6][4], y[4][4];
            load_points(transformed + s * tiles_across + t, point_stride, v);
            for (int a = 0; a < 6; a++) output_points(v[a], half[a], m);   // row a of M · A
            for (int l = 0; l < m; l++) {
                lanes x[6], column[4];
                for (int a = 0; a < 6; a++) x[a] = half[a][l];
                output_points(x, column, m);                                // column l of Aᵀ M A
                for (int k = 0; k < m; k++) y[k][l] = column[k];
            }
            for (int k = 0; k < m; k++) store_interleaved(band + k * grid_width + t * m, y[k], m);
        }
    }
}

ADV_CLONES
void adv_winograd_output(const float *transformed, long point_stride, long m, long tiles_down, long tiles_across,
                         float *grid, long grid_width) {
    if (m == 2) output_tiles(transformed, point_stride, 2, tiles_down, tiles_across, grid, grid_width);
    else output_tiles(transformed, point_stride, 4, tiles_down, tiles_across, grid, grid_width);
}

ADV_INLINE void output_gradient_tiles(const float *grid, long grid_width, const long m, long tiles_down,
                                      long tiles_across, float *transformed, long point_stride) {
    for (long s = 0; s < tiles_down; s++) {
        const float *band = grid + s * m * grid_width;
        for (long t = 0; t < tiles_across; t += LANES) {
            lanes y[4][4], half[4][6], v[6][6];
            for (int k = 0; k < m; k++)
                for (int l = 0; l < m; l++) y[k][l] = load_strided(band + k * grid_width + t * m + l, m);
            for (int k = 0; k < m; k++) output_gradient_points(y[k], half[k], m);   // row k of dY · Aᵀ
            for (int b = 0; b < 6; b++) {
                lanes x[4], column[6];
                for (int k = 0; k < m; k++) x[k] = half[k][b];
                output_gradient_points(x, column, m);                                // column b of A dY Aᵀ
                for (int a = 0; a < 6; a++) v[a][b] = column[a];
            }
            store_points(v, transformed + s * tiles_across + t, point_stride);
        }
    }
}

ADV_CLONES
void adv_winograd_output_gradient(const float *grid, long grid_width, long m, long tiles_down, long tiles_across,
                                  float *transformed, long point_stride) {
    if (m == 2) output_gradient_tiles(grid, grid_width, 2, tiles_down, tiles_across, transformed, point_stride);
    else output_gradient_tiles(grid, grid_width, 4, tiles_down, tiles_across, transformed, point_stride);
}

// G (6 × r) for the points 0, 1, −1, 2, −2, ∞: row i is the point to the powers 0 … r − 1, scaled by
// the inverse of its Lagrange denominator (1/4, −1/6, −1/6, 1/24, 1/24), and the point ∞ picks the last
// tap.
static void filter_matrix(long r, double g[6][6]) {
    static const double points[5] = {0, 1, -1, 2, -2};
    static const double scales[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};
    for (int i = 0; i < 6; i++)
        for (int l = 0; l < 6; l++) g[i][l] = 0;
    for (int i = 0; i < 5; i++) {
        double power = 1;
        for (long l = 0; l < r; l++, power *= points[i]) g[i][l] = scales[i] * power;
    }
    g[5][r - 1] = 1;
}

void adv_winograd_filters(const float *weights, long out_channels, long in_channels, long r, int flip_transpose,
                          float *transformed) {
    double g[6][6];
    filter_matrix(r, g);
    const long rr = r * r, outs = flip_transpose ? in_channels : out_channels;
    const long ins = flip_transpose ? out_channels : in_channels, point_stride = outs * ins;
    for (long o = 0; o < outs; o++) {
        for (long i = 0; i < ins; i++) {
            // filter (o, i) as the layer multiplies: the weights, or the input gradient's flipped filter
            const float *w = flip_transpose ? weights + (i * in_channels + o) * rr : weights + (o * in_channels + i) * rr;
            double filter[6][6], half[6][6];
            for (long k = 0; k < r; k++)
                for (long l = 0; l < r; l++) filter[k][l] = flip_transpose ? w[rr - 1 - (k * r + l)] : w[k * r + l];
            for (int a = 0; a < 6; a++) {          // half = G · filter (6 × r)
                for (long l = 0; l < r; l++) {
                    double sum = 0;
                    for (long k = 0; k < r; k++) sum += g[a][k] * filter[k][l];
                    half[a][l] = sum;
                }
            }
            for (int a = 0; a < 6; a++) {          // G · filter · Gᵀ (6 × 6)
                for (int b = 0; b < 6; b++) {
                    double sum = 0;
                    for (long l = 0; l < r; l++) sum += half[a][l] * g[b][l];
                    transformed[(a * 6 + b) * point_stride + o * ins + i] = (float)sum;
                }
            }
        }
    }
}

void adv_winograd_add_filter_gradient(const float *transformed, long out_channels, long in_channels, long r,
                                      float *weight_gradient) {
    double g[6][6];
    filter_matrix(r, g);
    const long rr = r * r, point_stride = out_channels * in_channels;
    for (long f = 0; f < point_stride; f++) {
        double half[6][6];                          // half = dU · G (6 × r)
        for (int a = 0; a < 6; a++) {
            for (long l = 0; l < r; l++) {
                double sum = 0;
                for (int b = 0; b < 6; b++) sum += (double)transformed[(a * 6 + b) * point_stride + f] * g[b][l];
                half[a][l] = sum;
            }
        }
        for (long k = 0; k < r; k++) {              // Gᵀ · dU · G (r × r)
            for (long l = 0; l < r; l++) {
                double sum = 0;
                for (int a = 0; a < 6; a++) sum += g[a][k] * half[a][l];
                weight_gradient[f * rr + k * r + l] += (float)sum;
            }
        }
    }
}
