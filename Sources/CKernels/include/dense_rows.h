#ifndef ADV_DENSE_ROWS_H
#define ADV_DENSE_ROWS_H

/// A fully connected layer's forward for a few rows, with no packing:
///
///     output[i·output_stride + j] = Σ_k input[i·inputs + k] · weight[j·inputs + k]  + bias[j]
///
/// for i < rows and j < outputs: the input's rows times the weights' rows (PyTorch's (out, in) layout),
/// each output one dot product of two contiguous runs. A GEMM library packs the weights into panels
/// on every call, which for a batch of 32 rows took about a sixth of the time (OpenBLAS's Haswell
/// kernel, the MLPs' inference); these kernels read both operands where they lie and keep tiles of
/// dot products in registers.
///
/// Every output is summed the same way wherever it falls in a tile: vector lanes of 16 (AVX-512) or 8
/// (AVX2) floats accumulated over k in ascending order, the last partial vector masked, then the lanes
/// added by a fixed tree, then the bias. So a call on a block of rows or columns gives the same bits as
/// the call on the whole, and the caller may divide the work among threads as it likes. The portable
/// twin sums in plain order (the tests compare the three).
///
/// The AVX2 kernel needs AVX2 and FMA, the AVX-512 one AVX-512 Foundation (`adv_direct_has_avx2_fma`,
/// `adv_direct_has_avx512`).
void adv_dense_rows_avx512(const float *input, long rows, long inputs, const float *weight, long outputs,
                           const float *bias, float *output, long output_stride);
void adv_dense_rows_avx2(const float *input, long rows, long inputs, const float *weight, long outputs,
                         const float *bias, float *output, long output_stride);
void adv_dense_rows_portable(const float *input, long rows, long inputs, const float *weight, long outputs,
                             const float *bias, float *output, long output_stride);

#endif
