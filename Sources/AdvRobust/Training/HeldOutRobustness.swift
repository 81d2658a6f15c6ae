import AdvNN

/// Robust accuracy of `model` on a held-out batch under `attack`, in evaluation mode (the model's mode
/// is restored afterwards). Training watches it after every epoch.
public func heldOutRobustAccuracy(of model: Sequential, on heldOut: (inputs: Tensor, labels: [Int]), attack: any Attack,
                                  rng: inout RandomStream) -> Double {
    let wasTraining = model.isTraining
    defer { model.isTraining = wasTraining }
    let classifier = ModelClassifier(model, classCount: model.outputShape(for: heldOut.inputs.shape)[1])
    let result = attack.perturb(heldOut.inputs, labels: heldOut.labels, against: classifier, using: &rng)
    let predictions = classifier.predictions(result.adversarial)
    return Double(zip(predictions, heldOut.labels).filter { $0 == $1 }.count) / Double(max(heldOut.labels.count, 1))
}

/// The per-epoch probe of `advd run`: PGD-10 (step ε/4, random start) under the run's threat model,
/// with its random start drawn from its own stream for the epoch, so measuring never changes training.
public func pgdHeldOutProbe(threatModel: ThreatModel, seed: UInt64)
    -> (_ model: Sequential, _ heldOut: (inputs: Tensor, labels: [Int]), _ epoch: Int) -> Double {
    let attack = PGD(threatModel: threatModel, stepSize: threatModel.epsilon / 4, steps: 10, randomStart: true, loss: .crossEntropy)
    return { model, heldOut, epoch in
        var rng = RandomStream(seed: seed, purpose: "held-out-probe", index: epoch)
        return heldOutRobustAccuracy(of: model, on: heldOut, attack: attack, rng: &rng)
    }
}
