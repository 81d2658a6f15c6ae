import CKernels

/// The Winograd path of `Conv2D` (`ConvolutionAlgorithm.winograd`, see `WinogradConvolution`). For each
/// chunk of images, on one thread: every input plane is zero-padded into a grid and its tiles
/// transformed, in the chunk's order (channel by channel, image by image), so that for each of the 36
/// points the transformed inputs are one (C × chunk's tiles) matrix; 36 single-threaded GEMMs with the
/// transformed filters give the outputs' points, and each output plane's tiles are transformed back
/// and copied out with the bias. The backward transforms dOutput's tiles to points for the weight
/// gradient (36 GEMMs with the inputs' points, summed in the group's part) and computes the input
/// gradient as the same Winograd correlation of dOutput, padded by r − 1 − P, with the flipped filters.
/// The batch is divided as on the other paths (groups of images over the threads, each group's weight
/// gradient in its own part, the parts added in group order), so results are bit-identical for any
/// number of threads.
extension Conv2D {
    /// Floats of a chunk's transformed inputs and outputs (4 MB): chunks of six images of cnn-small's
    /// second layer (32 → 64 channels, 14 × 14). Measured there (`advbench --profile`, one thread, batch
    /// 32 and 128, Zen 4): 2 MB ran the step 6–20% slower, 8 MB as fast at batch 32 and 2–10% slower at 128.
    static let winogradBudget = 1 << 20

    /// Images per chunk: as many as keep the points of their inputs and outputs in `winogradBudget`.
    func winogradImagesPerChunk(tiles: Int) -> Int {
        max(1, Self.winogradBudget / max(36 * (geometry.inChannels + geometry.outChannels) * tiles, 1))
    }

    func winogradForward(_ input: Tensor, residual: Tensor?, activation: ChannelAffineReLU?) {
        let C = geometry.inChannels, OC = geometry.outChannels, P = geometry.padding
        let H = input.shape[2], W = input.shape[3], OH = output.shape[2], OW = output.shape[3]
        let tiling = WinogradConvolution(kernelSize: geometry.kernelSize, rows: OH, columns: OW)
        WinogradConvolution.transformFilters(weight.value, of: geometry, forInputGradient: false, into: packedWeights)
        let X = input.data, filters = packedWeights.data
        forEachChunk(images: input.shape[0], perChunk: winogradImagesPerChunk(tiles: tiling.tiles)) { images, _, scratch in
            let inputStride = tiling.pointStride(planes: C * images.count)
            let outputStride = tiling.pointStride(planes: OC * images.count)
            let chunkTiles = images.count * tiling.tiles
            scratch.columns.resize(to: Shape(36, inputStride))
            scratch.product.resize(to: Shape(36, outputStride))
            scratch.paddedPlanes.resize(to: Shape(tiling.gridFloats))
            let points = scratch.columns.data, products = scratch.product.data, grid = scratch.paddedPlanes.data
            // (1) the inputs' points; (2) for each point, outputs (OC, tiles) = filters (OC, C) · inputs (C, tiles)
            transformPlanes(X, channels: C, images: images, rows: H, columns: W, padding: P, tiling: tiling,
                            activation: activation, grid: grid, into: points, pointStride: inputStride)
            Self.multiplyPoints(filters, rows: OC, inner: C, tiles: chunkTiles, points: points, pointStride: inputStride,
                                into: products, productStride: outputStride)
            // (3) each output plane back from its points, then out with the bias (and the residual)
            for oc in 0..<OC {
                for (local, n) in images.enumerated() {
                    tiling.transformOutput(products + (oc * images.count + local) * tiling.tiles,
                                           pointStride: outputStride, into: grid)
                    storeOutputPlane(grid, rowStride: tiling.gridWidth, image: n, channel: oc, residual: residual)
                }
            }
            if bias != nil { addResidual(residual, images: images) }
        }
    }

    func winogradBackward(_ dOutput: Tensor, input: Tensor, activation: ChannelAffineReLU?, request: GradientRequest) {
        let N = input.shape[0], C = geometry.inChannels, OC = geometry.outChannels, P = geometry.padding
        let H = input.shape[2], W = input.shape[3], OH = output.shape[2], OW = output.shape[3]
        let groups = groupCount(images: N), KS = geometry.kernelSize
        let tiling = WinogradConvolution(kernelSize: KS, rows: OH, columns: OW)
        let inputTiling = WinogradConvolution(kernelSize: KS, rows: H, columns: W)  // the input gradient's
        if request.input {
            dInput.resize(to: input.shape)
            WinogradConvolution.transformFilters(weight.value, of: geometry, forInputGradient: true,
                                                 into: packedGradientWeights)
        }
        if request.parameters {
            weightGradientParts.resize(to: Shape(groups, 36, OC, C))
            weightGradientParts.zero()
            biasGradientParts.resize(to: Shape(groups, OC))
            biasGradientParts.zero()
        }
        let X = input.data, dY = dOutput.data, dX = dInput.data, flipped = packedGradientWeights.data
        let perChunk = winogradImagesPerChunk(tiles: max(tiling.tiles, inputTiling.tiles))
        forEachChunk(images: N, perChunk: perChunk) { images, group, scratch in
            let count = images.count
            scratch.paddedPlanes.resize(to: Shape(max(tiling.gridFloats, inputTiling.gridFloats)))
            let grid = scratch.paddedPlanes.data
            if request.parameters {
                let inputStride = tiling.pointStride(planes: C * count)
                let gradientStride = tiling.pointStride(planes: OC * count)
                scratch.columns.resize(to: Shape(36, inputStride))
                scratch.product.resize(to: Shape(36, gradientStride))
                let points = scratch.columns.data, gradientPoints = scratch.product.data
                // (1) dOutput's points and the inputs' points, each in the order of their places
                transformPlanes(dY, channels: OC, images: images, rows: OH, columns: OW, padding: 0, tiling: tiling,
                                asOutputGradient: true, grid: grid, into: gradientPoints, pointStride: gradientStride)
                transformPlanes(X, channels: C, images: images, rows: H, columns: W, padding: P, tiling: tiling,
                                activation: activation, grid: grid, into: points, pointStride: inputStride)
                // (2) for each point: dU (OC, C) += dOutput's points (OC, tiles) · inputs' points (C, tiles)ᵀ
                let part = weightGradientParts.data + group * 36 * OC * C
                for point in 0..<36 {
                    BLAS.gemmOnThisThread(transposeB: true, m: OC, n: C, k: count * tiling.tiles,
                                          a: gradientPoints + point * gradientStride, b: points + point * inputStride,
                                          beta: 1, c: part + point * OC * C)
                }
                // (3) db[oc] += Σ dOutput[n, oc]
                addBiasGradient(of: dOutput, images: images, group: group)
            }
            guard request.input else { return }
            // (4) dInput = dOutput, padded by r − 1 − P, correlated with the flipped filters
            let gradientPadding = KS - 1 - P, chunkTiles = count * inputTiling.tiles
            let inputStride = inputTiling.pointStride(planes: OC * count)
            let outputStride = inputTiling.pointStride(planes: C * count)
            scratch.dColumns.resize(to: Shape(36, inputStride))
            scratch.columns.resize(to: Shape(36, outputStride))
            let points = scratch.dColumns.data, products = scratch.columns.data
            transformPlanes(dY, channels: OC, images: images, rows: OH, columns: OW, padding: gradientPadding,
                            tiling: inputTiling, grid: grid, into: points, pointStride: inputStride)
            Self.multiplyPoints(flipped, rows: C, inner: OC, tiles: chunkTiles, points: points, pointStride: inputStride,
                                into: products, productStride: outputStride)
            for c in 0..<C {
                for (local, n) in images.enumerated() {
                    inputTiling.transformOutput(products + (c * count + local) * inputTiling.tiles,
                                                pointStride: outputStride, into: grid)
                    PlaneCopyKernel.fastest.copy(grid, rows: H, columns: W, sourceRowStride: inputTiling.gridWidth,
                                                 columnStep: 1, into: dX + (n * C + c) * H * W, targetRowStride: W,
                                                 affine: nil)
                }
            }
        }
        if request.parameters && groups > 0 { addWinogradGroupGradients(groups: groups) }
    }

    /// The points of the planes (channels × images) of `source`, each rows × columns, zero-padded by
    /// `padding` (through `activation`'s map if any): channel by channel, image by image, the order of
    /// their places in `points`, as the transforms' whole vectors need (see `winograd.h`). The input
    /// tiles' transform, or, `asOutputGradient`, the output transform's gradient (dOutput's tiles).
    private func transformPlanes(_ source: UnsafePointer<Float>, channels: Int, images: Range<Int>, rows: Int,
                                 columns: Int, padding: Int, tiling: WinogradConvolution,
                                 activation: ChannelAffineReLU? = nil, asOutputGradient: Bool = false,
                                 grid: UnsafeMutablePointer<Float>, into points: UnsafeMutablePointer<Float>,
                                 pointStride: Int) {
        tiling.clear(grid: grid)
        for channel in 0..<channels {
            for (local, n) in images.enumerated() {
                tiling.fill(grid: grid, from: source + (n * channels + channel) * rows * columns, rows: rows,
                            columns: columns, padding: padding, activation: activation, channel: channel)
                let target = points + (channel * images.count + local) * tiling.tiles
                if asOutputGradient {
                    tiling.transformOutputGradient(grid: grid, into: target, pointStride: pointStride)
                } else {
                    tiling.transformInput(grid: grid, into: target, pointStride: pointStride)
                }
            }
        }
    }

    /// For each of the 36 points: products (rows, tiles) = filters (rows, inner) · points (inner, tiles).
    private static func multiplyPoints(_ filters: UnsafePointer<Float>, rows: Int, inner: Int, tiles: Int,
                                       points: UnsafePointer<Float>, pointStride: Int,
                                       into products: UnsafeMutablePointer<Float>, productStride: Int) {
        for point in 0..<36 {
            BLAS.gemmOnThisThread(m: rows, n: tiles, k: inner, a: filters + point * rows * inner,
                                  b: points + point * pointStride, c: products + point * productStride)
        }
    }

    /// dW += Gᵀ (Σ over groups, in group order, of their parts' points) G; the bias as on the other paths.
    private func addWinogradGroupGradients(groups: Int) {
        let count = 36 * geometry.outChannels * geometry.inChannels, parts = weightGradientParts.data
        for group in 1..<groups {
            let part = parts + group * count
            for index in 0..<count { parts[index] += part[index] }
        }
        adv_winograd_add_filter_gradient(parts, geometry.outChannels, geometry.inChannels, geometry.kernelSize,
                                         weight.gradient.data)
        addGroupBiasGradients(groups: groups)
    }
}
