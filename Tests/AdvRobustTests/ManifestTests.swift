import AdvNN
import AdvRobust
import AdvTestSupport
import Foundation
import Testing

/// Manifests decode into typed configuration with every default filled in, and every mistake is an
/// error naming the file, the key path and the line.
@Suite struct ManifestTests {
    static let complete = """
        name: quantised-mlp
        seed: 7
        dataset:
          name: fashion-mnist
          test_examples: 1000
        model:
          architecture: mlp
          hidden: [128, 64]
        train:
          epochs: 3
          batch_size: 64
          optimizer: {name: sgd, lr: 0.1, momentum: 0.8, weight_decay: 0.0005}
          schedule: {name: step, milestones: [2], gamma: 0.5}
          checkpoint_every: 100
        threat_model:
          norm: linf
          epsilon: 0.1
        defense:
          name: bit-depth
          bits: 2
        evaluation:
          examples: 500
          attacks:
            - name: pgd
              steps: 40
              restarts: 2
              gradients: bpda
            - name: pgd
              loss: cw
              confidence: 5
              goal: target
              target: 3
            - name: fgsm
          epsilon_curve: [0.05, 0.1, 0.2]
          sanity_checks: {probe_examples: 100}
        """

    static func expectError(_ yaml: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        AdvTestSupport.expectError(containing: fragments, sourceLocation: sourceLocation) {
            _ = try ExperimentManifest.parse(yaml: yaml, source: "bad.yaml")
        }
    }

    @Test func completeManifestDecodesWithDefaults() throws {
        let manifest = try ExperimentManifest.parse(yaml: Self.complete, source: "quantised.yaml")
        #expect(manifest.name == "quantised-mlp" && manifest.seed == 7)
        #expect(manifest.dataset.name == "fashion-mnist" && manifest.dataset.optionalInt("test_examples") == 1000)
        #expect(manifest.model.architecture == PartSpec(name: "mlp", values: ["hidden": .integers([128, 64])]))
        let train = try #require(manifest.train)
        #expect(train.epochs == 3 && train.batchSize == 64 && train.seed == 7 && train.checkpointEverySteps == 100)
        #expect(train.optimizer.learningRate == 0.1 && train.optimizer.momentum == 0.8 && train.optimizer.weightDecay == 0.0005)
        #expect(train.schedule == .step(milestones: [2], gamma: 0.5))
        #expect(manifest.threatModel == ThreatModel(norm: .linf, epsilon: 0.1))
        #expect(manifest.defense == PartSpec(name: "bit-depth", values: ["bits": .integer(2)]))
        let attacks = manifest.evaluation.attacks
        #expect(attacks.count == 3)
        #expect(attacks[0].int("steps") == 40 && attacks[0].int("restarts") == 2 && attacks[0].string("gradients") == "bpda")
        #expect(attacks[0].bool("random_start") && attacks[0].float("step_size") == 0.025)      // default ε/4
        #expect(attacks[1].string("loss") == "cw" && attacks[1].float("confidence") == 5 && attacks[1].int("target") == 3)
        #expect(attacks[1].int("steps") == 20)
        #expect(attacks[2].name == "fgsm" && attacks[2].values["steps"] == nil && attacks[2].values["step_size"] == nil)
        #expect(manifest.evaluation.epsilonCurve == [0.05, 0.1, 0.2] && manifest.evaluation.batchSize == 256)
        #expect(manifest.evaluation.sanityChecks.probeExamples == 100 && manifest.evaluation.sanityChecks.enabled)
    }

    @Test func jsonIsAcceptedToo() throws {
        let json = """
            {"dataset": {"name": "tsipras", "dimensions": 50}, "model": {"architecture": "linear"},
             "train": {"epochs": 1}, "threat_model": {"norm": "linf", "epsilon": 2.5},
             "evaluation": {"attacks": [{"name": "pgd"}]}}
            """
        let manifest = try ExperimentManifest.parse(yaml: json, source: "toy.json", defaultName: "toy")
        #expect(manifest.name == "toy" && manifest.dataset.int("dimensions") == 50)
        #expect(manifest.threatModel.lowerBound == nil, "synthetic inputs are unbounded")
        #expect(manifest.train?.optimizer.kind == .sgd)
    }

    @Test func badNumberNamesKeyPathAndLine() {
        let yaml = Self.complete.replacingOccurrences(of: "lr: 0.1,", with: "lr: 0.3x,")
        Self.expectError(yaml, ["bad.yaml: train.optimizer.lr: expected a number in (0, 10], got \"0.3x\" (line 12)"])
        Self.expectError(Self.complete.replacingOccurrences(of: "epsilon: 0.1", with: "epsilon: 1.5"),
                         ["threat_model.epsilon: expected a number in (0, 1], got \"1.5\" (line 17)"])
        Self.expectError(Self.complete.replacingOccurrences(of: "steps: 40", with: "steps: -3"),
                         ["evaluation.attacks[0].steps: expected an integer in [1, 100000], got \"-3\" (line 25)"])
    }

    @Test func unknownKeysAreErrorsWithSuggestions() {
        Self.expectError(Self.complete.replacingOccurrences(of: "  optimizer:", with: "  optimzer:"),
                         ["train.optimzer: unknown key", "did you mean optimizer?", "(line 12)"])
        Self.expectError(Self.complete + "\nextra: 1\n", ["extra: unknown key", "(line 36)"])
        Self.expectError(Self.complete.replacingOccurrences(of: "restarts: 2", with: "restart: 2"),
                         ["evaluation.attacks[0].restart: unknown key", "did you mean restarts?"])
    }

    @Test func missingRequiredKeys() {
        Self.expectError(Self.complete.replacingOccurrences(of: "  norm: linf\n", with: ""),
                         ["threat_model.norm: missing (required) (line 16)"])
        Self.expectError("dataset: {name: blobs}\n", ["model: missing (required)"])
        Self.expectError("", ["the manifest is empty"])
    }

    @Test func impossibleCombinationsAreExplained() {
        Self.expectError(Self.complete.replacingOccurrences(of: "  bits: 2", with: "  sigma: 0.1"),
                         ["defense.sigma: sigma applies to gaussian-noise, not bit-depth"])
        Self.expectError(Self.complete.replacingOccurrences(of: "    - name: fgsm", with: "    - name: fgsm\n      steps: 3"),
                         ["evaluation.attacks[2].steps", "fgsm takes one step"])
        Self.expectError(Self.complete.replacingOccurrences(of: "      target: 3\n", with: ""),
                         ["evaluation.attacks[1].goal: goal target needs a target class"])
        Self.expectError(Self.complete.replacingOccurrences(of: "      target: 3", with: "      target: 12"),
                         ["evaluation.attacks[1].target: expected an integer in [0, 9], got \"12\""])
        Self.expectError(Self.complete.replacingOccurrences(of: "gradients: bpda", with: "gradients: eot"),
                         ["eot averages over a randomised defense, but bit-depth is deterministic; use bpda"])
        let noDefense = Self.complete.replacingOccurrences(of: "defense:\n  name: bit-depth\n  bits: 2\n", with: "")
        Self.expectError(noDefense, ["evaluation.attacks[0].gradients: bpda changes how gradients pass through a defense, but no defense is configured"])
        Self.expectError(Self.complete.replacingOccurrences(of: "  hidden: [128, 64]", with: "  widths: [4]"),
                         ["model.widths: widths applies to cnn-small and preact-resnet, not mlp"])
        Self.expectError(Self.complete.replacingOccurrences(of: "train:", with: "training:"), ["training: unknown key", "did you mean train?"])
    }

    @Test func apgdAndSquareHaveTheirOwnKeys() throws {
        let yaml = Self.complete.replacingOccurrences(of: "    - name: fgsm", with: """
                - name: fgsm
                - name: apgd
                  loss: dlr
                  restarts: 2
                - name: square
                  queries: 1000
            """)
        let attacks = try ExperimentManifest.parse(yaml: yaml, source: "ok.yaml").evaluation.attacks
        #expect(attacks[3].name == "apgd" && attacks[3].string("loss") == "dlr" && attacks[3].int("steps") == 100)
        #expect(attacks[3].int("restarts") == 2)
        #expect(attacks[4].name == "square" && attacks[4].int("queries") == 1000 && attacks[4].float("p_init") == 0.05)
        Self.expectError(yaml.replacingOccurrences(of: "queries: 1000", with: "queries: 1000\n      steps: 5"),
                         ["evaluation.attacks[4].steps: square is a black-box attack"])
        Self.expectError(yaml.replacingOccurrences(of: "loss: dlr", with: "loss: cw"),
                         ["evaluation.attacks[3].loss: expected one of ce, dlr, got \"cw\""])
        let l2 = try ExperimentManifest.parse(yaml: yaml.replacingOccurrences(of: "norm: linf", with: "norm: l2"), source: "l2.yaml")
        let context = AttackContext(threatModel: l2.threatModel, classes: 10)
        #expect(try AttackRegistry.standard.make(l2.evaluation.attacks[4], context: context).attack.name == "Square-1000 (L2)")
    }

    @Test func cnnSmallTakesItsWidthsAndActivation() throws {
        let yaml = Self.complete.replacingOccurrences(of: "  architecture: mlp\n  hidden: [128, 64]",
                                                      with: "  architecture: cnn-small\n  widths: [48, 96]\n  hidden: [512]\n  activation: silu")
        let manifest = try ExperimentManifest.parse(yaml: yaml, source: "wide.yaml")
        let architecture = try #require(manifest.model.architecture)
        let spec = try ArchitectureRegistry.standard.make(architecture, context: NoContext()).spec(inputShape: [1, 28, 28], classes: 10)
        #expect(spec == ModelSpec(architecture: "cnn-small", inputShape: [1, 28, 28], classes: 10, hidden: [512], widths: [48, 96],
                                  activation: .silu))
        let plain = yaml.replacingOccurrences(of: "  widths: [48, 96]\n  hidden: [512]\n  activation: silu\n", with: "")
        let defaults = try ArchitectureRegistry.standard.make(try #require(try ExperimentManifest.parse(yaml: plain, source: "p.yaml").model.architecture),
                                                             context: NoContext()).spec(inputShape: [1, 28, 28], classes: 10)
        #expect(defaults.widths == nil && defaults.hidden == nil && defaults.activation == nil)   // so older checkpoints' specs still match
        Self.expectError(yaml.replacingOccurrences(of: "widths: [48, 96]", with: "widths: [48]"),
                         ["model.widths: expected the two convolutions' channels, got 1 sizes"])
        Self.expectError(yaml.replacingOccurrences(of: "activation: silu", with: "activation: swish"),
                         ["model.activation: expected one of relu, silu, got \"swish\""])
    }

    @Test func preactResNetTakesItsActivation() throws {
        let yaml = Self.complete.replacingOccurrences(of: "  architecture: mlp\n  hidden: [128, 64]",
                                                      with: "  architecture: preact-resnet\n  widths: [8, 16]\n  activation: silu")
        let architecture = try #require(try ExperimentManifest.parse(yaml: yaml, source: "silu.yaml").model.architecture)
        let spec = try ArchitectureRegistry.standard.make(architecture, context: NoContext()).spec(inputShape: [1, 28, 28], classes: 10)
        #expect(spec == ModelSpec(architecture: "preact-resnet", inputShape: [1, 28, 28], classes: 10, widths: [8, 16], activation: .silu))
    }

    @Test func adversarialTrainingMethod() throws {
        let yaml = Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: pgd-at\n  attack: {steps: 7, warmup_epochs: 1}\n  epochs: 3")
        let manifest = try ExperimentManifest.parse(yaml: yaml, source: "at.yaml")
        let spec = manifest.trainingMethod
        #expect(spec.name == "pgd-at" && spec.int("steps") == 7 && spec.float("warmup_epochs") == 1)
        let context = TrainingMethodContext(threatModel: manifest.threatModel)
        let method = try #require(try TrainingMethodRegistry.standard.make(spec, context: context) as? PGDTraining)
        #expect(method.attack.threatModel.epsilon == 0.1 && method.attack.stepSize == 0.025 && method.attack.steps == 7)
        #expect(try ExperimentManifest.parse(yaml: Self.complete, source: "std.yaml").trainingMethod.name == "standard")
        Self.expectError(Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  attack: {steps: 7}\n  epochs: 3"),
                         ["train.attack: attack applies to adversarial training (pgd-at, fast-at, free-at, trades, atta), not standard"])
        Self.expectError(Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: mart\n  epochs: 3"),
                         ["train.method: expected one of standard, pgd-at, fast-at, free-at, trades, atta, got \"mart\""])
        Self.expectError(Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: pgd_at\n  epochs: 3"),
                         ["got \"pgd_at\"; did you mean pgd-at?"])
        let radius = try ExperimentManifest.parse(yaml: yaml.replacingOccurrences(of: "steps: 7,", with: "steps: 7, epsilon: 0.2,"), source: "r.yaml")
        #expect(radius.trainingMethod.float("step_size") == 0.05)   // ε/4 of the method's own radius
        let trades = try ExperimentManifest.parse(yaml: Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: trades\n  attack: {beta: 3}\n  epochs: 3"), source: "t.yaml")
        #expect(try TrainingMethodRegistry.standard.make(trades.trainingMethod, context: context).name == "trades")
        #expect(trades.trainingMethod.float("beta") == 3)
        Self.expectError(Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: fast-at\n  attack: {steps: 3}\n  epochs: 3"),
                         ["train.attack.steps: fast-at is FGSM from a random start with step 1.25ε, by definition; it takes epsilon only"])
        let atta = try ExperimentManifest.parse(yaml: Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: atta\n  attack: {steps: 2}\n  epochs: 3"), source: "a.yaml")
        let attaMethod = try #require(try TrainingMethodRegistry.standard.make(atta.trainingMethod, context: context) as? ATTATraining)
        #expect(attaMethod.steps == 2 && attaMethod.stepSize == 0.025 && attaMethod.passesPerExample == 3)
        Self.expectError(Self.complete.replacingOccurrences(of: "  epochs: 3", with: "  method: atta\n  attack: {loss: cw}\n  epochs: 3"),
                         ["train.attack.loss: atta starts from each example's carried perturbation"])
    }

    @Test func selfTrainingSection() throws {
        func manifest(_ selfTraining: String, method: String = "pgd-at", trainExamples: String = "  train_examples: 10000\n") -> String {
            Self.complete
                .replacingOccurrences(of: "  test_examples: 1000", with: trainExamples + "  test_examples: 1000")
                .replacingOccurrences(of: "  epochs: 3", with: "  method: \(method)\n  self_training: \(selfTraining)\n  epochs: 3")
        }
        let parsed = try ExperimentManifest.parse(yaml: manifest("{pool: {}, ratio: 2, weight: 0.5, teacher: {epochs: 4}}"), source: "st.yaml")
        #expect(parsed.selfTraining == SelfTrainingSpec(pool: .trainingSplit(from: 10000, count: nil), teacherEpochs: 4))
        #expect(parsed.train?.pseudoLabeled == PseudoLabelMixing(ratio: 2, weight: 0.5))
        let images = try ExperimentManifest.parse(yaml: manifest("{pool: {images: /data/extra.idx3.gz}, teacher: {weights: t.safetensors}}"), source: "st.yaml")
        #expect(images.selfTraining?.pool == .images(path: "/data/extra.idx3.gz") && images.selfTraining?.teacherWeights == "t.safetensors")
        #expect(images.train?.pseudoLabeled == PseudoLabelMixing(ratio: 1, weight: 1))

        Self.expectError(manifest("{pool: {}}", method: "standard"), ["train.self_training", "set train.method to pgd-at"])
        Self.expectError(manifest("{pool: {from: 5000}}"), ["train.self_training.pool.from", "would hold labelled examples", "10000"])
        Self.expectError(manifest("{pool: {}}", trainExamples: ""), ["train.self_training.pool", "every training example is labelled"])
        Self.expectError(manifest("{pool: {images: x.gz, count: 5}}"), ["train.self_training.pool.count", "not both"])
        Self.expectError(manifest("{pool: {}, teacher: {epochs: 2, weights: t.safetensors}}"), ["train.self_training.teacher.epochs", "not both"])
        Self.expectError(manifest("{pool: {}, ratio: 0}"), ["train.self_training.ratio"])
        Self.expectError(manifest("{ratio: 1}"), ["train.self_training.pool", "missing"])
    }

    @Test func weightAveragingSection() throws {
        func manifest(_ averaging: String) -> String {
            Self.complete.replacingOccurrences(of: "  checkpoint_every: 100", with: "  checkpoint_every: 100\n  weight_averaging: \(averaging)")
        }
        let parsed = try ExperimentManifest.parse(yaml: manifest("{decay: 0.999}"), source: "ema.yaml")
        #expect(parsed.train?.weightAveraging == WeightAveraging(decay: 0.999))
        #expect(try ExperimentManifest.parse(yaml: parsed.normalisedYAML(), source: "manifest.yaml") == parsed)
        #expect(try ExperimentManifest.parse(yaml: Self.complete, source: "q.yaml").train?.weightAveraging == nil)
        Self.expectError(manifest("{decay: 1}"), ["train.weight_averaging.decay: expected a number in (0, 0.999999], got \"1\" (line 15)"])
        Self.expectError(manifest("{rate: 0.9}"), ["train.weight_averaging.rate: unknown key"])
        Self.expectError(manifest("{}"), ["train.weight_averaging.decay: missing (required)"])
    }

    @Test func augmentationSection() throws {
        func manifest(_ augmentation: String) -> String {
            Self.complete.replacingOccurrences(of: "  checkpoint_every: 100", with: "  checkpoint_every: 100\n  augmentation: \(augmentation)")
        }
        let parsed = try ExperimentManifest.parse(yaml: manifest("{crop_padding: 2, horizontal_flip: true}"), source: "aug.yaml")
        #expect(parsed.train?.augmentation == ImageAugmentation(cropPadding: 2, horizontalFlip: true))
        #expect(try ExperimentManifest.parse(yaml: parsed.normalisedYAML(), source: "manifest.yaml") == parsed)
        #expect(try ExperimentManifest.parse(yaml: manifest("{horizontal_flip: true}"), source: "aug.yaml").train?.augmentation
                == ImageAugmentation(cropPadding: 0, horizontalFlip: true))
        #expect(try ExperimentManifest.parse(yaml: Self.complete, source: "q.yaml").train?.augmentation == nil)
        Self.expectError(manifest("{crop_padding: -1}"), ["train.augmentation.crop_padding: expected an integer in [0, 64], got \"-1\""])
        Self.expectError(manifest("{flip: true}"), ["train.augmentation.flip: unknown key"])
        Self.expectError(manifest("{}"), ["train.augmentation", "expected crop_padding, horizontal_flip or both"])
    }

    @Test func aRunNameMustBeSafeAsAFileName() throws {
        Self.expectError(Self.complete.replacingOccurrences(of: "name: quantised-mlp", with: "name: ../etc"),
                         ["name: expected 1–100 letters, digits, '-', '_' or '.', not starting with '.', got \"../etc\""])
        Self.expectError(Self.complete.replacingOccurrences(of: "name: quantised-mlp", with: "name: " + String(repeating: "a", count: 101)),
                         ["(101 characters)"])
        #expect(try ExperimentManifest.parse(yaml: Self.complete, source: "q.yaml").name == "quantised-mlp")
    }

    /// Every manifest of examples/, in name order; a sweep gives each of its points.
    static func exampleManifests() throws -> [ExperimentManifest] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        return try names.flatMap { name -> [ExperimentManifest] in
            let path = folder.appendingPathComponent(name).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let sweep = try ManifestSweep.expand(yaml: text, source: name) else { return [try ExperimentManifest.load(path: path)] }
            return try sweep.points.map { try ExperimentManifest.parse(yaml: $0.manifest, source: name) }
        }
    }

    @Test func everyExampleManifestIsValid() throws {
        #expect(try Self.exampleManifests().count >= 10)
    }

    /// The normalised manifest a run folder keeps reads back to the same manifest: every example, the
    /// complete one of this suite, and the test manifests with self-training and weights.
    @Test func normalisedManifestsReadBackUnchanged() throws {
        var manifests = try Self.exampleManifests()
        manifests.append(try ExperimentManifest.parse(yaml: Self.complete, source: "q.yaml"))
        manifests.append(try ExperimentManifest.parse(yaml: ExperimentRunnerTests.selfTrainingManifest, source: "rst.yaml"))
        for manifest in manifests {
            let yaml = manifest.normalisedYAML()
            #expect(yaml.contains("threat_model:") && yaml.contains("sanity_checks:"))
            let reread = try ExperimentManifest.parse(yaml: yaml, source: "manifest.yaml")
            #expect(reread == manifest, "\(manifest.name) does not read back as itself from:\n\(yaml)")
        }
    }

    @Test func syntaxErrorsKeepYamsPosition() {
        Self.expectError("dataset: {name: [unclosed\n", ["bad.yaml", "not valid YAML or JSON", "line"])
    }
}
