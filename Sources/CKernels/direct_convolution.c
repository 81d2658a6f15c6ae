#include "direct_convolution.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ADV_X86 1
#endif

int adv_direct_has_avx2_fma(void) {
#ifdef ADV_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int adv_direct_has_avx512(void) {
#ifdef ADV_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

long adv_direct_input_floats(long channels, long plane_stride, long largest_tap, long length) {
    // the last plane's farthest read: the last position's vector at the farthest tap
    return (channels - 1) * plane_stride + largest_tap + length;
}

void adv_direct_pack_weights(const float *weights, long out_channels, long in_channels, long kernel_size,
                             const long *elements, long element_count, int transpose, float *packed) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    // the packed matrix maps `outs` outputs from `ins` inputs
    const long outs = transpose ? in_channels : out_channels, ins = transpose ? out_channels : in_channels;
    const long blocks = (outs + B - 1) / B;
    for (long block = 0; block < blocks; block++) {
        for (long i = 0; i < ins; i++) {
            for (long t = 0; t < element_count; t++) {
                for (long j = 0; j < B; j++) {
                    const long o = block * B + j;
                    float value = 0;
                    if (o < outs) {
                        value = transpose ? weights[(i * in_channels + o) * kk + elements[t]]
                                          : weights[(o * in_channels + i) * kk + elements[t]];
                    }
                    packed[((block * ins + i) * element_count + t) * B + j] = value;
                }
            }
        }
    }
}

void adv_direct_correlate_portable(const float *input, long channels, long plane_stride, const long *taps,
                                   long tap_count, const float *packed, long out_channels, float *output,
                                   long length) {
    const long kk = tap_count, B = ADV_DIRECT_BLOCK;
    for (long o = 0; o < out_channels; o++) {
        const float *w = packed + (o / B) * channels * kk * B + o % B;
        float *out = output + o * length;
        memset(out, 0, (size_t)length * sizeof(float));
        for (long c = 0; c < channels; c++) {
            for (long k = 0; k < kk; k++) {
                const float weight = w[(c * kk + k) * B];
                const float *in = input + c * plane_stride + taps[k];
                for (long q = 0; q < length; q++) out[q] += weight * in[q];
            }
        }
    }
}

void adv_direct_weight_gradient_portable(const float *input, long channels, long plane_stride, const long *taps,
                                         long kernel_size, const float *gradient, long gradient_stride,
                                         long out_channels, long length, float *weight_gradient) {
    const long kk = kernel_size * kernel_size;
    for (long o = 0; o < out_channels; o++) {
        const float *g = gradient + o * gradient_stride;
        for (long c = 0; c < channels; c++) {
            for (long k = 0; k < kk; k++) {
                const float *in = input + c * plane_stride + taps[k];
                float sum = 0;
                for (long q = 0; q < length; q++) sum += g[q] * in[q];
                weight_gradient[(o * channels + c) * kk + k] += sum;
            }
        }
    }
}

void adv_cells_correlate_portable(const float *input, long channels, long plane_stride, const long *taps,
                                  long kernel_size, const float *packed, long out_channels, const long *positions,
                                  long count, float *output, long output_stride) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    for (long o = 0; o < out_channels; o++) {
        const float *w = packed + (o / B) * channels * kk * B + o % B;
        for (long i = 0; i < count; i++) {
            for (long l = 0; l < ADV_CELL_IMAGES; l++) {
                float sum = 0;
                for (long c = 0; c < channels; c++) {
                    const float *cell = input + c * plane_stride + positions[i] + l;
                    for (long k = 0; k < kk; k++) sum += w[(c * kk + k) * B] * cell[taps[k]];
                }
                output[o * output_stride + i * ADV_CELL_IMAGES + l] = sum;
            }
        }
    }
}

#ifdef ADV_X86

// The vector kernels are written once, in vector_kernels.h, over these names; it is included once per
// instruction set.

__attribute__((target("avx2,fma")))
static inline float horizontal_sum_256(__m256 v) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
}

#define ADV_TARGET __attribute__((target("avx2,fma")))
#define ADV_VECTOR __m256
#define ADV_WIDTH 8
#define ADV_ZERO() _mm256_setzero_ps()
#define ADV_LOAD(pointer) _mm256_loadu_ps(pointer)
#define ADV_STORE(pointer, vector) _mm256_storeu_ps(pointer, vector)
#define ADV_BROADCAST(pointer) _mm256_broadcast_ss(pointer)
#define ADV_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ADV_REDUCE(vector) horizontal_sum_256(vector)
#define ADV_POSITION_VECTORS 2
#define ADV_CORRELATE_NAME adv_direct_correlate_avx2
#define ADV_CELL_POSITIONS 1
#define ADV_CELL_CORRELATE_NAME adv_cells_correlate_avx2
#define ADV_WEIGHT_GRADIENT_NAME adv_direct_weight_gradient_avx2
#include "vector_kernels.h"

#define ADV_TARGET __attribute__((target("avx512f")))
#define ADV_VECTOR __m512
#define ADV_WIDTH 16
#define ADV_ZERO() _mm512_setzero_ps()
#define ADV_LOAD(pointer) _mm512_loadu_ps(pointer)
#define ADV_STORE(pointer, vector) _mm512_storeu_ps(pointer, vector)
#define ADV_BROADCAST(pointer) _mm512_set1_ps(*(pointer))
#define ADV_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ADV_REDUCE(vector) _mm512_reduce_add_ps(vector)
#define ADV_POSITION_VECTORS 4
#define ADV_CORRELATE_NAME adv_direct_correlate_avx512
#define ADV_CELL_POSITIONS 4
#define ADV_CELL_CORRELATE_NAME adv_cells_correlate_avx512
#define ADV_WEIGHT_GRADIENT_NAME adv_direct_weight_gradient_avx512
#include "vector_kernels.h"

#else

// Not x86: the portable twins serve (Conv2D only takes these paths where adv_direct_has_avx2_fma or
// adv_direct_has_avx512 says so).
void adv_direct_correlate_avx2(const float *input, long channels, long plane_stride, const long *taps,
                               long tap_count, const float *packed, long out_channels, float *output,
                               long length) {
    adv_direct_correlate_portable(input, channels, plane_stride, taps, tap_count, packed, out_channels,
                                  output, length);
}

void adv_direct_weight_gradient_avx2(const float *input, long channels, long plane_stride, const long *taps,
                                     long kernel_size, const float *gradient, long gradient_stride,
                                     long out_channels, long length, float *weight_gradient) {
    adv_direct_weight_gradient_portable(input, channels, plane_stride, taps, kernel_size, gradient,
                                        gradient_stride, out_channels, length, weight_gradient);
}

void adv_cells_correlate_avx2(const float *input, long channels, long plane_stride, const long *taps,
                              long kernel_size, const float *packed, long out_channels, const long *positions,
                              long count, float *output, long output_stride) {
    adv_cells_correlate_portable(input, channels, plane_stride, taps, kernel_size, packed, out_channels, positions,
                                 count, output, output_stride);
}

void adv_cells_correlate_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                long kernel_size, const float *packed, long out_channels, const long *positions,
                                long count, float *output, long output_stride) {
    adv_cells_correlate_portable(input, channels, plane_stride, taps, kernel_size, packed, out_channels, positions,
                                 count, output, output_stride);
}

void adv_direct_correlate_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                 long tap_count, const float *packed, long out_channels, float *output,
                                 long length) {
    adv_direct_correlate_portable(input, channels, plane_stride, taps, tap_count, packed, out_channels,
                                  output, length);
}

void adv_direct_weight_gradient_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                       long kernel_size, const float *gradient, long gradient_stride,
                                       long out_channels, long length, float *weight_gradient) {
    adv_direct_weight_gradient_portable(input, channels, plane_stride, taps, kernel_size, gradient,
                                        gradient_stride, out_channels, length, weight_gradient);
}

#endif
