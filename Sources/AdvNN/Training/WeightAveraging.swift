/// An exponential moving average of the weights (Polyak averaging), the model adversarial training
/// reports from in Gowal et al. 2020 ("Uncovering the limits of adversarial training", arXiv:2010.03593)
/// and Rebuffi et al. 2021: after every optimisation step
///
///     average ← d·average + (1 − d)·weights,    d = min(decay, (1 + t) / (10 + t))
///
/// where t is the number of steps taken so far. The warm-up factor (TensorFlow's `num_updates` rule)
/// lets the average forget the initial weights within the first few hundred steps instead of dragging
/// them along for 1 / (1 − decay) steps. BatchNorm's running statistics are averaged like the weights.
public struct WeightAveraging: Codable, Sendable, Equatable {
    /// The fraction of itself the average keeps at every step, once warmed up: 0.999 averages over
    /// roughly the last 1,000 steps.
    public var decay: Float

    public init(decay: Float) {
        self.decay = decay
    }

    /// Checks the decay; the message names the field.
    public func validate() throws {
        guard decay > 0, decay < 1 else { throw TrainingError("weightAveraging.decay must be in (0, 1), got \(decay)") }
    }

    /// The decay of the update after `steps` optimisation steps (counting the one just taken).
    public func currentDecay(afterSteps steps: Int) -> Float {
        min(decay, Float(1 + steps) / Float(10 + steps))
    }
}

/// The averaged copy of a model: the same architecture, its tensors the moving average of the live
/// model's. The arithmetic is elementwise, so the average is the same for any thread count.
final class AveragedModel {
    let model: Sequential
    let averaging: WeightAveraging
    /// Each averaged tensor beside the live tensor it follows, in `ModelCheckpoint.stateTensors` order.
    private let pairs: [(name: String, average: Tensor, live: Tensor)]

    /// Starts the average at the live model's current state.
    init(following live: Sequential, spec: ModelSpec, averaging: WeightAveraging) throws {
        // the initial values are irrelevant: every tensor is overwritten with the live model's
        var rng = RandomStream(seed: 0, purpose: "weight-average.build")
        model = try spec.build(rng: &rng)
        model.compute = live.compute
        model.isTraining = false   // never trained: BatchNorm's statistics are averaged, not updated
        self.averaging = averaging
        let averages = ModelCheckpoint.stateTensors(of: model), lives = ModelCheckpoint.stateTensors(of: live)
        precondition(averages.map(\.name) == lives.map(\.name), "the averaged model's tensors differ from the live model's")
        pairs = zip(averages, lives).map { (name: $0.name, average: $0.tensor, live: $1.tensor) }
        restart()
    }

    /// The averaged tensors by name, as checkpoints store them.
    var namedState: [(name: String, tensor: Tensor)] { pairs.map { ($0.name, $0.average) } }

    /// Sets the average to the live weights (at the start, and when a method rolls the live model back).
    func restart() {
        for pair in pairs { pair.average.assign(pair.live) }
    }

    /// Moves the average towards the live weights after `steps` optimisation steps.
    func update(afterSteps steps: Int) {
        let keep = averaging.currentDecay(afterSteps: steps), take = 1 - keep
        for pair in pairs {
            let average = pair.average.data, live = pair.live.data
            for index in 0..<pair.average.count {
                average[index] = keep * average[index] + take * live[index]
            }
        }
    }
}
