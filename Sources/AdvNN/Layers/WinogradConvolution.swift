import CKernels

/// Winograd's minimal filtering for a stride-1 convolution (see `winograd.h`): F(2 × 2, 5 × 5) for 5 × 5
/// kernels, F(4 × 4, 3 × 3) for 3 × 3 ones, both on 6 × 6 tiles. An output plane is cut into m × m
/// tiles; each tile's 6 × 6 input block and each filter are transformed to 36 points, and the sum over
/// input channels becomes, for each point, one matrix product: (outputs × inputs) filters times
/// (inputs × tiles) transformed inputs. 36 products per tile and channel pair instead of m²·r².
///
/// This struct is one plane's tiling: its tiles, and the grids the transforms read and write (a plane
/// zero-padded to whole tiles, with the room the transforms' whole vectors need).
struct WinogradConvolution {
    /// Output tile side m, and the kernel side r (m + r − 1 = 6).
    let outputTile: Int, kernelSize: Int
    let tilesDown: Int, tilesAcross: Int
    /// Floats from one row of a grid to the next: whole blocks of eight tiles, m floats each, and the
    /// input tiles' reach past them (`ADV_WINOGRAD_GRID_TILES`, and room for every transform's loads).
    let gridWidth: Int
    /// Rows of a grid: the tiles' rows and the input tiles' reach below them.
    let gridHeight: Int

    /// Whether a layer of `geometry` can compute this way: stride 1, a 3 × 3 or 5 × 5 kernel, and
    /// padding below the kernel size (so that the input gradient's padding, r − 1 − P, is not negative).
    static func applies(to geometry: ConvolutionGeometry) -> Bool {
        geometry.stride == 1 && (geometry.kernelSize == 3 || geometry.kernelSize == 5)
            && geometry.padding < geometry.kernelSize
    }

    /// The tiling of an output plane of rows × columns for a kernel of side `kernelSize`.
    init(kernelSize: Int, rows: Int, columns: Int) {
        precondition(kernelSize == 3 || kernelSize == 5, "Winograd convolution takes 3×3 or 5×5 kernels, got \(kernelSize)")
        self.kernelSize = kernelSize
        outputTile = 7 - kernelSize
        tilesDown = (rows + outputTile - 1) / outputTile
        tilesAcross = (columns + outputTile - 1) / outputTile
        let gridTiles = (tilesAcross + 7) / 8 * 8
        gridWidth = outputTile * gridTiles + 8
        gridHeight = outputTile * tilesDown + 5
    }

    /// Tiles of one plane.
    var tiles: Int { tilesDown * tilesAcross }
    /// Floats of a grid. Every transform's whole-vector loads and stores stay inside it: the farthest
    /// column read is m·(grid tiles) + 4 (the input's) and the farthest row m·tilesDown + 4.
    var gridFloats: Int { gridHeight * gridWidth }

    /// Floats from one point's matrix to the next, for `planes` planes side by side: their tiles and the
    /// room the last block's whole vectors write into.
    func pointStride(planes: Int) -> Int { planes * tiles + 8 }

    /// The filters' 36 points: (36, outputs, inputs) for the forward, or, `forInputGradient`, the flipped
    /// filters' (36, inputs, outputs).
    static func transformFilters(_ weight: Tensor, of geometry: ConvolutionGeometry, forInputGradient: Bool,
                                 into transformed: Tensor) {
        let C = geometry.inChannels, OC = geometry.outChannels
        transformed.resize(to: forInputGradient ? Shape(36, C, OC) : Shape(36, OC, C))
        adv_winograd_filters(weight.data, geometry.outChannels, geometry.inChannels, geometry.kernelSize,
                             forInputGradient ? 1 : 0, transformed.data)
    }

    /// Copies a plane of rows × columns into `grid` at row and column `padding`, through `activation`'s
    /// map for `channel` if any. The rest of the grid keeps what it held: zeros, from `clear(grid:)`.
    func fill(grid: UnsafeMutablePointer<Float>, from plane: UnsafePointer<Float>, rows: Int, columns: Int,
              padding: Int, activation: ChannelAffineReLU? = nil, channel: Int = 0) {
        PlaneCopy.copy(plane, rows: rows, columns: columns, sourceRowStride: columns, columnStep: 1,
                       into: grid + padding * gridWidth + padding, targetRowStride: gridWidth,
                       activation: activation, channel: channel)
    }

    func clear(grid: UnsafeMutablePointer<Float>) { grid.initialize(repeating: 0, count: gridFloats) }

    /// The input tiles' points of one padded plane into `transformed` (its tiles' first place).
    func transformInput(grid: UnsafePointer<Float>, into transformed: UnsafeMutablePointer<Float>, pointStride: Int) {
        adv_winograd_input(grid, gridWidth, outputTile, tilesDown, tilesAcross, transformed, pointStride)
    }

    /// One plane's output tiles from their points into `grid` (rows m·tilesDown, `gridWidth` apart).
    func transformOutput(_ transformed: UnsafePointer<Float>, pointStride: Int, into grid: UnsafeMutablePointer<Float>) {
        adv_winograd_output(transformed, pointStride, outputTile, tilesDown, tilesAcross, grid, gridWidth)
    }

    /// One plane's dOutput tiles, from its zero-padded grid (the plane at row and column 0), to points.
    func transformOutputGradient(grid: UnsafePointer<Float>, into transformed: UnsafeMutablePointer<Float>,
                                 pointStride: Int) {
        adv_winograd_output_gradient(grid, gridWidth, outputTile, tilesDown, tilesAcross, transformed, pointStride)
    }
}
