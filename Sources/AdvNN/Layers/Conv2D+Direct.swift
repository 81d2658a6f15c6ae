/// The direct path of `Conv2D` (`ConvolutionAlgorithm.direct`): each chunk of images is zero-padded once
/// and read in place by the kernels of `DirectConvolution`, with no unrolled copy; in the backward, one
/// padded copy of dOutput serves both gradients. The batch is divided as on the unrolled path (groups
/// of images spread over the threads, chunks within a group, each group's weight gradient summed in its
/// own part and the parts added in group order), so results are bit-identical for any number of threads.
extension Conv2D {
    func directForward(_ input: Tensor, residual: Tensor?, activation: ChannelAffineReLU?) {
        let OC = geometry.outChannels, H = input.shape[2], W = input.shape[3]
        DirectConvolution.pack(weight.value, of: geometry, forInputGradient: false, into: packedWeights)
        if forwardRunsOnImageCells(images: input.shape[0]) {
            cellForward(input, residual: residual, activation: activation)
            return
        }
        let X = input.data, packed = packedWeights.data
        let perChunk = DirectConvolution.imagesPerChunk(geometry, height: H, width: W)
        forEachChunk(images: input.shape[0], perChunk: perChunk) { images, _, scratch in
            let layout = DirectConvolution(geometry, height: H, width: W, images: images.count)
            scratch.paddedPlanes.resize(to: Shape(layout.inputFloats))
            scratch.product.resize(to: Shape(OC, layout.length))
            let padded = scratch.paddedPlanes.data, flat = scratch.product.data
            layout.padInput(X, images: images, into: padded, activation: activation)
            layout.correlate(padded: padded, packed: packed, into: flat)
            for (local, n) in images.enumerated() {
                for oc in 0..<OC {
                    storeOutputPlane(flat + oc * layout.length + layout.offset(image: local, row: 0),
                                     rowStride: layout.rowStride, image: n, channel: oc, residual: residual)
                }
            }
            if bias != nil { addResidual(residual, images: images) }
        }
    }

    /// Whether a forward of `images` images runs on image cells (`ImageCellConvolution`): on the direct
    /// path, with a batch and a patch large enough.
    public func forwardRunsOnImageCells(images: Int) -> Bool {
        algorithm == .direct && ImageCellConvolution.applies(to: geometry, images: images)
    }

    /// The direct forward on image cells (`ImageCellConvolution`): groups of 16 consecutive images
    /// spread over the threads, each padded into cells, correlated and stored back band by band. The
    /// same bits as the flat layout's.
    private func cellForward(_ input: Tensor, residual: Tensor?, activation: ChannelAffineReLU?) {
        let N = input.shape[0], OC = geometry.outChannels, cell = ImageCellConvolution.imagesPerCell
        let layout = ImageCellConvolution(geometry, height: input.shape[2], width: input.shape[3])
        let OW = layout.outputWidth, OHW = layout.outputHeight * OW
        let X = input.data, Y = output.data, packed = packedWeights.data
        let bias = bias?.value.data, kernel = PlaneCopyKernel.fastest
        forEachPart(of: ImageCellConvolution.cellGroups(N)) { groups, scratch in
            scratch.paddedPlanes.resize(to: Shape(layout.inputFloats))
            scratch.product.resize(to: Shape(layout.outputFloats))
            let padded = scratch.paddedPlanes.data, cells = scratch.product.data
            for group in groups {
                let images = (group * cell)..<min(N, (group + 1) * cell)
                layout.forEachBand { band, inputRows, kept in
                    layout.fill(from: X, images: images, rows: inputRows, kept: kept, into: padded,
                                activation: activation)
                    let first = band.lowerBound, count = band.count * OW
                    layout.correlate(padded: padded, packed: packed, cells: count, into: cells, outputStride: count * cell)
                    for oc in 0..<OC {
                        // the bias as it is written, then any residual in a pass (as `storeOutputPlane`)
                        let plane = (images.lowerBound * OC + oc) * OHW + first * OW
                        let addend = bias == nil ? residual.map { UnsafePointer($0.data + plane) } : nil
                        kernel.storeCells(cells + oc * count * cell, count: count, images: images.count, addend: addend,
                                          bias: bias.map { UnsafePointer($0 + oc) }, into: Y + plane,
                                          imageStride: OC * OHW)
                    }
                }
                if bias != nil { addResidual(residual, images: images) }
            }
        }
    }

    func directBackward(_ dOutput: Tensor, input: Tensor, activation: ChannelAffineReLU?, request: GradientRequest) {
        let N = input.shape[0], OC = geometry.outChannels, K = geometry.patchSize
        let H = input.shape[2], W = input.shape[3], groups = groupCount(images: N)
        if request.input {
            dInput.resize(to: input.shape)
            DirectConvolution.pack(weight.value, of: geometry, forInputGradient: true, into: packedGradientWeights)
        }
        if request.parameters {
            weightGradientParts.resize(to: Shape(groups, OC, K))
            weightGradientParts.zero()
            biasGradientParts.resize(to: Shape(groups, OC))
            biasGradientParts.zero()
        }
        let X = input.data, dY = dOutput.data, dX = dInput.data, packed = packedGradientWeights.data
        let perChunk = DirectConvolution.imagesPerChunk(geometry, height: H, width: W)
        forEachChunk(images: N, perChunk: perChunk) { images, group, scratch in
            let layout = DirectConvolution(geometry, height: H, width: W, images: images.count)
            // dOutput padded by KS − 1 − padding: what the input gradient correlates with the flipped
            // weights, and, read from `gradientOffset`, dOutput in the weight gradient's layout
            scratch.columns.resize(to: Shape(layout.gradientInputFloats))
            let paddedGradient = scratch.columns.data
            layout.padGradient(dY, images: images, into: paddedGradient)
            if request.parameters {
                // (1) dW += the padded inputs correlated with dOutput
                scratch.paddedPlanes.resize(to: Shape(layout.inputFloats))
                layout.padInput(X, images: images, into: scratch.paddedPlanes.data, activation: activation)
                layout.addWeightGradient(padded: scratch.paddedPlanes.data, paddedGradient: paddedGradient,
                                         into: weightGradientParts.data + group * OC * K)
                // (2) db[oc] += Σ dOutput[n, oc]
                addBiasGradient(of: dOutput, images: images, group: group)
            }
            guard request.input else { return }
            // (3) dInput = dOutput, padded, correlated with the flipped weights (phase by phase, strided)
            scratch.dColumns.resize(to: Shape(layout.inputGradientScratchFloats))
            layout.inputGradient(padded: paddedGradient, packed: packed, scratch: scratch.dColumns.data,
                                 images: images, into: dX)
        }
        if request.parameters && groups > 0 { addGroupGradients(groups: groups) }
    }
}
