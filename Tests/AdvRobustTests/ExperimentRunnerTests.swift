import AdvNN
import AdvRobust
import AdvTestSupport
import Foundation
import Testing

/// `advd run`'s engine: files written, and an interrupted run — in training or in evaluation —
/// resumed to bit-identical results.
@Suite struct ExperimentRunnerTests {
    static let manifestText = """
        name: tiny
        seed: 3
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}
        model: {architecture: mlp, hidden: [16]}
        train: {epochs: 3, batch_size: 32, checkpoint_every: 5}
        threat_model: {norm: linf, epsilon: 0.5}
        evaluation:
          batch_size: 16
          attacks:
            - {name: pgd, steps: 5}
            - {name: fgsm}
          epsilon_curve: [0.25, 0.5]
          sanity_checks: {probe_examples: 30}
        """

    static func folder() -> String {
        NSTemporaryDirectory() + "advd-run-" + UUID().uuidString
    }

    /// The metrics without wall-clock fields.
    static func timeless(_ metrics: RunMetrics) -> RunMetrics {
        var copy = metrics
        copy.timings = Timings(trainingSeconds: 0, evaluationSeconds: 0, totalSeconds: 0)
        for index in copy.epochs.indices { copy.epochs[index].seconds = 0; copy.epochs[index].samplesPerSecond = 0 }
        for index in copy.evaluation.attacks.indices { copy.evaluation.attacks[index].seconds = 0 }
        return copy
    }

    @Test func writesTheResultFiles() throws {
        let out = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let manifest = try ExperimentManifest.parse(yaml: Self.manifestText, source: "tiny.yaml")
        var phases: [RunPhase] = []
        let result = try ExperimentRunner(manifest: manifest, outputFolder: out).run { if case let .phase(phase, _) = $0 { phases.append(phase) } }
        #expect(phases == [.loading, .training, .evaluating(attack: 1, of: 2), .evaluating(attack: 2, of: 2), .epsilonCurve,
                           .sanityChecks, .writing])
        for file in ["metrics.json", "report.md", "model.safetensors", "evaluation-state.json", "adversarial.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        #expect(!Trainer.checkpoints(in: out + "/checkpoints").isEmpty)
        let metrics = result.metrics
        #expect(metrics.epochs.count == 3 && metrics.evaluation.examples == 60)
        #expect(metrics.manifest.evaluation.attacks[0].float("step_size") == 0.125)   // defaults echoed
        let json = try String(contentsOfFile: out + "/metrics.json", encoding: .utf8)
        #expect(try JSONCoding.decode(RunMetrics.self, from: json) == metrics)
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(report.contains("L∞ ε = 0.5, unbounded inputs") && report.contains("| **worst case** |"))
        #expect(report.contains(", 1 thread.") && !report.contains("1 threads"))
        #expect(report.contains("keeps **\(ClaimedPercent.text(metrics.evaluation.worstCaseRobustAccuracy))** accuracy"))
        // what produced the numbers: processor, BLAS build, kernel and why, threads
        #expect(metrics.machine.kernel == BLAS.coreName && metrics.machine.blas.hasPrefix("OpenBLAS") && metrics.machine.threads == 1)
        #expect(metrics.machine.cpu == CPUFeatures.current.description && !metrics.machine.kernelNote.isEmpty)
        #expect(report.contains("Machine: \(metrics.machine.cpu); \(metrics.machine.blas); "))
        let (model, spec) = try ModelCheckpoint.load(from: out + "/model.safetensors")
        #expect(spec == metrics.model && model.layers.count == 4)
    }

    /// With `weight_averaging`, the run saves, evaluates and reports the average, and says so.
    @Test func theWeightAverageIsTheModelTheRunSavesAndReports() throws {
        let out = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let text = Self.manifestText.replacingOccurrences(of: "checkpoint_every: 5}", with: "checkpoint_every: 5, weight_averaging: {decay: 0.9}}")
        let manifest = try ExperimentManifest.parse(yaml: text, source: "tiny-ema.yaml")
        _ = try ExperimentRunner(manifest: manifest, outputFolder: out).run()
        let saved = try SafeTensors.read(from: out + "/model.safetensors")
        let checkpoint = try SafeTensors.read(from: try #require(Trainer.checkpoints(in: out + "/checkpoints").last))
        #expect(saved.tensors.count == 4)
        for name in saved.tensors.keys {
            #expect(saved.tensors[name]?.scalars == checkpoint.tensors["average." + name]?.scalars, "\(name) is the average's")
            #expect(saved.tensors[name]?.scalars != checkpoint.tensors[name]?.scalars, "\(name) is not the last trained weights")
        }
        for report in ["report.md", "report.html"] {
            let text = try String(contentsOfFile: out + "/" + report, encoding: .utf8)
            #expect(text.contains("exponential moving average of the trained weights (decay 0.9)"), "\(report)")
        }
    }

    /// adversarial.safetensors lets anyone re-check the claim: inputs within ε of the clean ones, and the
    /// saved model's predictions on them give exactly the reported worst case.
    @Test func theAdversarialExamplesReproduceTheWorstCase() throws {
        let out = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let manifest = try ExperimentManifest.parse(yaml: Self.manifestText, source: "tiny.yaml")
        let report = try ExperimentRunner(manifest: manifest, outputFolder: out).run().metrics.evaluation
        let file = try SafeTensors.read(from: out + "/adversarial.safetensors")
        let inputs = try #require(file.tensors["inputs"]), norms = try #require(file.tensors["perturbation_norm"])
        let labels = try #require(file.integers["labels"]).values, brokenBy = try #require(file.integers["broken_by"]).values
        let predictions = try #require(file.integers["predictions"]).values
        #expect(inputs.shape.dimensions == [60, 8] && file.integers["indices"]?.values == (0..<60).map(Int64.init))
        #expect(file.metadata["norm"] == "linf" && file.metadata["epsilon"] == "0.5")
        // the saved model classifies the saved inputs as the file says, and that is the worst case
        let (model, _) = try ModelCheckpoint.load(from: out + "/model.safetensors")
        let recomputed = ModelClassifier(model, classCount: 3).predictions(inputs)
        #expect(recomputed.map(Int64.init) == predictions)
        let correct = zip(predictions, labels).filter { $0 == $1 }.count
        #expect(Double(correct) / 60 == report.worstCaseRobustAccuracy)
        // every perturbation within ε, and zero exactly where no attack broke the example
        let data = try Registries.standard.datasets.make(manifest.dataset, context: NoContext())
            .loadUntrimmed(seed: manifest.seed)
        let clean = manifest.dataset.trimmed(data).test
        for example in 0..<60 {
            var norm: Float = 0
            for value in 0..<8 { norm = max(norm, abs(inputs[example * 8 + value] - clean.inputs[example * 8 + value])) }
            #expect(norm <= 0.5 + 1e-6 && abs(norm - norms[example]) < 1e-6)
            #expect((brokenBy[example] == -1) == (norm == 0), "example \(example)")
        }
        let brokenPerAttack = (0..<2).map { attack in brokenBy.filter { $0 == Int64(attack) }.count }
        #expect(brokenPerAttack == report.attacks.map(\.newlyBroken))
    }

    /// A model saved from PyTorch (its `state_dict` names, no advd metadata) is evaluated when the
    /// manifest names its architecture, and gives the same results as the run that trained it; a file
    /// of another shape is refused naming the first tensor that does not fit.
    @Test func weightsSavedByPyTorchAreEvaluatedUnderTheNamedArchitecture() throws {
        let trainedFolder = Self.folder(), evaluatedFolder = Self.folder()
        defer {
            try? FileManager.default.removeItem(atPath: trainedFolder)
            try? FileManager.default.removeItem(atPath: evaluatedFolder)
        }
        let trained = try ExperimentRunner(manifest: try ExperimentManifest.parse(yaml: Self.manifestText, source: "tiny.yaml"),
                                           outputFolder: trainedFolder).run()
        // what safetensors.torch.save_file(model.state_dict(), path, metadata={"format": "pt"}) writes
        let advdFile = try SafeTensors.read(from: trainedFolder + "/model.safetensors")
        #expect(Set(advdFile.tensors.keys) == ["1.weight", "1.bias", "3.weight", "3.bias"])
        let pytorchPath = trainedFolder + "/pytorch.safetensors"
        try SafeTensors(tensors: advdFile.tensors, metadata: ["format": "pt"]).write(to: pytorchPath)

        func evaluation(hidden: Int) -> String {
            Self.manifestText.replacingOccurrences(of: "model: {architecture: mlp, hidden: [16]}",
                                                   with: "model: {architecture: mlp, hidden: [\(hidden)], weights: \(pytorchPath)}")
                .replacingOccurrences(of: "train: {epochs: 3, batch_size: 32, checkpoint_every: 5}\n", with: "")
        }
        let manifest = try ExperimentManifest.parse(yaml: evaluation(hidden: 16), source: "evaluate.yaml")
        #expect(manifest.train == nil && manifest.model.architecture?.name == "mlp")
        let evaluated = try ExperimentRunner(manifest: manifest, outputFolder: evaluatedFolder).run()
        #expect(Self.timeless(evaluated.metrics).evaluation == Self.timeless(trained.metrics).evaluation)

        let wrong = try ExperimentManifest.parse(yaml: evaluation(hidden: 32), source: "wrong.yaml")
        expectError(containing: ["pytorch.safetensors: tensor 1.weight has shape [16, 8], expected [32, 8]", "mlp(hidden: [32])",
                                 "PyTorch key layouts"]) {
            _ = try ExperimentRunner(manifest: wrong, outputFolder: evaluatedFolder + "-wrong").run()
        }
    }

    @Test func interruptedRunsResumeToIdenticalResults() throws {
        let manifest = try ExperimentManifest.parse(yaml: Self.manifestText, source: "tiny.yaml")
        let straightFolder = Self.folder(), resumedFolder = Self.folder()
        defer {
            try? FileManager.default.removeItem(atPath: straightFolder)
            try? FileManager.default.removeItem(atPath: resumedFolder)
        }
        let straight = try ExperimentRunner(manifest: manifest, outputFolder: straightFolder).run()

        // Interrupted in evaluation: snapshot the state file in the middle of the first attack, finish,
        // then put the snapshot back (as if the process had died there) and run again.
        var snapshot: Data?
        let runner = ExperimentRunner(manifest: manifest, outputFolder: resumedFolder)
        _ = try runner.run { progress in
            if case let .evaluation(_, _, _, batch, _) = progress, batch == 2, snapshot == nil {
                snapshot = FileManager.default.contents(atPath: resumedFolder + "/evaluation-state.json")
            }
        }
        // as if the stopped process had attacked for 1,000 s before it saved the state: the resumed
        // run's evaluation time counts them
        let snapshotData = try #require(snapshot)
        var saved = try #require(JSONSerialization.jsonObject(with: snapshotData) as? [String: Any])
        var state = try #require(saved["state"] as? [String: Any])
        state["currentSeconds"] = try #require(state["currentSeconds"] as? Double) + 1000
        saved["state"] = state
        try JSONSerialization.data(withJSONObject: saved).write(to: URL(fileURLWithPath: resumedFolder + "/evaluation-state.json"))
        var resumedFromEvaluation = false
        let afterEvaluationCrash = try runner.run { if case let .phase(_, text) = $0, text.contains("resumed at batch") { resumedFromEvaluation = true } }
        #expect(resumedFromEvaluation)
        #expect(Self.timeless(afterEvaluationCrash.metrics) == Self.timeless(straight.metrics))
        #expect(afterEvaluationCrash.metrics.timings.evaluationSeconds > 1000)
        #expect(afterEvaluationCrash.metrics.evaluation.attacks[0].seconds > 1000)
        // the adversarial examples logged after the snapshot were dropped and found again, once
        let adversarial = FileManager.default.contents(atPath: straightFolder + "/adversarial.safetensors")
        #expect(adversarial != nil && adversarial == FileManager.default.contents(atPath: resumedFolder + "/adversarial.safetensors"))

        // Interrupted in training: keep only the oldest checkpoint and no evaluation state.
        let checkpoints = Trainer.checkpoints(in: resumedFolder + "/checkpoints")
        for path in checkpoints.dropFirst() { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.removeItem(atPath: resumedFolder + "/evaluation-state.json")
        let afterTrainingCrash = try runner.run()
        #expect(Self.timeless(afterTrainingCrash.metrics) == Self.timeless(straight.metrics))
        let a = FileManager.default.contents(atPath: straightFolder + "/model.safetensors")
        #expect(a != nil && a == FileManager.default.contents(atPath: resumedFolder + "/model.safetensors"))
    }

    /// Robust self-training on blobs: 120 labelled examples, a pool of 360 drawn beyond them.
    static let selfTrainingManifest = """
        name: tiny-rst
        seed: 3
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 120, test_examples: 60}
        model: {architecture: mlp, hidden: [16]}
        train:
          method: pgd-at
          attack: {steps: 3}
          self_training: {pool: {count: 360}, teacher: {epochs: 3}, ratio: 1, weight: 0.5}
          epochs: 2
          batch_size: 30
          checkpoint_every: 3
        threat_model: {norm: linf, epsilon: 0.3}
        evaluation:
          attacks: [{name: pgd, steps: 5}]
          sanity_checks: false
        """

    @Test func selfTrainingPseudoLabelsThePoolAndResumesToIdenticalResults() throws {
        let manifest = try ExperimentManifest.parse(yaml: Self.selfTrainingManifest, source: "rst.yaml")
        let straightFolder = Self.folder(), resumedFolder = Self.folder()
        defer {
            try? FileManager.default.removeItem(atPath: straightFolder)
            try? FileManager.default.removeItem(atPath: resumedFolder)
        }
        let straight = try ExperimentRunner(manifest: manifest, outputFolder: straightFolder).run()
        let summary = try #require(straight.metrics.selfTraining)
        // a tenth of the 120 labelled examples is held out for validation
        #expect(summary.poolExamples == 360 && straight.metrics.dataset.trainExamples == 108
                && straight.metrics.dataset.validationExamples == 12)
        // separable blobs: the teacher labels most of the pool correctly, and every class occurs
        #expect(try #require(summary.pseudoLabelAccuracy) > 0.8)
        #expect(summary.pseudoLabelClassShares.allSatisfy { $0 > 0.15 })
        // 4 labelled batches of 30, each followed by one pool batch: 8 steps an epoch
        let checkpoints = Trainer.checkpoints(in: straightFolder + "/checkpoints")
        #expect(checkpoints.last?.hasSuffix(Trainer.checkpointName(step: 16)) == true)
        #expect(straight.metrics.epochs.allSatisfy { $0.heldOutRobustAccuracy != nil })
        let report = try String(contentsOfFile: straightFolder + "/report.md", encoding: .utf8)
        #expect(report.contains("pseudo-labelled 360 unlabelled examples"))

        // Interrupted twice over: the teacher's last checkpoint and saved model are gone (it resumes at
        // step 9 of 12), and adversarial training keeps only its step-15 checkpoint (mid-epoch, one
        // labelled and one pool batch lost). The teacher ends identical, so it labels the pool
        // identically, and training resumes to the same weights.
        let runner = ExperimentRunner(manifest: manifest, outputFolder: resumedFolder)
        _ = try runner.run()
        let teacherCheckpoints = Trainer.checkpoints(in: resumedFolder + "/teacher/checkpoints")
        #expect(teacherCheckpoints.map { ($0 as NSString).lastPathComponent } == ["step-00000009.safetensors", "step-00000012.safetensors"])
        try FileManager.default.removeItem(atPath: teacherCheckpoints[1])
        try FileManager.default.removeItem(atPath: resumedFolder + "/teacher/model.safetensors")
        let trainingCheckpoints = Trainer.checkpoints(in: resumedFolder + "/checkpoints")
        #expect(trainingCheckpoints.first?.hasSuffix(Trainer.checkpointName(step: 15)) == true)
        for path in trainingCheckpoints.dropFirst() { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.removeItem(atPath: resumedFolder + "/evaluation-state.json")
        let resumed = try runner.run()
        #expect(Self.timeless(resumed.metrics) == Self.timeless(straight.metrics))
        #expect(FileManager.default.contents(atPath: resumedFolder + "/model.safetensors")
                == FileManager.default.contents(atPath: straightFolder + "/model.safetensors"))
    }

    @Test func jobReferencesNeedTheDaemon() throws {
        let text = Self.manifestText.replacingOccurrences(of: "hidden: [16]}", with: "hidden: [16], weights: \"job:7\"}")
        let manifest = try ExperimentManifest.parse(yaml: text, source: "job.yaml")
        #expect(manifest.model.weights == "job:7")
        let out = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        expectError(containing: ["job:7 names a job of the advd daemon", "give the path"]) {
            _ = try ExperimentRunner(manifest: manifest, outputFolder: out).run()
        }
        expectError(containing: ["model.weights: expected job:<id> with a positive job id"]) {
            _ = try ExperimentManifest.parse(yaml: text.replacingOccurrences(of: "job:7", with: "job:seven"), source: "job.yaml")
        }
    }

    /// A model or an augmentation that does not fit the loaded examples is an error of the manifest —
    /// its file, the key and what is wrong — found before anything is trained.
    @Test func aModelOrAnAugmentationThatDoesNotFitTheDataNamesTheManifestAndKey() throws {
        let out = TemporaryFolder()
        func run(_ text: String, in folder: String? = nil) throws {
            var runner = ExperimentRunner(manifest: try ExperimentManifest.parse(yaml: text, source: "misfit.yaml"),
                                          outputFolder: folder ?? out.path)
            runner.manifestSource = "misfit.yaml"
            _ = try runner.run()
        }
        let convolutional = Self.manifestText.replacingOccurrences(of: "model: {architecture: mlp, hidden: [16]}",
                                                                   with: "model: {architecture: cnn-small}")
        expectError(containing: ["misfit.yaml: model: cnn-small needs image inputs", "got [8]", "(the examples of blobs)"]) {
            try run(convolutional)
        }
        let flipped = Self.manifestText.replacingOccurrences(of: "checkpoint_every: 5}",
                                                             with: "checkpoint_every: 5, augmentation: {horizontal_flip: true}}")
        expectError(containing: ["misfit.yaml: train.augmentation: crops and flips images", "the examples of blobs are [8]"]) {
            try run(flipped)
        }
        let images = TemporaryFolder()
        IDXFiles.writeImageSet(in: images, height: 8, width: 8, train: 40, test: 10)
        let padded = flipped
            .replacingOccurrences(of: "{name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}",
                                  with: "{name: idx, path: \(images.path)}")
            .replacingOccurrences(of: "horizontal_flip: true", with: "crop_padding: 8")
        expectError(containing: ["misfit.yaml: train.augmentation.crop_padding: must be at most 7 for the 8×8 images of idx, got 8"]) {
            try run(padded)
        }
        #expect(!FileManager.default.fileExists(atPath: out.file("checkpoints")))
        let fitting = TemporaryFolder()
        try run(padded.replacingOccurrences(of: "crop_padding: 8", with: "crop_padding: 7"), in: fitting.path)
        #expect(FileManager.default.fileExists(atPath: fitting.file("metrics.json")))
    }

    /// The claim's accuracies never round up: two decimals, rounded down, exact for counts out of 10,000.
    @Test func theClaimNeverRoundsUp() {
        #expect(ClaimedPercent.text(7_745.0 / 10_000) == "77.45%")
        #expect(ClaimedPercent.text(0.77459) == "77.45%")
        #expect(ClaimedPercent.text(0.99999) == "99.99%")
        #expect(ClaimedPercent.text(1) == "100.00%" && ClaimedPercent.text(0) == "0.00%")
        for count in 0...10_000 where count % 7 == 0 {
            #expect(ClaimedPercent.text(Double(count) / 10_000) == String(format: "%d.%02d%%", count / 100, count % 100))
        }
    }

    @Test func aFolderOfAnotherManifestIsRefused() throws {
        let out = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let manifest = try ExperimentManifest.parse(yaml: Self.manifestText, source: "tiny.yaml")
        _ = try ExperimentRunner(manifest: manifest, outputFolder: out).run()
        let other = try ExperimentManifest.parse(yaml: Self.manifestText.replacingOccurrences(of: "steps: 5", with: "steps: 6"),
                                                 source: "tiny.yaml")
        do {
            _ = try ExperimentRunner(manifest: other, outputFolder: out).run()
            Issue.record("a different manifest must not resume another run's evaluation")
        } catch {
            #expect("\(error)".contains("holds a run of a different manifest"))
        }
    }
}

/// Robust fine-tuning: start from another run's weights, with a new head when the classes differ and
/// frozen layers that keep the loaded values.
@Suite struct FineTuningTests {
    @Test func fineTuningLoadsWeightsReinitialisesTheHeadAndFreezesLayers() throws {
        let source = TemporaryFolder(), target = TemporaryFolder()
        let base = try ExperimentManifest.parse(yaml: ExperimentRunnerTests.manifestText, source: "base.yaml")
        _ = try ExperimentRunner(manifest: base, outputFolder: source.path).run()
        let weights = source.file("model.safetensors")
        let fineTuning = """
            seed: 4
            dataset: {name: blobs, classes: 4, dimensions: 8, train_examples: 240, test_examples: 60}
            model: {architecture: mlp, hidden: [16], weights: \(weights)}
            train: {method: pgd-at, attack: {steps: 3}, epochs: 1, batch_size: 32, freeze: [1]}
            threat_model: {norm: linf, epsilon: 0.5}
            evaluation: {attacks: [{name: pgd, steps: 3}], sanity_checks: false}
            """
        var phases: [String] = []
        let result = try ExperimentRunner(manifest: try ExperimentManifest.parse(yaml: fineTuning, source: "ft.yaml"),
                                          outputFolder: target.path).run { if case let .phase(_, text) = $0 { phases.append(text) } }
        #expect(phases.contains { $0.contains("with a new 4-class head") })
        #expect(result.metrics.model.classes == 4)
        // the frozen first layer still holds the loaded weights, bit for bit; the head is new
        let before = try SafeTensors.read(from: weights), after = try SafeTensors.read(from: target.file("model.safetensors"))
        #expect(before.tensors["1.weight"]!.scalars == after.tensors["1.weight"]!.scalars)
        #expect(before.tensors["1.bias"]!.scalars == after.tensors["1.bias"]!.scalars)
        #expect(after.tensors["3.weight"]!.shape == Shape(4, 16) && before.tensors["3.weight"]!.shape == Shape(3, 16))
    }

    @Test func aModelOfAnotherArchitectureIsRefused() throws {
        let source = TemporaryFolder()
        let base = try ExperimentManifest.parse(yaml: ExperimentRunnerTests.manifestText, source: "base.yaml")
        _ = try ExperimentRunner(manifest: base, outputFolder: source.path).run()
        let other = ExperimentRunnerTests.manifestText.replacingOccurrences(
            of: "model: {architecture: mlp, hidden: [16]}",
            with: "model: {architecture: mlp, hidden: [32], weights: \(source.file("model.safetensors"))}")
        let out = TemporaryFolder()
        expectError(containing: ["holds a mlp(hidden: [16])", "this run builds mlp(hidden: [32])"]) {
            _ = try ExperimentRunner(manifest: try ExperimentManifest.parse(yaml: other, source: "o.yaml"), outputFolder: out.path).run()
        }
    }

    @Test func frozenLayersMustExist() {
        var config = TrainingConfig()
        config.frozenLayers = [7]
        let data = Dataset.gaussianBlobs(classes: 2, dimensions: 3, separation: 1, spread: 1, trainCount: 10, testCount: 2, seed: 1)
        expectError(containing: ["frozen layer 7 does not exist", "layers 0…3"]) {
            _ = try Trainer(spec: ModelSpec(architecture: "mlp", inputShape: [3], classes: 2, hidden: [4]), dataset: data, config: config)
        }
    }
}
