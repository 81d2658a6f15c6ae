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

long adv_direct_input_floats(long channels, long plane_stride, long row_stride, long kernel_size, long length) {
    // the last plane's farthest read: the last position's vector at the last kernel row and column
    return (channels - 1) * plane_stride + length + (kernel_size - 1) * row_stride + kernel_size - 1;
}

void adv_direct_pack_weights(const float *weights, long out_channels, long in_channels, long kernel_size,
                             int flip_transpose, float *packed) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    // the packed matrix maps `outs` outputs from `ins` inputs
    const long outs = flip_transpose ? in_channels : out_channels, ins = flip_transpose ? out_channels : in_channels;
    const long blocks = (outs + B - 1) / B;
    for (long block = 0; block < blocks; block++) {
        for (long i = 0; i < ins; i++) {
            for (long k = 0; k < kk; k++) {
                for (long j = 0; j < B; j++) {
                    const long o = block * B + j;
                    float value = 0;
                    if (o < outs) {
                        value = flip_transpose ? weights[(i * in_channels + o) * kk + (kk - 1 - k)]
                                               : weights[(o * in_channels + i) * kk + k];
                    }
                    packed[((block * ins + i) * kk + k) * B + j] = value;
                }
            }
        }
    }
}

void adv_direct_correlate_portable(const float *input, long channels, long plane_stride, long row_stride,
                                   long kernel_size, const float *packed, long out_channels, float *output,
                                   long length) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    for (long o = 0; o < out_channels; o++) {
        const float *w = packed + (o / B) * channels * kk * B + o % B;
        float *out = output + o * length;
        memset(out, 0, (size_t)length * sizeof(float));
        for (long c = 0; c < channels; c++) {
            for (long kh = 0; kh < kernel_size; kh++) {
                for (long kw = 0; kw < kernel_size; kw++) {
                    const float weight = w[((c * kk) + kh * kernel_size + kw) * B];
                    const float *in = input + c * plane_stride + kh * row_stride + kw;
                    for (long q = 0; q < length; q++) out[q] += weight * in[q];
                }
            }
        }
    }
}

void adv_direct_weight_gradient_portable(const float *input, long channels, long plane_stride, long row_stride,
                                         long kernel_size, const float *gradient, long out_channels, long length,
                                         float *weight_gradient) {
    const long kk = kernel_size * kernel_size;
    for (long o = 0; o < out_channels; o++) {
        const float *g = gradient + o * length;
        for (long c = 0; c < channels; c++) {
            for (long kh = 0; kh < kernel_size; kh++) {
                for (long kw = 0; kw < kernel_size; kw++) {
                    const float *in = input + c * plane_stride + kh * row_stride + kw;
                    float sum = 0;
                    for (long q = 0; q < length; q++) sum += g[q] * in[q];
                    weight_gradient[(o * channels + c) * kk + kh * kernel_size + kw] += sum;
                }
            }
        }
    }
}

#ifdef ADV_X86

// J output channels (4, or 1 for a single-channel output: an image's gradient) × V vectors of eight
// positions, for a kernel of KS columns known at compile time: the accumulators stay in registers
// across the unrolled kernel window. With J = 4 and V = 2, each weight broadcast feeds two FMAs and
// each input load four (wider blocks spilled registers and ran slower).
#define ADV_CORRELATE_BLOCK(J, V, KS_CONST)                                                                  \
    do {                                                                                                       \
        __m256 a[J][V];                                                                                        \
        for (int j = 0; j < J; j++) for (int v = 0; v < V; v++) a[j][v] = _mm256_setzero_ps();                \
        const float *w = wb;                                                                                   \
        for (long c = 0; c < channels; c++) {                                                                  \
            const float *plane = input + c * plane_stride + q;                                                 \
            for (long kh = 0; kh < KS_CONST; kh++) {                                                           \
                const float *row = plane + kh * row_stride;                                                    \
                for (long kw = 0; kw < KS_CONST; kw++, w += B) {                                               \
                    __m256 x[V];                                                                               \
                    for (int v = 0; v < V; v++) x[v] = _mm256_loadu_ps(row + kw + 8 * v);                      \
                    for (int j = 0; j < J; j++) {                                                              \
                        const __m256 weight = _mm256_broadcast_ss(w + j);                                      \
                        for (int v = 0; v < V; v++) a[j][v] = _mm256_fmadd_ps(weight, x[v], a[j][v]);          \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows && j < J; j++)                                                               \
            for (int v = 0; v < V; v++) _mm256_storeu_ps(out + j * length + q + 8 * v, a[j][v]);               \
    } while (0)

#define ADV_CORRELATE_ALL(KS_CONST)                                                                          \
    for (long block = 0; block * B < out_channels; block++) {                                                  \
        const float *wb = packed + block * channels * kk * B;                                                  \
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;                        \
        float *out = output + block * B * length;                                                              \
        long q = 0;                                                                                            \
        if (rows == 1) {                                                                                       \
            for (; q + 32 <= length; q += 32) ADV_CORRELATE_BLOCK(1, 4, KS_CONST);                             \
        } else {                                                                                               \
            for (; q + 16 <= length; q += 16) ADV_CORRELATE_BLOCK(4, 2, KS_CONST);                             \
        }                                                                                                      \
        for (; q < length; q += 8) ADV_CORRELATE_BLOCK(4, 1, KS_CONST);                                        \
    }

__attribute__((target("avx2,fma")))
void adv_direct_correlate_avx2(const float *input, long channels, long plane_stride, long row_stride,
                               long kernel_size, const float *packed, long out_channels, float *output,
                               long length) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    if (kernel_size == 3) {
        ADV_CORRELATE_ALL(3)
    } else if (kernel_size == 5) {
        ADV_CORRELATE_ALL(5)
    } else {
        ADV_CORRELATE_ALL(kernel_size)
    }
}

__attribute__((target("avx2,fma")))
static inline float horizontal_sum(__m256 v) {
    const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
}

// Four output channels × T kernel columns (T = 3, or the 2 or 1 left at the end of a row): per eight
// positions, four gradient loads and T input loads feed 4·T FMAs; the sums are reduced once per run
// over all `length` positions.
#define ADV_WEIGHT_GRADIENT_BLOCK(T)                                                                         \
    do {                                                                                                       \
        const float *in = input + c * plane_stride + kh * row_stride + kw;                                     \
        __m256 a[4][T];                                                                                        \
        for (int j = 0; j < 4; j++) for (int t = 0; t < T; t++) a[j][t] = _mm256_setzero_ps();                \
        for (long q = 0; q < length; q += 8) {                                                                 \
            __m256 x[T];                                                                                       \
            for (int t = 0; t < T; t++) x[t] = _mm256_loadu_ps(in + q + t);                                    \
            for (int j = 0; j < 4; j++) {                                                                      \
                const __m256 gj = _mm256_loadu_ps(g + j * length + q);                                         \
                for (int t = 0; t < T; t++) a[j][t] = _mm256_fmadd_ps(gj, x[t], a[j][t]);                     \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows; j++) {                                                                      \
            float *dw = weight_gradient + ((block * B + j) * channels + c) * kk + kh * kernel_size + kw;       \
            for (int t = 0; t < T; t++) dw[t] += horizontal_sum(a[j][t]);                                      \
        }                                                                                                      \
        kw += T;                                                                                               \
    } while (0)

__attribute__((target("avx2,fma")))
void adv_direct_weight_gradient_avx2(const float *input, long channels, long plane_stride, long row_stride,
                                     long kernel_size, const float *gradient, long out_channels, long length,
                                     float *weight_gradient) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    for (long block = 0; block * B < out_channels; block++) {
        const float *g = gradient + block * B * length;
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;
        for (long c = 0; c < channels; c++) {
            for (long kh = 0; kh < kernel_size; kh++) {
                long kw = 0;
                while (kernel_size - kw >= 3) ADV_WEIGHT_GRADIENT_BLOCK(3);
                if (kernel_size - kw == 2) ADV_WEIGHT_GRADIENT_BLOCK(2);
                if (kernel_size - kw == 1) ADV_WEIGHT_GRADIENT_BLOCK(1);
            }
        }
    }
}

// AVX-512: the same blocks on vectors of sixteen. J output channels × V vectors: with J = 4 and V = 2
// eight accumulators cover the FMA latency of two units; `length` is a multiple of 16.
#define ADV_CORRELATE_BLOCK_512(J, V, KS_CONST)                                                              \
    do {                                                                                                       \
        __m512 a[J][V];                                                                                        \
        for (int j = 0; j < J; j++) for (int v = 0; v < V; v++) a[j][v] = _mm512_setzero_ps();                \
        const float *w = wb;                                                                                   \
        for (long c = 0; c < channels; c++) {                                                                  \
            const float *plane = input + c * plane_stride + q;                                                 \
            for (long kh = 0; kh < KS_CONST; kh++) {                                                           \
                const float *row = plane + kh * row_stride;                                                    \
                for (long kw = 0; kw < KS_CONST; kw++, w += B) {                                               \
                    __m512 x[V];                                                                               \
                    for (int v = 0; v < V; v++) x[v] = _mm512_loadu_ps(row + kw + 16 * v);                     \
                    for (int j = 0; j < J; j++) {                                                              \
                        const __m512 weight = _mm512_set1_ps(w[j]);                                            \
                        for (int v = 0; v < V; v++) a[j][v] = _mm512_fmadd_ps(weight, x[v], a[j][v]);          \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows && j < J; j++)                                                               \
            for (int v = 0; v < V; v++) _mm512_storeu_ps(out + j * length + q + 16 * v, a[j][v]);              \
    } while (0)

#define ADV_CORRELATE_ALL_512(KS_CONST)                                                                      \
    for (long block = 0; block * B < out_channels; block++) {                                                  \
        const float *wb = packed + block * channels * kk * B;                                                  \
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;                        \
        float *out = output + block * B * length;                                                              \
        long q = 0;                                                                                            \
        if (rows == 1) {                                                                                       \
            for (; q + 64 <= length; q += 64) ADV_CORRELATE_BLOCK_512(1, 4, KS_CONST);                         \
        } else {                                                                                               \
            for (; q + 32 <= length; q += 32) ADV_CORRELATE_BLOCK_512(4, 2, KS_CONST);                         \
        }                                                                                                      \
        for (; q < length; q += 16) ADV_CORRELATE_BLOCK_512(4, 1, KS_CONST);                                   \
    }

__attribute__((target("avx512f")))
void adv_direct_correlate_avx512(const float *input, long channels, long plane_stride, long row_stride,
                                 long kernel_size, const float *packed, long out_channels, float *output,
                                 long length) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    if (kernel_size == 3) {
        ADV_CORRELATE_ALL_512(3)
    } else if (kernel_size == 5) {
        ADV_CORRELATE_ALL_512(5)
    } else {
        ADV_CORRELATE_ALL_512(kernel_size)
    }
}

#define ADV_WEIGHT_GRADIENT_BLOCK_512(T)                                                                     \
    do {                                                                                                       \
        const float *in = input + c * plane_stride + kh * row_stride + kw;                                     \
        __m512 a[4][T];                                                                                        \
        for (int j = 0; j < 4; j++) for (int t = 0; t < T; t++) a[j][t] = _mm512_setzero_ps();                \
        for (long q = 0; q < length; q += 16) {                                                                \
            __m512 x[T];                                                                                       \
            for (int t = 0; t < T; t++) x[t] = _mm512_loadu_ps(in + q + t);                                    \
            for (int j = 0; j < 4; j++) {                                                                      \
                const __m512 gj = _mm512_loadu_ps(g + j * length + q);                                         \
                for (int t = 0; t < T; t++) a[j][t] = _mm512_fmadd_ps(gj, x[t], a[j][t]);                     \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows; j++) {                                                                      \
            float *dw = weight_gradient + ((block * B + j) * channels + c) * kk + kh * kernel_size + kw;       \
            for (int t = 0; t < T; t++) dw[t] += _mm512_reduce_add_ps(a[j][t]);                                \
        }                                                                                                      \
        kw += T;                                                                                               \
    } while (0)

__attribute__((target("avx512f")))
void adv_direct_weight_gradient_avx512(const float *input, long channels, long plane_stride, long row_stride,
                                       long kernel_size, const float *gradient, long out_channels, long length,
                                       float *weight_gradient) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    for (long block = 0; block * B < out_channels; block++) {
        const float *g = gradient + block * B * length;
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;
        for (long c = 0; c < channels; c++) {
            for (long kh = 0; kh < kernel_size; kh++) {
                long kw = 0;
                while (kernel_size - kw >= 3) ADV_WEIGHT_GRADIENT_BLOCK_512(3);
                if (kernel_size - kw == 2) ADV_WEIGHT_GRADIENT_BLOCK_512(2);
                if (kernel_size - kw == 1) ADV_WEIGHT_GRADIENT_BLOCK_512(1);
            }
        }
    }
}

#else

// Not x86: the portable twins serve (Conv2D only takes these paths where adv_direct_has_avx2_fma or
// adv_direct_has_avx512 says so).
void adv_direct_correlate_avx2(const float *input, long channels, long plane_stride, long row_stride,
                               long kernel_size, const float *packed, long out_channels, float *output,
                               long length) {
    adv_direct_correlate_portable(input, channels, plane_stride, row_stride, kernel_size, packed, out_channels,
                                  output, length);
}

void adv_direct_weight_gradient_avx2(const float *input, long channels, long plane_stride, long row_stride,
                                     long kernel_size, const float *gradient, long out_channels, long length,
                                     float *weight_gradient) {
    adv_direct_weight_gradient_portable(input, channels, plane_stride, row_stride, kernel_size, gradient,
                                        out_channels, length, weight_gradient);
}

void adv_direct_correlate_avx512(const float *input, long channels, long plane_stride, long row_stride,
                                 long kernel_size, const float *packed, long out_channels, float *output,
                                 long length) {
    adv_direct_correlate_portable(input, channels, plane_stride, row_stride, kernel_size, packed, out_channels,
                                  output, length);
}

void adv_direct_weight_gradient_avx512(const float *input, long channels, long plane_stride, long row_stride,
                                       long kernel_size, const float *gradient, long out_channels, long length,
                                       float *weight_gradient) {
    adv_direct_weight_gradient_portable(input, channels, plane_stride, row_stride, kernel_size, gradient,
                                        out_channels, length, weight_gradient);
}

#endif
