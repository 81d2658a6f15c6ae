import AdvNN
import AdvTestSupport
import CAllocationCounter
import Testing

#if DEBUG
/// Unoptimised builds allocate for things the optimiser removes (variadic arrays, boxed temporaries),
/// so the claim is about release builds; `make test` runs the suite with `-c release`.
private let isOptimizedBuild = false
#else
private let isOptimizedBuild = true
#endif

/// The hot training loop reuses its workspaces: after the first steps at a batch size, training steps
/// of the MLP, of cnn-small and of the pre-activation ResNet (BatchNorm, residual blocks, direct
/// convolutions forward; the backward direct for small patches, the strided layers' input gradients
/// phase by phase, and unrolled for the 64-channel stage and the larger strided layers' weight
/// gradients) make no heap allocation at all, in the layers, the loss, the optimiser, the
/// learning-rate schedule or the data pipeline. (The count is per thread, and the trainer runs on the
/// serial context, so other suites running at the same time cannot disturb it.)
@Suite struct AllocationTests {
    static func blobs() -> Dataset {
        Dataset.gaussianBlobs(classes: 3, dimensions: 12, separation: 2, spread: 1, trainCount: 256,
                              testCount: 16, seed: 1)
    }

    @Test(.enabled(if: isOptimizedBuild, "allocation counts are a property of optimised builds"))
    func mlpTrainingStepsDoNotAllocate() throws {
        try Self.expectNoAllocations(spec: ModelSpec(architecture: "mlp", inputShape: [12], classes: 3, hidden: [16, 16]),
                                     dataset: Self.blobs())
    }

    @Test(.enabled(if: isOptimizedBuild, "allocation counts are a property of optimised builds"))
    func cnnTrainingStepsDoNotAllocate() throws {
        try Self.expectNoAllocations(spec: ModelSpec(architecture: "cnn-small", inputShape: [1, 8, 8], classes: 4),
                                     dataset: ToyData.squares(trainCount: 320, testCount: 32))
    }

    @Test(.enabled(if: isOptimizedBuild, "allocation counts are a property of optimised builds"))
    func preActivationResNetTrainingStepsDoNotAllocate() throws {
        try Self.expectNoAllocations(spec: ModelSpec(architecture: "preact-resnet", inputShape: [1, 8, 8], classes: 4),
                                     dataset: ToyData.squares(trainCount: 320, testCount: 32))
    }

    static func expectNoAllocations(spec: ModelSpec, dataset: Dataset) throws {
        var config = TrainingConfig()
        config.batchSize = 32
        config.schedule = .step(milestones: [1, 2], gamma: 0.1)
        let trainer = try Trainer(spec: spec, dataset: dataset, config: config)
        try trainer.run(maximumSteps: 2)   // warm-up: workspaces reach their size
        let before = adv_thread_allocation_count()
        try trainer.run(maximumSteps: 4)
        let allocations = adv_thread_allocation_count() - before
        #expect(allocations == 0, "4 training steps made \(allocations) heap allocations")
    }

    /// Inference chunk by chunk (`Sequential.infer`, here three chunks on one thread) reuses its views,
    /// outputs and the layers' workspaces after the first call.
    @Test(.enabled(if: isOptimizedBuild, "allocation counts are a property of optimised builds"))
    func chunkedInferenceDoesNotAllocate() {
        let model = InferenceTests.network(), input = InferenceTests.batch(41)
        _ = model.infer(input)   // warm-up
        let before = adv_thread_allocation_count()
        for _ in 0..<3 { _ = model.infer(input) }
        let allocations = adv_thread_allocation_count() - before
        #expect(allocations == 0, "3 inferences made \(allocations) heap allocations")
    }

    @Test func counterSeesAllocations() {
        let before = adv_thread_allocation_count()
        var kept: [[Int]] = []
        for size in 1...3 { kept.append(Array(repeating: size, count: size * 1000)) }
        #expect(adv_thread_allocation_count() > before)
        #expect(kept.map(\.count) == [1000, 2000, 3000])
    }
}
