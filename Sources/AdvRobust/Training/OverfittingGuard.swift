import AdvNN

/// The guard against catastrophic overfitting of fast adversarial training (Wong, Rice & Kolter 2020,
/// §5): after every epoch it measures PGD accuracy on a held-out batch; when that accuracy collapses —
/// falls more than `collapse` below the best seen — it restores the weights of the best epoch and stops
/// the run, which reports why. The best weights and accuracy are method state, so they survive a resume.
public struct OverfittingGuard: Sendable {
    /// The PGD used to watch (Wong et al.: PGD-10 from a random start).
    public var probe: PGD
    /// How far below the best held-out PGD accuracy counts as a collapse (0.2 = twenty points).
    public var collapse: Double

    public init(probe: PGD, collapse: Double = 0.2) {
        self.probe = probe
        self.collapse = collapse
    }

    /// Robust accuracy of `model` on the held-out batch, in evaluation mode.
    func robustAccuracy(model: Sequential, heldOut: (inputs: Tensor, labels: [Int]), rng: inout RandomStream) -> Double {
        heldOutRobustAccuracy(of: model, on: heldOut, attack: probe, rng: &rng)
    }
}

extension PGDTraining {
    /// Watches and, on collapse, rolls back: see `OverfittingGuard`. `best` holds (accuracy, epoch) and
    /// `bestWeights` the model's tensors at that epoch, in `ModelCheckpoint.stateTensors` order.
    mutating func guardEpoch(_ epoch: Int, model: Sequential, heldOut: (inputs: Tensor, labels: [Int]),
                             rng: inout RandomStream) -> String? {
        guard let overfittingGuard else { return nil }
        let accuracy = overfittingGuard.robustAccuracy(model: model, heldOut: heldOut, rng: &rng)
        let state = ModelCheckpoint.stateTensors(of: model).map(\.tensor)
        if best.count != 2 { best.resize(to: Shape(2)); best[0] = -1; best[1] = 0 }
        let hasBest = best[0] >= 0
        if hasBest && accuracy < Double(best[0]) - overfittingGuard.collapse {
            // collapse: restore the best epoch's weights and stop
            var offset = 0
            for tensor in state { tensor.data.update(from: bestWeights.data + offset, count: tensor.count); offset += tensor.count }
        } else {
            if !hasBest || accuracy >= Double(best[0]) {
                best[0] = Float(accuracy)
                best[1] = Float(epoch)
                bestWeights.resize(to: Shape(state.reduce(0) { $0 + $1.count }))
                var offset = 0
                for tensor in state { (bestWeights.data + offset).update(from: tensor.data, count: tensor.count); offset += tensor.count }
            }
            return nil
        }
        return String(format: "catastrophic overfitting: held-out PGD accuracy fell to %.1f%% at epoch %d (best %.1f%% at epoch %d); rolled back to epoch %d",
                      accuracy * 100, epoch, Double(best[0]) * 100, Int(best[1]), Int(best[1]))
    }
}
