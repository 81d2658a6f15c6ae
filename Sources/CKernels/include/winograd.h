#ifndef ADV_WINOGRAD_H
#define ADV_WINOGRAD_H

/// Winograd's minimal filtering, F(m × m, r × r) with m + r − 1 = 6 (F(2 × 2, 5 × 5) and F(4 × 4, 3 × 3)),
/// on 6 × 6 tiles with the interpolation points 0, 1, −1, 2, −2 and ∞ (Lavin & Gray, "Fast Algorithms for
/// Convolutional Neural Networks", 2016). A stride-1 correlation of an input tile d (6 × 6) with a
/// filter g (r × r) gives the m × m output tile
///
///     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
///
/// so that, once the filters and input tiles are transformed, the sum over input channels is 36
/// independent matrix products (one per point of the 6 × 6 transformed tile) and each output tile
/// costs 36 products per channel pair instead of m²·r² (100 for F(2, 5): 2.8 times fewer).
///
/// Layouts. A transformed set is point-major: point p (p = 6·a + b) of tile q sits at
/// `transformed[p·point_stride + q]`, so that a chunk of planes whose tiles lie side by side is, for each
/// point, a (channels × tiles) matrix that a GEMM reads as it is. One plane's tile (s, t) is
/// q = s·tiles_across + t from the pointer given.
///
/// The data transforms run eight tiles of a row of tiles at a time, as whole vectors:
/// - `ADV_WINOGRAD_GRID_TILES(tiles_across)` = tiles_across rounded up to a multiple of 8: a grid (the
///   padded input, an output grid, dOutput's grid) has at least m·that + 5 columns (`grid_width`).
/// - A row's last block writes (or reads) the places of up to 7 tiles past the row's end: the next
///   row's, the next plane's, or past the last plane. So the planes of a buffer are transformed in
///   increasing order of their place (the next one's first places are written after), and each
///   point's row has 7 floats of room after the last plane's tiles (point_stride ≥ tiles + 7).
#define ADV_WINOGRAD_GRID_TILES(tiles) (((tiles) + 7) / 8 * 8)

/// The filters' transform: for each point p, a (outs × ins) matrix, U[p][o][i] = (G g Gᵀ)[p] where g is
/// filter (o, i) of `weights` (out_channels, in_channels, r, r), or, with `flip_transpose`, filter
/// (i, o) turned by 180° (outs = in_channels, ins = out_channels): the filters of the input gradient.
/// Computed in double, rounded once.
void adv_winograd_filters(const float *weights, long out_channels, long in_channels, long r, int flip_transpose,
                          float *transformed);

/// The input tiles' transform, Bᵀ d B, for the tiles of one zero-padded plane (row stride
/// `plane_width`): tile (s, t) is the 6 × 6 block at row m·s, column m·t. Reads m·tiles_down + 5 rows.
void adv_winograd_input(const float *padded, long plane_width, long m, long tiles_down, long tiles_across,
                        float *transformed, long point_stride);

/// The output tiles' transform, Aᵀ M A: tile (s, t)'s m × m outputs into rows m·s …, columns m·t … of
/// `grid` (m·tiles_down rows; the grid's columns past m·tiles_across get the spare lanes' values).
void adv_winograd_output(const float *transformed, long point_stride, long m, long tiles_down, long tiles_across,
                         float *grid, long grid_width);

/// The gradient of the output transform: for each m × m tile of dOutput's grid (zeros past the
/// plane), A dY Aᵀ (6 × 6), the transformed dOutput the weight gradient multiplies with the
/// transformed inputs.
void adv_winograd_output_gradient(const float *grid, long grid_width, long m, long tiles_down, long tiles_across,
                                  float *transformed, long point_stride);

/// The gradient of the filters' transform: weight_gradient (out_channels, in_channels, r, r) +=
/// Gᵀ dU G for each filter, dU its 36 points in `transformed` (36, out_channels, in_channels).
/// Computed in double, rounded once per entry.
void adv_winograd_add_filter_gradient(const float *transformed, long out_channels, long in_channels, long r,
                                      float *weight_gradient);

#endif
