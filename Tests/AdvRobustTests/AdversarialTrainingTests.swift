import AdvNN
import AdvRobust
import AdvTestSupport
import Foundation
import Testing

/// PGD adversarial training: the robustness–accuracy trade-off of Tsipras et al. 2019 on their toy
/// model, and exact resumption.
@Suite struct AdversarialTrainingTests {
    /// d = 1000, p = 0.95, η = 0.1, attacked at ε = 2η = 0.2 (unbounded inputs).
    static let toy = Dataset.tsipras(dimensions: 1000, p: 0.95, eta: 0.1, trainCount: 2000, testCount: 500, seed: 11)
    static let threat = ThreatModel(norm: .linf, epsilon: 0.2, valueRange: nil)

    static func train(method: any TrainingMethod) throws -> (clean: Double, robust: Double) {
        var config = TrainingConfig()
        config.epochs = 5
        config.batchSize = 100
        config.seed = 2
        config.optimizer.learningRate = 0.01
        let trainer = try Trainer(spec: ModelSpec(architecture: "linear", inputShape: [1000], classes: 2),
                                  dataset: toy, config: config, method: method)
        try trainer.run()
        let classifier = ModelClassifier(trainer.model, classCount: 2)
        let (inputs, labels) = toy.test.batch(0..<toy.test.count)
        var rng = RandomStream(seed: 3)
        let adversarial = PGD(threatModel: threat, stepSize: 0.05, steps: 20).perturb(inputs, labels: labels, against: classifier, using: &rng)
        func accuracy(_ batch: Tensor) -> Double {
            Double(zip(classifier.predictions(batch), labels).filter { $0 == $1 }.count) / Double(labels.count)
        }
        return (accuracy(inputs), accuracy(adversarial.adversarial))
    }

    @Test func robustnessMayBeAtOddsWithAccuracy() throws {
        let standard = try Self.train(method: StandardTraining())
        #expect(standard.clean > 0.97, "standard training leans on the weak features: \(standard)")
        #expect(standard.robust < 0.1, "which ε = 2η turns against the label: \(standard)")
        let adversarial = try Self.train(method: PGDTraining(attack: PGD(threatModel: Self.threat, stepSize: 0.05, steps: 10)))
        #expect(abs(adversarial.clean - 0.95) < 0.05, "adversarial training keeps only the robust feature: \(adversarial)")
        #expect(abs(adversarial.robust - 0.95) < 0.06, "whose accuracy p survives the attack: \(adversarial)")
    }

    @Test func fastFreeTRADESAndATTABeatStandardTrainingOnRobustAccuracy() throws {
        let fast = try Self.train(method: PGDTraining.fast(threatModel: Self.threat))
        let free = try Self.train(method: FreeTraining(threatModel: Self.threat, replays: 4))
        #expect(free.robust > 0.8, "free AT: \(free)")
        let trades = try Self.train(method: TRADES(threatModel: Self.threat, beta: 6, steps: 10, stepSize: 0.05))
        #expect(fast.robust > 0.8, "fast AT: \(fast)")
        #expect(trades.robust > 0.8, "TRADES: \(trades)")
        // ATTA moves a perturbation at most one step per visit, one visit per epoch: in five epochs a
        // step of ε/2 crosses the ball from a random start (ε/4 would not: 0.056 robust)
        let atta = try Self.train(method: ATTATraining(threatModel: Self.threat, stepSize: 0.1))
        #expect(atta.robust > 0.8, "ATTA: \(atta)")
    }

    @Test(arguments: ["pgd-at", "trades", "carried-trades", "free-at", "atta", "augmented-atta"])
    func adversarialTrainingResumesBitIdentically(method name: String) throws {
        let data = ToyData.squares(trainCount: 96, testCount: 32)
        var config = TrainingConfig()
        config.epochs = 2
        config.batchSize = 16
        config.checkpointEverySteps = 4
        // the views are drawn from the training stream, which the checkpoint saves
        if name == "augmented-atta" { config.augmentation = ImageAugmentation(cropPadding: 1, horizontalFlip: true) }
        let spec = ModelSpec(architecture: "preact-resnet", inputShape: [1, 8, 8], classes: 4, widths: [4, 8])
        func method() -> any TrainingMethod {
            let threat = ThreatModel(norm: .linf, epsilon: 0.2)
            switch name {
            case "trades": return TRADES(threatModel: threat, steps: 3)
            case "carried-trades": return TRADES(threatModel: threat, steps: 1, carriesPerturbations: true)
            case "free-at": return FreeTraining(threatModel: threat, replays: 3)
            case "atta", "augmented-atta": return ATTATraining(threatModel: threat, stepSize: 0.05, steps: 2)
            default: return PGDTraining(attack: PGD(threatModel: threat, steps: 3), warmupEpochs: 1)
            }
        }
        let straight = try Trainer(spec: spec, dataset: data, config: config, method: method())
        try straight.run()
        let folder = TemporaryFolder()
        try Trainer(spec: spec, dataset: data, config: config, method: method(), checkpointFolder: folder.path).run(maximumSteps: 9)
        let resumed = try Trainer(spec: spec, dataset: data, config: config, method: method(), checkpointFolder: folder.path)
        // the stop saved step 9, mid-epoch: the method's own state (free AT's δ, ATTA's and carried
        // TRADES's perturbations, the guard) travels too
        #expect(try resumed.resumeFromLatestCheckpoint()?.hasSuffix(Trainer.checkpointName(step: 9)) == true)
        try resumed.run()
        let a = ModelCheckpoint.stateTensors(of: straight.model).map { $0.tensor.scalars.map(\.bitPattern) }
        let b = ModelCheckpoint.stateTensors(of: resumed.model).map { $0.tensor.scalars.map(\.bitPattern) }
        #expect(a == b)
    }

    @Test func tradesGradientMatchesFiniteDifferences() throws {
        // the objective through the clean pass and the parameter-sharing replica, against central
        // differences of the same objective in Double (BatchNorm-free MLP: train mode changes nothing)
        var rng = RandomStream(seed: 5)
        let model = try ModelSpec(architecture: "mlp", inputShape: [6], classes: 3, hidden: [5]).build(rng: &rng)
        let replica = model.replica()
        let inputs = Tensor(zeros: Shape(4, 6)), adversarial = Tensor(zeros: Shape(4, 6))
        for i in 0..<inputs.count { inputs[i] = rng.nextFloat(in: -1, 1); adversarial[i] = inputs[i] + rng.nextFloat(in: -1.5, 1.5) }
        let labels = [0, 2, 1, 2]
        let trades = TRADES(threatModel: ThreatModel(norm: .linf, epsilon: 1.5, valueRange: nil), beta: 8)
        for (_, parameter) in model.namedParameters { parameter.gradient.zero() }
        _ = trades.accumulateGradients(model: model, replica: replica, inputs: inputs, adversarial: adversarial, labels: labels)
        func objective() -> Double {
            let clean = model.forward(inputs).copy(), perturbed = replica.forward(adversarial)
            return Double(CrossEntropy().value(logits: clean, labels: labels))
                + 8 * Double(KLDivergence().compute(reference: clean, other: perturbed, reduction: .mean))
        }
        for (name, parameter) in model.namedParameters {
            let analytic = parameter.gradient.scalars
            for i in stride(from: 0, to: parameter.value.count, by: 3) {
                let original = parameter.value[i]
                parameter.value[i] = original + 1e-2
                let plus = objective()
                parameter.value[i] = original - 1e-2
                let minus = objective()
                parameter.value[i] = original
                let numeric = (plus - minus) / 2e-2
                #expect(abs(numeric - Double(analytic[i])) < 2e-3 + 2e-2 * abs(numeric), "\(name)[\(i)]: \(analytic[i]) vs \(numeric)")
            }
        }
    }

    /// A small MLP whose optimizer does not move it (learning rate 1e-30), and a batch of (by default
    /// two 16-pixel) images: what a method carries between its steps is then the attack's doing alone.
    static func heldStill(rng: inout RandomStream, batch: Int = 2, itemShape: [Int] = [16])
        throws -> (model: Sequential, optimizer: any Optimizer, inputs: Tensor) {
        let model = try ModelSpec(architecture: "mlp", inputShape: itemShape, classes: 3, hidden: [8]).build(rng: &rng)
        var still = OptimizerConfig()
        still.learningRate = 1e-30
        still.momentum = 0
        let inputs = Tensor(zeros: Shape([batch] + itemShape))
        for i in 0..<inputs.count { inputs[i] = rng.nextFloat(in: 0.3, 0.7) }
        return (model, still.make(for: model.namedParameters), inputs)
    }

    /// ATTA continues each example's attack where its last visit left it: with the model held still, a
    /// second visit moves the stored perturbation by at most one step, where a fresh random start
    /// would land anywhere in the ball; examples not in the batch keep theirs untouched.
    @Test func attaCarriesEachExamplesPerturbationToItsNextVisit() throws {
        var rng = RandomStream(seed: 8)
        let (model, optimizer, inputs) = try Self.heldStill(rng: &rng)
        var atta = ATTATraining(threatModel: ThreatModel(norm: .linf, epsilon: 0.2), stepSize: 0.02)
        let position = TrainingPosition(epoch: 0, totalEpochs: 2, examples: [3, 5], exampleCount: 8)
        func state() -> (perturbations: [Float], attacked: [Float]) {
            let named = Dictionary(uniqueKeysWithValues: atta.namedState.map { ($0.name, $0.tensor.scalars) })
            return (named["perturbations"]!, named["attacked"]!)
        }
        _ = atta.step(model: model, inputs: inputs, labels: [0, 2], optimizer: optimizer, rng: &rng, position: position)
        let first = state()
        #expect(first.attacked == [0, 0, 0, 1, 0, 1, 0, 0])
        #expect(first.perturbations.count == 8 * 16)
        for example in [0, 1, 2, 4, 6, 7] { #expect(first.perturbations[example * 16..<(example + 1) * 16].allSatisfy { $0 == 0 }) }
        #expect(first.perturbations.allSatisfy { abs($0) <= 0.2 + 1e-6 })
        #expect(first.perturbations[3 * 16..<4 * 16].contains { abs($0) > 0.05 }, "a random start spreads over the ball")
        _ = atta.step(model: model, inputs: inputs, labels: [0, 2], optimizer: optimizer, rng: &rng, position: position)
        let second = state()
        let moved = zip(first.perturbations, second.perturbations).map { abs($0 - $1) }.max()!
        #expect(moved <= 0.02 + 1e-6, "the second visit continues from the stored perturbation: moved \(moved)")
        #expect(moved > 0)
    }

    /// TRADES with carried perturbations continues each example's KL attack from its last visit: a
    /// second visit moves it by at most one step (its own start is within 0.001·N(0, 1) of x, so only
    /// the carry explains a perturbation that has grown past one step); without the carry it keeps
    /// nothing between steps.
    @Test func carriedTRADESContinuesEachExamplesAttack() throws {
        var rng = RandomStream(seed: 9)
        let (model, optimizer, inputs) = try Self.heldStill(rng: &rng)
        let threat = ThreatModel(norm: .linf, epsilon: 0.2)
        let position = TrainingPosition(epoch: 0, totalEpochs: 3, examples: [1, 4], exampleCount: 6)
        var trades = TRADES(threatModel: threat, steps: 1, stepSize: 0.03, carriesPerturbations: true)
        func perturbations() -> [Float] {
            Dictionary(uniqueKeysWithValues: trades.namedState.map { ($0.name, $0.tensor.scalars) })["perturbations"]!
        }
        _ = trades.step(model: model, inputs: inputs, labels: [0, 2], optimizer: optimizer, rng: &rng, position: position)
        let first = perturbations()
        _ = trades.step(model: model, inputs: inputs, labels: [0, 2], optimizer: optimizer, rng: &rng, position: position)
        let second = perturbations()
        _ = trades.step(model: model, inputs: inputs, labels: [0, 2], optimizer: optimizer, rng: &rng, position: position)
        let third = perturbations()
        for example in [0, 2, 3, 5] { #expect(third[example * 16..<(example + 1) * 16].allSatisfy { $0 == 0 }) }
        let moved = zip(first, second).map { abs($0 - $1) }.max()!
        #expect(moved > 0 && moved <= 0.03 + 1e-6, "the second visit continues from the first's perturbation: moved \(moved)")
        // three visits of one step of 0.03 each reach further than one visit can (0.03 + the start's noise)
        #expect(third.map(abs).max()! > 0.05, "the steps add up over the visits: \(third.map(abs).max()!)")
        #expect(TRADES(threatModel: threat, steps: 1).namedState.isEmpty, "TRADES without the carry keeps no state")
    }

    /// Under augmentation ATTA keeps each perturbation in the image's own coordinates: a visit that sees
    /// the image mirrored continues from the mirrored perturbation, so (the model held still) the stored
    /// one moves by at most a step; a shifted view leaves the pixels it does not show as they were.
    @Test func attaCarriesPerturbationsThroughTheViews() throws {
        var rng = RandomStream(seed: 10)
        let (model, optimizer, image) = try Self.heldStill(rng: &rng, batch: 1, itemShape: [1, 4, 4])
        var atta = ATTATraining(threatModel: ThreatModel(norm: .linf, epsilon: 0.2), stepSize: 0.02)
        func stored() -> [Float] { Dictionary(uniqueKeysWithValues: atta.namedState.map { ($0.name, $0.tensor.scalars) })["perturbations"]! }
        func visit(_ view: ImageAugmentation.View) {
            let seen = image.copy()
            ImageAugmentation.apply([view], to: seen, scratch: Tensor(zeros: Shape(0)))
            let position = TrainingPosition(epoch: 0, totalEpochs: 3, examples: [0], exampleCount: 1, views: [view])
            _ = atta.step(model: model, inputs: seen, labels: [1], optimizer: optimizer, rng: &rng, position: position)
        }
        visit(ImageAugmentation.View(dy: 0, dx: 0, flipped: false))
        let first = stored()
        #expect(first.contains { abs($0) > 0.05 }, "a random start spreads over the ball")
        visit(ImageAugmentation.View(dy: 0, dx: 0, flipped: true))
        let second = stored()
        let moved = zip(first, second).map { abs($0 - $1) }.max()!
        #expect(moved > 0 && moved <= 0.02 + 1e-6, "the mirrored visit continued the stored perturbation: moved \(moved)")
        // a view shifted down by one row (dy = -1) shows image rows 0–2; row 3 is not seen and keeps its δ
        visit(ImageAugmentation.View(dy: -1, dx: 0, flipped: false))
        let third = stored()
        #expect(Array(third[12..<16]) == Array(second[12..<16]))
        #expect(zip(second[0..<12], third[0..<12]).map { abs($0 - $1) }.max()! <= 0.02 + 1e-6)
    }

    @Test func warmupScalesTheRadius() {
        let training = PGDTraining(attack: PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.2), stepSize: 0.04, steps: 5), warmupEpochs: 2)
        let early = TrainingPosition(epoch: 0.5, totalEpochs: 10), late = TrainingPosition(epoch: 3, totalEpochs: 10)
        #expect(abs(training.attack(at: early).threatModel.epsilon - 0.05) < 1e-6)
        #expect(abs(training.attack(at: early).stepSize - 0.01) < 1e-6)
        #expect(training.attack(at: late).threatModel.epsilon == 0.2)
    }
}

/// Fast AT's guard against catastrophic overfitting, with a collapse threshold that always fires.
@Suite struct OverfittingGuardTests {
    @Test func collapseRollsBackToTheBestEpochAndStops() throws {
        let data = Dataset.gaussianBlobs(classes: 3, dimensions: 8, separation: 2, spread: 1, trainCount: 256, testCount: 64, seed: 3)
            .holdingOutValidation(64)
        var config = TrainingConfig()
        config.batchSize = 32
        config.schedule = .constant
        let spec = ModelSpec(architecture: "mlp", inputShape: [8], classes: 3, hidden: [16])
        let threat = ThreatModel(norm: .linf, epsilon: 0.3, valueRange: nil)
        func method() -> PGDTraining {
            var training = PGDTraining.fast(threatModel: threat)
            // a "collapse" of −100 points: every epoch after the first is worse than best − (−1)
            training.overfittingGuard = OverfittingGuard(probe: PGD(threatModel: threat, steps: 5), collapse: -1)
            return training
        }
        config.epochs = 3
        let guarded = try Trainer(spec: spec, dataset: data, config: config, method: method())
        try guarded.run()
        let reason = try #require(guarded.cursor.stoppedEarly)
        #expect(reason.contains("catastrophic overfitting") && reason.contains("rolled back to epoch 1"))
        #expect(guarded.cursor.history.count == 2 && guarded.isFinished)
        // the weights are those after epoch 1: what a one-epoch run of the same seed ends with
        config.epochs = 1
        let oneEpoch = try Trainer(spec: spec, dataset: data, config: config, method: method())
        try oneEpoch.run()
        #expect(ModelCheckpoint.stateTensors(of: guarded.model).map { $0.tensor.scalars }
                == ModelCheckpoint.stateTensors(of: oneEpoch.model).map { $0.tensor.scalars })

        // with a weight average, the rollback restarts it from the restored weights: the run reports
        // the epoch the guard kept, not an average that still holds the rejected ones
        config.epochs = 3
        config.weightAveraging = WeightAveraging(decay: 0.9)
        let averaged = try Trainer(spec: spec, dataset: data, config: config, method: method())
        try averaged.run()
        #expect(averaged.cursor.stoppedEarly != nil)
        #expect(ModelCheckpoint.stateTensors(of: averaged.outputModel).map { $0.tensor.scalars }
                == ModelCheckpoint.stateTensors(of: oneEpoch.model).map { $0.tensor.scalars })
    }
}
