#ifndef ADV_PLANE_COPIES_H
#define ADV_PLANE_COPIES_H

/// The copies that feed the direct convolution kernels: a plane of an NCHW tensor into a row of the
/// kernels' padded layout, or a strided grid of it into a phase plane, optionally through an
/// evaluation-mode BatchNorm's map and ReLU on the way.
///
/// target[r·target_row_stride + j] = f(source[r·source_row_stride + j·column_step]) for r < rows and
/// j < columns, where f(x) = x, or, with `affine` = {scale, shift}, y = x·scale + shift (a product and
/// then a sum, never fused) and then y where y is not below 0, else 0 (so −0 stays −0 and NaN stays
/// NaN): bit for bit what AdvNN's `ChannelAffineReLU.value` (an evaluation-mode BatchNorm → ReLU)
/// computes. Reads nothing past the last source float copied (within the plane it may read the floats
/// between rows) and writes nothing but the floats copied.
///
/// The AVX-512 and AVX2 versions run a row's columns as masked vectors, with no scalar tail; the
/// portable one is their twin (the tests compare them).

void adv_copy_plane_avx512(const float *source, long rows, long columns, long source_row_stride, long column_step,
                           float *target, long target_row_stride, const float *affine);
void adv_copy_plane_avx2(const float *source, long rows, long columns, long source_row_stride, long column_step,
                         float *target, long target_row_stride, const float *affine);
void adv_copy_plane_portable(const float *source, long rows, long columns, long source_row_stride, long column_step,
                             float *target, long target_row_stride, const float *affine);

/// target[r·target_row_stride + j] = source[r·source_row_stride + j] + (addend ? addend[r·target_row_stride + j]
/// : bias) for r < rows and j < columns: the direct kernels' flat output rows copied out into an NCHW
/// plane with the layer's bias, or with the residual a block adds (`addend`, laid out as the target),
/// one rounded sum each.
/// Reads and writes as adv_copy_plane does.
void adv_add_plane_avx512(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                          float bias, float *target, long target_row_stride);
void adv_add_plane_avx2(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                        float bias, float *target, long target_row_stride);
void adv_add_plane_portable(const float *source, long rows, long columns, long source_row_stride, const float *addend,
                            float bias, float *target, long target_row_stride);

/// target[r·target_row_stride + 2j] = even[r·source_row_stride + j] and target[r·target_row_stride + 2j + 1]
/// = odd[r·source_row_stride + j] for r < rows and the target columns below `columns`, where a NULL
/// `even` or `odd` reads as zeros: the rows of two phase planes merged into a plane's rows, a stride-2
/// layer's input gradient (each phase holds every other column). Reads and writes as adv_copy_plane does.
void adv_interleave_plane_avx512(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                                 float *target, long target_row_stride);
void adv_interleave_plane_avx2(const float *even, const float *odd, long rows, long columns, long source_row_stride,
                               float *target, long target_row_stride);
void adv_interleave_plane_portable(const float *even, const float *odd, long rows, long columns,
                                   long source_row_stride, float *target, long target_row_stride);

/// The copies around the image-cell kernel (`adv_cells_correlate`, ADV_CELL_IMAGES images a cell).
///
/// adv_cells_pad_plane: one channel of `images` (at most 16) images, plane l at source + l·image_stride
/// (height rows of width floats), padded by `padding` all round, rows first_row ..< first_row + rows of
/// it (a band of the (height + 2·padding) rows) into rows of (width + 2·padding) cells at `target`:
/// cell (r − first_row, j) lane l = f(source[l·image_stride + (r − padding)·width + j − padding])
/// inside the image, f as adv_copy_plane's; zero in the padding cells and the lanes past `images`.
void adv_cells_pad_plane_avx512(const float *source, long images, long image_stride, long height, long width,
                                long padding, long first_row, long rows, float *target, const float *affine);
void adv_cells_pad_plane_avx2(const float *source, long images, long image_stride, long height, long width,
                              long padding, long first_row, long rows, float *target, const float *affine);
void adv_cells_pad_plane_portable(const float *source, long images, long image_stride, long height, long width,
                                  long padding, long first_row, long rows, float *target, const float *affine);

/// adv_cells_store_plane: target[l·image_stride + i] = source[i·16 + l] + addend[l·image_stride + i]
/// (with an addend), or + *bias (with a bias and no addend), or unchanged, for l < images and
/// i < count: `count` output cells back into the images' planes, one rounded sum each.
void adv_cells_store_plane_avx512(const float *source, long count, long images, const float *addend,
                                  const float *bias, float *target, long image_stride);
void adv_cells_store_plane_avx2(const float *source, long count, long images, const float *addend,
                                const float *bias, float *target, long image_stride);
void adv_cells_store_plane_portable(const float *source, long count, long images, const float *addend,
                                    const float *bias, float *target, long image_stride);

#endif
