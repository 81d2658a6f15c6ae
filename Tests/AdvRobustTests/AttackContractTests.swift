import AdvNN
import AdvRobust
import Testing

/// The contract every attack keeps, checked for each one on a small trained CNN with [0, 1] inputs:
/// the shape is preserved, the perturbation stays within ε in the declared norm, values stay in
/// range, the same seed gives the same output, and robust accuracy is at most clean accuracy.
@Suite struct AttackContractTests {
    static func attacks() -> [any Attack] {
        let linf = ThreatModel(norm: .linf, epsilon: 0.3), l2 = ThreatModel(norm: .l2, epsilon: 1.5)
        return [
            FGSM(threatModel: linf),
            FGSM(threatModel: l2),
            PGD(threatModel: linf, steps: 10),
            PGD(threatModel: l2, steps: 10, restarts: 2),
            PGD(threatModel: linf, steps: 10, loss: .carliniWagner(confidence: 0)),
            PGD(threatModel: linf, steps: 10, loss: .carliniWagner(confidence: 5), goal: .leastLikely),
            PGD(threatModel: linf, steps: 10, goal: .targetClass(2)),
            PGD(threatModel: l2, steps: 5, randomStart: false, goal: .multiTargeted),
            APGD(threatModel: linf, steps: 20),
            APGD(threatModel: l2, steps: 20, loss: .dlr),
            APGD(threatModel: linf, steps: 10, loss: .dlr, goal: .multiTargeted),
            SquareAttack(threatModel: linf, queries: 100, initialFraction: 0.3),
            SquareAttack(threatModel: l2, queries: 100, initialFraction: 0.3),
        ]
    }

    @Test(arguments: 0..<attacks().count)
    func attackKeepsTheContract(index: Int) throws {
        try Self.checkContract(Self.attacks()[index])
    }

    /// Every attack of the registry, built from a manifest entry with its defaults (steps and queries
    /// cut short), under both norms: what a user's battery would run.
    @Test(arguments: AttackRegistry.standard.names, [Norm.linf, .l2])
    func everyRegisteredAttackKeepsTheContract(name: String, norm: Norm) throws {
        let entry = try #require(AttackRegistry.standard.entry(named: name))
        let shortened = [("steps", "5"), ("queries", "60")].filter { key, _ in entry.keys.contains { $0.name == key } }
        let yaml = "{name: \(name)" + shortened.map { ", \($0): \($1)" }.joined() + "}"
        let threat = ThreatModel(norm: norm, epsilon: norm == .linf ? 0.3 : 1.5, valueRange: 0...1)
        let context = AttackContext(threatModel: threat, classes: 4)
        let spec = try AttackRegistry.standard.decode(try ManifestNode.document(yaml: yaml, source: "contract"), context: context)
        try Self.checkContract(try AttackRegistry.standard.make(spec, context: context).attack)
    }

    @Test func theHandWrittenVariantsCoverEveryRegisteredAttack() {
        let covered = Set(Self.attacks().map { String(describing: type(of: $0)) })
        #expect(covered == ["FGSM", "PGD", "APGD", "SquareAttack"] && AttackRegistry.standard.names == ["pgd", "fgsm", "apgd", "square"],
                "a new attack needs its variants (losses, goals, norms) in attacks()")
    }

    static func checkContract(_ attack: any Attack) throws {
        let classifier = try TestModels.squaresClassifier()
        let (inputs, labels) = TestModels.squares.test.batch(0..<48)
        let clean = inputs.copy()
        var rng = RandomStream(seed: 77)
        let result = attack.perturb(inputs, labels: labels, against: classifier, using: &rng)
        #expect(inputs.scalars == clean.scalars, "\(attack.name) changed its input")
        #expect(result.adversarial.shape == inputs.shape)
        #expect(result.success.count == labels.count)
        let sizes = attack.threatModel.perturbationSizes(result.adversarial, from: inputs)
        #expect(sizes.allSatisfy { $0 <= attack.threatModel.epsilon * (1 + 1e-5) }, "\(attack.name): largest \(sizes.max()!)")
        #expect(result.adversarial.scalars.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(attack.name) left [0, 1]")

        var again = RandomStream(seed: 77)
        let repeated = attack.perturb(inputs, labels: labels, against: classifier, using: &again)
        #expect(repeated.adversarial.scalars == result.adversarial.scalars, "\(attack.name) is not deterministic")

        let cleanAccuracy = TestModels.accuracy(classifier, inputs, labels)
        let robustAccuracy = TestModels.accuracy(classifier, result.adversarial, labels)
        #expect(cleanAccuracy > 0.9)
        #expect(robustAccuracy <= cleanAccuracy, "\(attack.name)")
    }

    @Test func strongerAttacksFindMore() throws {
        let classifier = try TestModels.squaresClassifier()
        let (inputs, labels) = TestModels.squares.test.batch(0..<64)
        let threat = ThreatModel(norm: .linf, epsilon: 0.3)
        var rng = RandomStream(seed: 5)
        let fgsm = FGSM(threatModel: threat).perturb(inputs, labels: labels, against: classifier, using: &rng)
        let pgd = PGD(threatModel: threat, steps: 40, restarts: 2).perturb(inputs, labels: labels, against: classifier, using: &rng)
        let fgsmAccuracy = TestModels.accuracy(classifier, fgsm.adversarial, labels)
        let pgdAccuracy = TestModels.accuracy(classifier, pgd.adversarial, labels)
        #expect(pgdAccuracy <= fgsmAccuracy)
        #expect(pgdAccuracy < 0.5, "ε = 0.3 can erase the square on an undefended model")
        // success is the attack's own account of misclassification
        let predictions = classifier.predictions(pgd.adversarial)
        #expect(pgd.success == zip(predictions, labels).map { $0 != $1 })
    }

    /// Adversarial training's shortcut: with one restart and one goal, the last iterate is exactly the
    /// example `perturb` keeps, and the random stream ends where `perturb` leaves it.
    @Test(arguments: [(AttackGoal.untargeted, 1, true), (.targetClass(2), 1, true), (.untargeted, 1, false), (.untargeted, 3, true)])
    func lastIterateIsWhatPerturbKeeps(goal: AttackGoal, restarts: Int, randomStart: Bool) throws {
        let classifier = try TestModels.squaresClassifier()
        let (inputs, labels) = TestModels.squares.test.batch(0..<32)
        let pgd = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.2), steps: 3, randomStart: randomStart, restarts: restarts, goal: goal)
        var first = RandomStream(seed: 12), second = RandomStream(seed: 12)
        let kept = pgd.perturb(inputs, labels: labels, against: classifier, using: &first).adversarial
        let last = pgd.lastIterate(inputs, labels: labels, against: classifier, using: &second)
        #expect(kept.scalars.map(\.bitPattern) == last.scalars.map(\.bitPattern))
        #expect(first.next() == second.next())
    }

    @Test func apgdIsAtLeastAsStrongAsPGD() throws {
        let classifier = try TestModels.squaresClassifier()
        let (inputs, labels) = TestModels.squares.test.batch(0..<64)
        let threat = ThreatModel(norm: .linf, epsilon: 0.2)
        var rng = RandomStream(seed: 8)
        let pgd = PGD(threatModel: threat, steps: 50).perturb(inputs, labels: labels, against: classifier, using: &rng)
        let apgd = APGD(threatModel: threat, steps: 50).perturb(inputs, labels: labels, against: classifier, using: &rng)
        let pgdAccuracy = TestModels.accuracy(classifier, pgd.adversarial, labels)
        let apgdAccuracy = TestModels.accuracy(classifier, apgd.adversarial, labels)
        #expect(apgdAccuracy <= pgdAccuracy + 0.03, "APGD \(apgdAccuracy) vs PGD \(pgdAccuracy)")
        #expect(apgd.success == zip(classifier.predictions(apgd.adversarial), labels).map { $0 != $1 })
    }

    @Test func apgdCheckpointsFollowThePaper() {
        // p: 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of the iterations
        let checkpoints = APGD.checkpoints(steps: 100).sorted()
        #expect(checkpoints.count == 8 && checkpoints.first == 22 && checkpoints.last == 99)
    }

    @Test func squareAttackNeedsNoGradients() throws {
        // Against quantisation, whose gradient is zero everywhere, plain PGD is stuck; Square is not.
        let model = try TestModels.squaresClassifier()
        let defended = DefendedClassifier(model, defense: BitDepthReduction(bits: 1), seed: 3)
        let (inputs, labels) = TestModels.squares.test.batch(0..<64)
        let threat = ThreatModel(norm: .linf, epsilon: 0.3)
        var rng = RandomStream(seed: 9)
        let square = SquareAttack(threatModel: threat, queries: 300, initialFraction: 0.3)
            .perturb(inputs, labels: labels, against: defended, using: &rng)
        #expect(TestModels.accuracy(defended, square.adversarial, labels) < 0.7)
        let squareL2 = SquareAttack(threatModel: ThreatModel(norm: .l2, epsilon: 2), queries: 300, initialFraction: 0.3)
            .perturb(inputs, labels: labels, against: defended, using: &rng)
        #expect(TestModels.accuracy(defended, squareL2.adversarial, labels) < 0.8)
    }

    @Test func squareBumpsHaveUnitNormAndTwoLobes() {
        var rng = RandomStream(seed: 4)
        let bump = SquareAttack.twoLobedBump(side: 7, rng: &rng)
        #expect(abs(bump.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        #expect(bump.contains { $0 > 0 } && bump.contains { $0 < 0 })
        // the positive lobe is one half (top or left), the negative lobe the other
        let top = (0..<3 * 7).map { bump[$0] }, left = (0..<49).filter { $0 % 7 < 3 }.map { bump[$0] }
        #expect(top.allSatisfy { $0 >= 0 } || left.allSatisfy { $0 >= 0 })
    }

    @Test func targetedAttacksReachTheirTarget() throws {
        let classifier = try TestModels.squaresClassifier()
        let (inputs, labels) = TestModels.squares.test.batch(0..<64)
        var rng = RandomStream(seed: 6)
        let result = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.5), steps: 40, goal: .targetClass(3))
            .perturb(inputs, labels: labels, against: classifier, using: &rng)
        let predictions = classifier.predictions(result.adversarial)
        let reached = zip(predictions, labels).filter { $0.0 == 3 && $0.1 != 3 }.count
        #expect(result.success.filter { $0 }.count == reached)
        #expect(Double(reached) / Double(labels.filter { $0 != 3 }.count) > 0.8)
    }
}

@Suite struct ThreatModelTests {
    @Test func projectionIsExactForLInfAndL2() {
        let clean = Tensor(shape: Shape(2, 2), scalars: [0.5, 0.5, 0, 1])
        let far = Tensor(shape: Shape(2, 2), scalars: [1.5, 0.45, -1, 2])
        ThreatModel(norm: .linf, epsilon: 0.1).project(far, around: clean)
        #expect(far.scalars == [0.6, 0.45, 0, 1])
        let l2Far = Tensor(shape: Shape(1, 2), scalars: [3.5, 4.5])       // δ = (3, 4), ‖δ‖ = 5
        ThreatModel(norm: .l2, epsilon: 1, valueRange: nil).project(l2Far, around: Tensor(shape: Shape(1, 2), scalars: [0.5, 0.5]))
        #expect(abs(l2Far[0] - 1.1) < 1e-6 && abs(l2Far[1] - 1.3) < 1e-6)
    }

    @Test(arguments: Norm.allCases)
    func randomStartsLieInTheBall(norm: Norm) {
        let threat = ThreatModel(norm: norm, epsilon: 0.5, valueRange: nil)
        let clean = Tensor(zeros: Shape(50, 10)), start = Tensor(zeros: Shape(50, 10))
        var rng = RandomStream(seed: 9)
        threat.randomPoint(around: clean, into: start, rng: &rng)
        let sizes = threat.perturbationSizes(start, from: clean)
        #expect(sizes.allSatisfy { $0 <= 0.5 + 1e-6 } && sizes.max()! > 0.35)
    }

    @Test func descriptionStatesTheClaim() {
        #expect(ThreatModel(norm: .linf, epsilon: 0.1).description == "L∞ ε = 0.1, inputs in [0, 1]")
        #expect(ThreatModel(norm: .l2, epsilon: 2, valueRange: nil).description == "L2 ε = 2, unbounded inputs")
    }
}
