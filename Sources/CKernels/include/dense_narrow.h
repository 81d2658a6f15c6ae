#ifndef ADV_DENSE_NARROW_H
#define ADV_DENSE_NARROW_H

/// The backward of a narrow fully connected layer — a classifier's ten outputs — whose products have
/// one dimension of a few outputs: OpenBLAS computed the ten-class heads' two gradients at 42–64
/// GFLOP/s (one thread, Zen 4), against 100 and more on the wide layers.
///
/// Weights are (outputs, stride) row-major and activations (rows, stride), as `Linear` keeps them
/// (PyTorch's layout); each call computes the `columns` columns from the pointers it is given, so a
/// caller divides the columns among threads by offsetting the pointers. Every element is one chain of
/// fused multiply–adds in a fixed order from zero — over the rows in ascending order for the weight
/// gradient (then added to it), over the outputs in ascending order for the input gradient — whatever
/// block of columns it falls in, so any division gives the same bits and the AVX2 and AVX-512 kernels
/// agree bit for bit. The portable twins sum in the same orders without fused operations (the tests
/// compare them to rounding).
///
/// `scratch` holds outputs × (columns rounded up to a multiple of 16) floats, which the vector kernels
/// overwrite (the portable ones leave it alone).
///
/// The AVX2 kernels need AVX2 and FMA, the AVX-512 ones AVX-512 Foundation (`adv_direct_has_avx2_fma`,
/// `adv_direct_has_avx512`).

/// d_weight[o·stride + c] += Σ_n d_output[n·outputs + o] · input[n·stride + c], for o < outputs, c < columns.
void adv_narrow_weight_gradient_avx512(const float *d_output, long rows, long outputs, const float *input,
                                       long columns, long stride, float *d_weight, float *scratch);
void adv_narrow_weight_gradient_avx2(const float *d_output, long rows, long outputs, const float *input,
                                     long columns, long stride, float *d_weight, float *scratch);
void adv_narrow_weight_gradient_portable(const float *d_output, long rows, long outputs, const float *input,
                                         long columns, long stride, float *d_weight, float *scratch);

/// d_input[n·stride + c] = Σ_o d_output[n·outputs + o] · weight[o·stride + c], for n < rows, c < columns.
void adv_narrow_input_gradient_avx512(const float *d_output, long rows, long outputs, const float *weight,
                                      long columns, long stride, float *d_input, float *scratch);
void adv_narrow_input_gradient_avx2(const float *d_output, long rows, long outputs, const float *weight,
                                    long columns, long stride, float *d_input, float *scratch);
void adv_narrow_input_gradient_portable(const float *d_output, long rows, long outputs, const float *weight,
                                        long columns, long stride, float *d_input, float *scratch);

#endif
