/// Inference: an evaluation-mode forward pass that no backward follows, as predictions and accuracy
/// need. `forward` runs each layer over the whole batch, so every activation of a large batch streams
/// through memory between one layer and the next (a ResNet's 128 images of 16×28×28 are 6.4 MB).
/// `infer` runs the whole network over chunks of the batch small enough that a chunk's activations
/// stay in the core's cache from one layer to the next, and with several threads, each thread runs
/// whole chunks on a replica of its own, with no wait between layers. A chunk of 14 to 16 images
/// goes from one direct convolution to the next on image cells (CellInference.swift).
///
/// Determinism: the chunks depend on the batch and the model alone, and every chunk is computed
/// serially by the same code whichever thread runs it, so results are bit-identical for any number of
/// threads. They agree with `forward`'s to rounding (a chunk's GEMMs are narrower than the batch's).
extension Sequential {
    /// Floats of the largest activation a chunk may hold: 1 MB, a Zen 5 core's L2. Measured on the
    /// ResNet (one thread, batch 128, Zen 5; its 16 × 28 × 28 activations are 50 KB an image): chunks of
    /// 10, 20, 31, 41 and 52 images ran at 7,080, 7,400, 7,500, 7,430 and 6,970 samples/s, the whole
    /// batch at 6,550; of the powers of two, 16 beat 32 by 3–5%.
    public static let inferenceChunkBudget = 1 << 18

    /// The output for `input` in evaluation mode, computed chunk by chunk; valid until the next call.
    /// The layers keep nothing a backward could use: call `forward` before a `backward`.
    public func infer(_ input: Tensor) -> Tensor {
        precondition(!isTraining, "Sequential.infer runs in evaluation mode (isTraining = false)")
        let batch = input.shape.batchSize
        guard let perChunk = inferenceImagesPerChunk(for: input.shape) else { return forward(input) }
        let chunks = (batch + perChunk - 1) / perChunk
        inferenceOutput.resize(to: outputShape(for: input.shape))
        let perItem = inferenceOutput.shape.elementsPerItem, output = inferenceOutput.data
        let workers = min(compute.threads, chunks)
        prepareInferenceReplicas(workers)
        while inferenceChunks.count < workers { inferenceChunks.append(input.items(0..<1)) }
        compute.forEachChunk(of: chunks, maximumParts: workers) { chunkRange, part in
            let model = workers > 1 ? inferenceReplicas[part] : self, view = inferenceChunks[part]
            for chunk in chunkRange {
                let images = (chunk * perChunk)..<min(batch, (chunk + 1) * perChunk)
                view.repoint(atItems: images, of: input)
                let result = model.inferChunk(view)
                (output + images.lowerBound * perItem).update(from: result.data, count: result.count)
            }
        }
        return inferenceOutput
    }

    /// One chunk's output: the leading layers on image cells (CellInference.swift) where the chunk is
    /// one group of them (14 to 16 images) and the first layer can take it (a convolution on the direct
    /// path), every following layer that can too, and the rest from NCHW again; else `forward`. A
    /// first layer too small for cells on its own (`ImageCellConvolution.applies(to:images:)`) takes
    /// them when the next layer does: its output is then never transposed back.
    func inferChunk(_ input: Tensor) -> Tensor {
        let images = input.shape.batchSize
        guard input.shape.rank == 4, images <= ImageCellConvolution.imagesPerCell,
              ImageCellConvolution.applies(toImages: images),
              let first = layers.first as? Conv2D, first.infersCells,
              ImageCellConvolution.applies(to: first.geometry, images: images)
                || (layers.dropFirst().first as? any CellInferring)?.infersCells == true
        else { return forward(input) }
        var cells = first.inferCells(fromImages: input), next = 1
        while next < layers.count, let layer = layers[next] as? any CellInferring, layer.infersCells {
            cells = layer.inferCells(cells)
            next += 1
        }
        var activation = cells.store(into: inferenceCellImages)
        for layer in layers[next...] { activation = layer.forward(activation) }
        return activation
    }

    /// Images per chunk of `infer` for inputs of `shape`: the largest power of two whose activations
    /// stay within `inferenceChunkBudget` floats, so that batches of a power of two (32, 128, 512) cut
    /// into a power-of-two count of equal chunks, as many for each of 1, 2, 4 or 8 threads (LeNet's
    /// batch of 128 in three chunks left one of two threads idle a third of the time); nil for a batch
    /// that fits whole. Every chunk reads every weight again, so a model whose parameters do not fit in
    /// the budget too is not cut at all (`cnn-small`'s 3136 × 1024 layer, 12.8 MB, ran its inference
    /// at two thirds of the speed in chunks). Depends on the model and the batch alone, never on the
    /// thread count, so neither do the results.
    public func inferenceImagesPerChunk(for shape: Shape) -> Int? {
        guard parameterFloats <= Self.inferenceChunkBudget else { return nil }
        var largest = shape.elementsPerItem, current = shape
        for layer in layers {
            current = layer.outputShape(for: current)
            largest = max(largest, current.elementsPerItem)
        }
        var perChunk = 1
        while perChunk * 2 * largest <= Self.inferenceChunkBudget { perChunk *= 2 }
        return perChunk < shape.batchSize ? perChunk : nil
    }

    /// One serial replica per worker thread, in evaluation mode, made once and reused: they share the
    /// parameters and buffers and keep their own activations, and copy each layer's settings (a
    /// convolution's algorithm) as they were when made.
    private func prepareInferenceReplicas(_ workers: Int) {
        guard workers > 1 else { return }
        while inferenceReplicas.count < workers {
            let copy = replica()
            copy.compute = .serial
            inferenceReplicas.append(copy)
        }
        for copy in inferenceReplicas where copy.isTraining { copy.isTraining = false }
    }
}
