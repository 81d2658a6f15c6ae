// The vector kernels of direct_convolution.c, written once over the names that file defines before
// each inclusion (ADV_VECTOR, ADV_WIDTH, ADV_LOAD, ADV_FMADD, …, the two function names); included once
// for AVX2 + FMA and once for AVX-512. No include guard: each inclusion makes one instruction set's
// kernels and undefines the names at its end.

// J output channels (4, or 1 for a single-channel output: an image's gradient) × V vectors of
// positions, for KK taps known at compile time (KS² for a whole kernel): the accumulators stay in
// registers across the unrolled kernel window. With J = 4 and V = 2, each weight broadcast feeds two
// FMAs and each input load four (wider blocks spilled registers on AVX2 and ran slower). AVX-512's 32
// registers hold V = ADV_POSITION_VECTORS = 4: sixteen independent sums, twice the FMA latency × units
// that eight only just cover. Every output's sum runs over (c, k) in the same order whatever J and V
// are, so the block shape never changes a bit of the result.
#define ADV_CORRELATE_BLOCK(J, V, KK_CONST)                                                                  \
    do {                                                                                                       \
        ADV_VECTOR a[J][V];                                                                                    \
        for (int j = 0; j < J; j++) for (int v = 0; v < V; v++) a[j][v] = ADV_ZERO();                          \
        const float *w = wb;                                                                                   \
        for (long c = 0; c < channels; c++) {                                                                  \
            const float *plane = input + c * plane_stride + q;                                                 \
            for (long k = 0; k < KK_CONST; k++, w += B) {                                                      \
                const float *at = plane + taps[k];                                                             \
                ADV_VECTOR x[V];                                                                               \
                for (int v = 0; v < V; v++) x[v] = ADV_LOAD(at + ADV_WIDTH * v);                               \
                for (int j = 0; j < J; j++) {                                                                  \
                    const ADV_VECTOR weight = ADV_BROADCAST(w + j);                                            \
                    for (int v = 0; v < V; v++) a[j][v] = ADV_FMADD(weight, x[v], a[j][v]);                    \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows && j < J; j++)                                                               \
            for (int v = 0; v < V; v++) ADV_STORE(out + j * length + q + ADV_WIDTH * v, a[j][v]);             \
    } while (0)

#define ADV_CORRELATE_ALL(KK_CONST)                                                                          \
    for (long block = 0; block * B < out_channels; block++) {                                                  \
        const float *wb = packed + block * channels * kk * B;                                                  \
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;                        \
        float *out = output + block * B * length;                                                              \
        long q = 0;                                                                                            \
        if (rows == 1) {                                                                                       \
            for (; q + 4 * ADV_WIDTH <= length; q += 4 * ADV_WIDTH) ADV_CORRELATE_BLOCK(1, 4, KK_CONST);       \
        } else {                                                                                               \
            for (; q + ADV_POSITION_VECTORS * ADV_WIDTH <= length; q += ADV_POSITION_VECTORS * ADV_WIDTH)     \
                ADV_CORRELATE_BLOCK(4, ADV_POSITION_VECTORS, KK_CONST);                                        \
            for (; q + 2 * ADV_WIDTH <= length; q += 2 * ADV_WIDTH) ADV_CORRELATE_BLOCK(4, 2, KK_CONST);       \
        }                                                                                                      \
        for (; q < length; q += ADV_WIDTH) ADV_CORRELATE_BLOCK(4, 1, KK_CONST);                                \
    }

ADV_TARGET
void ADV_CORRELATE_NAME(const float *input, long channels, long plane_stride, const long *taps, long tap_count,
                        const float *packed, long out_channels, float *output, long length) {
    const long kk = tap_count, B = ADV_DIRECT_BLOCK;
    // whole 3×3, 5×5 and 1×1 kernels, and the phases of a 3×3 stride-2 layer's input gradient (4, 2, 1)
    if (kk == 9) {
        ADV_CORRELATE_ALL(9)
    } else if (kk == 25) {
        ADV_CORRELATE_ALL(25)
    } else if (kk == 1) {
        ADV_CORRELATE_ALL(1)
    } else if (kk == 4) {
        ADV_CORRELATE_ALL(4)
    } else if (kk == 2) {
        ADV_CORRELATE_ALL(2)
    } else {
        ADV_CORRELATE_ALL(kk)
    }
}

// The image-cell kernel: ADV_CELL_IMAGES floats per position (one per image), a cell being
// ADV_CELL_VECTORS vectors. J output channels × P cells (of `count`, from `positions[i]` on): the same
// (c, k) order and fused multiply–adds per image as ADV_CORRELATE_BLOCK, so the same bits. AVX-512
// holds P = ADV_CELL_POSITIONS = 4 cells of one vector (sixteen sums, as the flat kernel); AVX2 one
// cell of two vectors (eight).
#define ADV_CELL_VECTORS (ADV_CELL_IMAGES / ADV_WIDTH)
#define ADV_CELL_BLOCK(J, P, KK_CONST)                                                                       \
    do {                                                                                                       \
        ADV_VECTOR a[J][P][ADV_CELL_VECTORS];                                                                  \
        for (int j = 0; j < J; j++)                                                                            \
            for (int p = 0; p < P; p++) for (int h = 0; h < ADV_CELL_VECTORS; h++) a[j][p][h] = ADV_ZERO();    \
        const float *w = wb;                                                                                   \
        for (long c = 0; c < channels; c++) {                                                                  \
            const float *plane = input + c * plane_stride;                                                     \
            for (long k = 0; k < KK_CONST; k++, w += B) {                                                      \
                ADV_VECTOR x[P][ADV_CELL_VECTORS];                                                             \
                for (int p = 0; p < P; p++)                                                                    \
                    for (int h = 0; h < ADV_CELL_VECTORS; h++)                                                 \
                        x[p][h] = ADV_LOAD(plane + positions[i + p] + taps[k] + ADV_WIDTH * h);                \
                for (int j = 0; j < J; j++) {                                                                  \
                    const ADV_VECTOR weight = ADV_BROADCAST(w + j);                                            \
                    for (int p = 0; p < P; p++)                                                                \
                        for (int h = 0; h < ADV_CELL_VECTORS; h++)                                             \
                            a[j][p][h] = ADV_FMADD(weight, x[p][h], a[j][p][h]);                               \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows && j < J; j++)                                                               \
            for (int p = 0; p < P; p++)                                                                        \
                for (int h = 0; h < ADV_CELL_VECTORS; h++)                                                     \
                    ADV_STORE(out + j * output_stride + (i + p) * ADV_CELL_IMAGES + ADV_WIDTH * h, a[j][p][h]); \
    } while (0)

// Every block of output channels over all `count` cells (the caller passes a band small enough for
// the core's cache), four cells at a time, then one.
#define ADV_CELL_CORRELATE_ALL(KK_CONST)                                                                     \
    for (long block = 0; block * B < out_channels; block++) {                                                  \
        const float *wb = packed + block * channels * kk * B;                                                  \
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;                        \
        float *out = output + block * B * output_stride;                                                       \
        long i = 0;                                                                                            \
        for (; i + ADV_CELL_POSITIONS <= count; i += ADV_CELL_POSITIONS)                                      \
            ADV_CELL_BLOCK(4, ADV_CELL_POSITIONS, KK_CONST);                                                   \
        for (; i < count; i++) ADV_CELL_BLOCK(4, 1, KK_CONST);                                                 \
    }

ADV_TARGET
void ADV_CELL_CORRELATE_NAME(const float *input, long channels, long plane_stride, const long *taps,
                             long kernel_size, const float *packed, long out_channels, const long *positions,
                             long count, float *output, long output_stride) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    if (kernel_size == 3) {
        ADV_CELL_CORRELATE_ALL(9)
    } else if (kernel_size == 1) {
        ADV_CELL_CORRELATE_ALL(1)
    } else if (kernel_size == 5) {
        ADV_CELL_CORRELATE_ALL(25)
    } else {
        ADV_CELL_CORRELATE_ALL(kk)
    }
}

// Four output channels × T taps (T = 3, or the 2 or 1 left at the end): per vector of positions, four
// gradient loads (rows `gradient_stride` apart) and T input loads feed 4·T FMAs; the sums are reduced
// once per run over all `length` positions.
#define ADV_WEIGHT_GRADIENT_BLOCK(T)                                                                         \
    do {                                                                                                       \
        const float *in = input + c * plane_stride;                                                            \
        ADV_VECTOR a[4][T];                                                                                    \
        for (int j = 0; j < 4; j++) for (int t = 0; t < T; t++) a[j][t] = ADV_ZERO();                          \
        for (long q = 0; q < length; q += ADV_WIDTH) {                                                         \
            ADV_VECTOR x[T];                                                                                   \
            for (int t = 0; t < T; t++) x[t] = ADV_LOAD(in + taps[k + t] + q);                                 \
            for (int j = 0; j < 4; j++) {                                                                      \
                const ADV_VECTOR gj = ADV_LOAD(g + j * gradient_stride + q);                                   \
                for (int t = 0; t < T; t++) a[j][t] = ADV_FMADD(gj, x[t], a[j][t]);                            \
            }                                                                                                  \
        }                                                                                                      \
        for (long j = 0; j < rows; j++) {                                                                      \
            float *dw = weight_gradient + ((block * B + j) * channels + c) * kk + k;                           \
            for (int t = 0; t < T; t++) dw[t] += ADV_REDUCE(a[j][t]);                                          \
        }                                                                                                      \
        k += T;                                                                                                \
    } while (0)

ADV_TARGET
void ADV_WEIGHT_GRADIENT_NAME(const float *input, long channels, long plane_stride, const long *taps,
                              long kernel_size, const float *gradient, long gradient_stride, long out_channels,
                              long length, float *weight_gradient) {
    const long kk = kernel_size * kernel_size, B = ADV_DIRECT_BLOCK;
    for (long block = 0; block * B < out_channels; block++) {
        const float *g = gradient + block * B * gradient_stride;
        const long rows = out_channels - block * B < B ? out_channels - block * B : B;
        for (long c = 0; c < channels; c++) {
            long k = 0;
            while (kk - k >= 3) ADV_WEIGHT_GRADIENT_BLOCK(3);
            if (kk - k == 2) ADV_WEIGHT_GRADIENT_BLOCK(2);
            if (kk - k == 1) ADV_WEIGHT_GRADIENT_BLOCK(1);
        }
    }
}

#undef ADV_CORRELATE_BLOCK
#undef ADV_CORRELATE_ALL
#undef ADV_CELL_VECTORS
#undef ADV_CELL_BLOCK
#undef ADV_CELL_CORRELATE_ALL
#undef ADV_CELL_POSITIONS
#undef ADV_CELL_CORRELATE_NAME
#undef ADV_WEIGHT_GRADIENT_BLOCK
#undef ADV_TARGET
#undef ADV_VECTOR
#undef ADV_WIDTH
#undef ADV_ZERO
#undef ADV_LOAD
#undef ADV_STORE
#undef ADV_BROADCAST
#undef ADV_FMADD
#undef ADV_REDUCE
#undef ADV_POSITION_VECTORS
#undef ADV_CORRELATE_NAME
#undef ADV_WEIGHT_GRADIENT_NAME
