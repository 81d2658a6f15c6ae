import AdvNN
import AdvRobust
import Testing

/// On a linear model the worst L∞ perturbation is known in closed form: with w = W₁ − W₀ and y = ±1,
/// x* = x − ε·y·sign(w) (clipped to the valid range when there is one), and the example stays correct
/// exactly when its margin survives it. PGD and FGSM must find that optimum.
@Suite struct LinearModelAttackTests {
    static let data = Dataset.tsipras(dimensions: 30, p: 0.9, eta: 0.4, trainCount: 10, testCount: 200, seed: 8)

    /// A two-class linear model with weights drawn from a fixed seed.
    static func linearClassifier() throws -> (ModelClassifier, Linear) {
        var rng = RandomStream(seed: 21)
        let model = try ModelSpec(architecture: "linear", inputShape: [30], classes: 2).build(rng: &rng)
        let layer = model.layers[1] as! Linear
        for i in 0..<layer.weight.value.count { layer.weight.value[i] = rng.nextFloat(in: -1, 1) }
        return (ModelClassifier(model, classCount: 2), layer)
    }

    /// x − ε·y·sign(w), clipped to `range`, and whether each example survives it.
    static func closedForm(_ inputs: Tensor, labels: [Int], layer: Linear, epsilon: Float,
                           range: ClosedRange<Float>?) -> (Tensor, [Bool]) {
        let d = 30, optimum = inputs.copy()
        var survives: [Bool] = []
        for n in 0..<labels.count {
            let y: Float = labels[n] == 1 ? 1 : -1
            var margin = (layer.bias.value[1] - layer.bias.value[0]) * y
            for j in 0..<d {
                let w = layer.weight.value[d + j] - layer.weight.value[j]
                var value = inputs[n * d + j] - epsilon * y * (w > 0 ? 1 : (w < 0 ? -1 : 0))
                if let range { value = min(max(value, range.lowerBound), range.upperBound) }
                optimum[n * d + j] = value
                margin += y * w * value
            }
            survives.append(margin > 0)
        }
        return (optimum, survives)
    }

    @Test(arguments: [nil, 0...1] as [ClosedRange<Float>?])
    func pgdFindsTheClosedFormOptimum(range: ClosedRange<Float>?) throws {
        let (classifier, layer) = try Self.linearClassifier()
        let (inputs, labels) = Self.data.test.batch(0..<200)
        if let range {   // squeeze the Gaussian features into the box, so that clipping binds for some
            for i in 0..<inputs.count { inputs[i] = min(max((inputs[i] + 3) / 6, range.lowerBound), range.upperBound) }
        }
        let threat = ThreatModel(norm: .linf, epsilon: 0.2, valueRange: range)
        let (optimum, survives) = Self.closedForm(inputs, labels: labels, layer: layer, epsilon: 0.2, range: range)
        var rng = RandomStream(seed: 1)
        for attack in [PGD(threatModel: threat, steps: 20) as any Attack, FGSM(threatModel: threat)] {
            let result = attack.perturb(inputs, labels: labels, against: classifier, using: &rng)
            // every example that the optimum flips is flipped, at exactly the optimum
            let predictions = classifier.predictions(result.adversarial)
            let robust = zip(predictions, labels).filter { $0 == $1 }.count
            #expect(robust == survives.filter { $0 }.count, "\(attack.name)")
            for n in 0..<labels.count where !survives[n] {
                for j in 0..<30 { #expect(result.adversarial[n * 30 + j] == optimum[n * 30 + j]) }
            }
        }
    }

    @Test func robustAccuracyMatchesTheAnalyticValue() throws {
        // Tsipras et al.: a linear model on the weak features is accurate, and an attack of ε = 2η
        // turns every weak feature against the label, leaving only the robust one.
        let (classifier, layer) = try Self.linearClassifier()
        let d = 30
        for j in 0..<d { layer.weight.value[j] = 0; layer.weight.value[d + j] = j == 0 ? 0 : 1 }
        layer.bias.value.zero()
        let (inputs, labels) = Self.data.test.batch(0..<200)
        #expect(TestModels.accuracy(classifier, inputs, labels) > 0.95)
        var rng = RandomStream(seed: 2)
        let result = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.8, valueRange: nil))
            .perturb(inputs, labels: labels, against: classifier, using: &rng)
        // after the attack each weak feature has mean (η − ε)·y = −0.4·y, so the 29 of them sum to
        // N(−11.6·y, 29): the model is right on Φ(−11.6/√29) ≈ 1.6% of examples
        #expect(TestModels.accuracy(classifier, result.adversarial, labels) < 0.05)
        #expect(result.success.filter { $0 }.count > 190)
    }
}
