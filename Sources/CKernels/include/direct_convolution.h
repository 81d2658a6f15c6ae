#ifndef ADV_DIRECT_CONVOLUTION_H
#define ADV_DIRECT_CONVOLUTION_H

/// Direct (unrolling-free) correlation kernels for Conv2D, over "flat" planes.
///
/// A zero-padded plane of rows Wp floats apart is read as one long row: output position q = oh·Wp + ow
/// reads input q + tap[k] for each kernel element k = kh·KS + kw, where a stride-1 convolution's taps
/// are kh·Wp + kw. Computing every q in 0..<length (length a multiple of 16, at least OH·Wp) gives each
/// output row followed by Wp − OW unused columns, which the caller drops. This turns a 2-D correlation
/// into 1-D runs of contiguous, unaligned vector loads with no unrolled copy. The planes of several
/// images may lie end to end in one row, and neighbouring rows and images may share their zero padding
/// (AdvNN's DirectConvolution does both).
///
/// A stride-s convolution reads the same way from its input split into s×s phase planes (phase (a, b)
/// holds the padded input's rows a, a + s, … and columns b, b + s, …): element (kh, kw) reads phase
/// (kh mod s, kw mod s) at row kh / s and column kw / s, so its tap is that phase's offset within the
/// channel plus (kh / s)·Wp + kw / s, and every read is again contiguous.
///
/// Each kernel has a portable C twin computing the same sums (in another order); the tests compare them.
/// The AVX2 versions need a CPU with AVX2 and FMA (`adv_direct_has_avx2_fma`), the AVX-512 versions
/// AVX-512 Foundation (`adv_direct_has_avx512`).

/// Whether this CPU runs the AVX2 + FMA kernels.
int adv_direct_has_avx2_fma(void);
/// Whether this CPU runs the AVX-512 kernels (AVX-512 Foundation).
int adv_direct_has_avx512(void);

/// Every `length` is a multiple of this (the AVX-512 kernels' vector).
#define ADV_DIRECT_LENGTH_MULTIPLE 16

/// Floats an input buffer of `channels` planes must hold for the kernels to read, the largest tap
/// being `largest_tap` (the last plane's unused columns read past it; those floats must exist but their
/// values do not matter).
long adv_direct_input_floats(long channels, long plane_stride, long largest_tap, long length);

/// Output channels per packed block.
#define ADV_DIRECT_BLOCK 4

/// Packs the kernel elements `elements[0 ..< element_count]` (each an index kh·KS + kw) of weights W
/// (out_channels, in_channels, KS·KS) as the kernels read them: blocks of 4 output channels, entry
/// [block][i][t][j] = W[4·block + j][i][elements[t]], the last block padded with zeros; `packed` holds
/// ceil(out_channels/4)·4·in_channels·element_count floats. With `transpose` the roles swap, for a
/// correlation whose outputs are the input channels: entry [block][o][t][j] = W[o][4·block + j][elements[t]],
/// ceil(in_channels/4)·4·out_channels·element_count floats. Transposed with the elements in reverse
/// order, these are the weights of a stride-1 layer's input gradient (W flipped); with one phase's
/// elements, those of that phase of a strided layer's.
void adv_direct_pack_weights(const float *weights, long out_channels, long in_channels, long kernel_size,
                             const long *elements, long element_count, int transpose, float *packed);

/// output[o·length + q] = Σ_c Σ_t W[o][c][t] · input[c·plane_stride + q + taps[t]], t in that order,
/// for o < out_channels and q < length (a multiple of 16); `taps` holds `tap_count` offsets: KS² for a
/// whole kernel (t = k = kh·KS + kw), or the few elements of one phase in a strided layer's input
/// gradient; `packed` from adv_direct_pack_weights with the same elements.
void adv_direct_correlate_avx2(const float *input, long channels, long plane_stride, const long *taps,
                               long tap_count, const float *packed, long out_channels, float *output,
                               long length);
void adv_direct_correlate_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                 long tap_count, const float *packed, long out_channels, float *output,
                                 long length);
void adv_direct_correlate_portable(const float *input, long channels, long plane_stride, const long *taps,
                                   long tap_count, const float *packed, long out_channels, float *output,
                                   long length);

/// Image cells: the layout of `adv_cells_correlate`, where each position of a padded plane holds the
/// same position of ADV_CELL_IMAGES images side by side (a cell), so that a vector of positions is one
/// position of many images. A plane's padding cells are then never computed, as the flat layout's
/// unused columns and rows are (on 7×7 planes, 64 positions per 49 outputs): the kernel visits only
/// the cells it is given. A stride-s layer needs no phase planes either: its output cells simply read
/// input cells s apart.
#define ADV_CELL_IMAGES 16

/// output[o·output_stride + i·16 + l] = Σ_c Σ_k W[o][c][k] · input[c·plane_stride + positions[i] + taps[k] + l]
/// for o < out_channels, i < count and l < 16 (ADV_CELL_IMAGES): the `count` output cells whose first
/// tap is `positions[i]` (offsets in floats, multiples of 16, as are `taps`). Each image's sums are
/// the flat kernels' — the same (c, k) order with fused multiply–adds — so the bits are theirs.
void adv_cells_correlate_avx2(const float *input, long channels, long plane_stride, const long *taps,
                              long kernel_size, const float *packed, long out_channels, const long *positions,
                              long count, float *output, long output_stride);
void adv_cells_correlate_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                long kernel_size, const float *packed, long out_channels, const long *positions,
                                long count, float *output, long output_stride);
void adv_cells_correlate_portable(const float *input, long channels, long plane_stride, const long *taps,
                                  long kernel_size, const float *packed, long out_channels, const long *positions,
                                  long count, float *output, long output_stride);

/// weight_gradient[o][c][k] += Σ_q gradient[o·gradient_stride + q] · input[c·plane_stride + q + taps[k]]
/// for k < KS² and q < length (a multiple of 16). `gradient` holds ceil(out/4)·4 rows of `length`, `gradient_stride`
/// apart: rows past out_channels, and the unused positions of every row, must be zero.
void adv_direct_weight_gradient_avx2(const float *input, long channels, long plane_stride, const long *taps,
                                     long kernel_size, const float *gradient, long gradient_stride,
                                     long out_channels, long length, float *weight_gradient);
void adv_direct_weight_gradient_avx512(const float *input, long channels, long plane_stride, const long *taps,
                                       long kernel_size, const float *gradient, long gradient_stride,
                                       long out_channels, long length, float *weight_gradient);
void adv_direct_weight_gradient_portable(const float *input, long channels, long plane_stride, const long *taps,
                                         long kernel_size, const float *gradient, long gradient_stride,
                                         long out_channels, long length, float *weight_gradient);

#endif
