/// Inference on image cells (`Sequential.infer`): a chunk of at most 16 images goes from one
/// convolution to the next as planes of cells (`ImageCellConvolution`), never back in NCHW between
/// them. On the forward path every direct convolution transposes its input into cells and its output
/// back (a third of the ResNet's inference time was those copies); here the next convolution pads
/// its input from the cells as runs of floats, applying the BN → ReLU it defers, and a residual is
/// added to cells. Only the first convolution's input and the last one's output are transposed.
///
/// The sums, the BN map and the residual additions are the forward's, in the same order, so inference
/// gives each image the bits the forward gives it (tested).
struct ImageCells {
    /// (C, H, W, 16): each channel's unpadded plane of cells; lanes past `images` are unused.
    let tensor: Tensor
    let images: Int

    var channels: Int { tensor.shape[0] }
    var height: Int { tensor.shape[1] }
    var width: Int { tensor.shape[2] }

    /// The images back in NCHW: `target` resized to (images, C, H, W).
    func store(into target: Tensor) -> Tensor {
        let C = channels, HW = height * width, kernel = PlaneCopyKernel.fastest
        target.resize(to: Shape(images, C, height, width))
        for c in 0..<C {
            kernel.storeCells(tensor.data + c * HW * ImageCellConvolution.imagesPerCell, count: HW, images: images,
                              addend: nil, bias: nil, into: target.data + c * HW, imageStride: C * HW)
        }
        return target
    }
}

/// A layer that can infer on image cells: cells in, cells out.
protocol CellInferring: Layer {
    /// Whether it can now: in evaluation mode, its convolutions on the direct path.
    var infersCells: Bool { get }
    /// The output cells for `input`, owned by the layer, valid until its next inference.
    func inferCells(_ input: ImageCells) -> ImageCells
}

extension Conv2D: CellInferring {
    var infersCells: Bool { algorithm == .direct && !isTraining }

    func inferCells(_ input: ImageCells) -> ImageCells { inferCells(input, after: nil, adding: nil) }

    /// conv(activation(input)) (+ residual), all in cells.
    func inferCells(_ input: ImageCells, after activation: ChannelAffineReLU?, adding residual: ImageCells?) -> ImageCells {
        precondition(input.channels == geometry.inChannels, "Conv2D(\(geometry.inChannels) channels) got \(input.channels)")
        let cells = input.tensor.data
        return inferCells(images: input.images, height: input.height, width: input.width, residual: residual) {
            layout, rows, kept, padded in
            layout.fill(fromCells: cells, rows: rows, kept: kept, into: padded, activation: activation)
        }
    }

    /// The first convolution's: `input` (at most 16 images, N, C, H, W) into cells as it is padded.
    func inferCells(fromImages input: Tensor) -> ImageCells {
        let X = input.data
        return inferCells(images: input.shape[0], height: input.shape[2], width: input.shape[3], residual: nil) {
            layout, rows, kept, padded in
            layout.fill(from: X, images: 0..<input.shape[0], rows: rows, kept: kept, into: padded, activation: nil)
        }
    }

    /// The band loop of `cellForward`, the kernel writing straight into `cellOutput`; then the bias and
    /// the residual added to each band's cells while they are in cache (in that order, as the forward).
    private func inferCells(images: Int, height: Int, width: Int, residual: ImageCells?,
                            fill: (ImageCellConvolution, Range<Int>, Range<Int>, UnsafeMutablePointer<Float>) -> Void)
        -> ImageCells {
        let OC = geometry.outChannels, cell = ImageCellConvolution.imagesPerCell
        let layout = ImageCellConvolution(geometry, height: height, width: width)
        let OH = layout.outputHeight, OW = layout.outputWidth, planeFloats = OH * OW * cell
        precondition(images <= cell, "cell inference takes at most \(cell) images, got \(images)")
        precondition(residual.map { $0.tensor.shape == Shape(OC, OH, OW, cell) } ?? true,
                     "Conv2D residual cells \(residual!.tensor.shape) vs output (\(OC), \(OH), \(OW), \(cell))")
        DirectConvolution.pack(weight.value, of: geometry, forInputGradient: false, into: packedWeights)
        cellOutput.resize(to: Shape(OC, OH, OW, cell))
        let Y = cellOutput.data, packed = packedWeights.data, bias = bias?.value.data
        forEachPart(of: 1) { _, scratch in
            scratch.paddedPlanes.resize(to: Shape(layout.inputFloats))
            let padded = scratch.paddedPlanes.data
            layout.forEachBand { band, inputRows, kept in
                fill(layout, inputRows, kept, padded)
                let count = band.count * OW, offset = band.lowerBound * OW * cell
                layout.correlate(padded: padded, packed: packed, cells: count, into: Y + offset,
                                 outputStride: planeFloats)
                for oc in 0..<OC {
                    let out = Y + oc * planeFloats + offset
                    if let bias { for q in 0..<count * cell { out[q] += bias[oc] } }
                    if let residual {
                        Elementwise.add(out, residual.tensor.data + oc * planeFloats + offset, into: out,
                                        count: count * cell)
                    }
                }
            }
        }
        return ImageCells(tensor: cellOutput, images: images)
    }
}

extension PreActivationBlock: CellInferring {
    var infersCells: Bool {
        defersActivations && !isTraining && bn1.fusesReLU && bn2.fusesReLU
            && conv1.infersCells && conv2.infersCells && (shortcut?.infersCells ?? true)
    }

    /// The block's evaluation-mode forward (BN → ReLU deferred to the convolutions that read it), in cells.
    func inferCells(_ input: ImageCells) -> ImageCells {
        let activation1 = bn1.evaluationMap()
        let identity = shortcut?.inferCells(input, after: activation1, adding: nil) ?? input
        let hidden = conv1.inferCells(input, after: activation1, adding: nil)
        return conv2.inferCells(hidden, after: bn2.evaluationMap(), adding: identity)
    }
}
