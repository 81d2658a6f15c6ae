import AdvNN

/// Each training example's perturbation, kept from one visit of the example to the next (ATTA's
/// transfer across epochs; Zheng et al. 2020, arXiv:1912.11969): adversarial examples of one epoch's
/// model stay adversarial for the next epoch's, so an attack that continues from where the last visit
/// left it gets e·k steps after e epochs for the price of k per epoch.
///
/// The state (`perturbations`, one row per training example, so as large as the training split; and
/// `attacked`, 1 for the examples attacked so far) belongs in every checkpoint, so a resumed run is
/// bit-identical: the method that carries perturbations lists `namedState` among its own.
///
/// When the run augments its images (`TrainingPosition.views`), δ is kept in the image's own
/// coordinates: each visit sees it through the example's view of that visit (shifted, mirrored, 0 where
/// the view shows padding), and what the attack reached goes back to the pixels the view showed.
struct CarriedPerturbations {
    /// (examples, item size): each example's perturbation δ = x_adv − x after its last visit.
    private let perturbations = Tensor(zeros: Shape(0))
    /// (examples): 1 once an example has been attacked, else 0.
    private let attacked = Tensor(zeros: Shape(0))
    /// One example's δ in its view's coordinates, while `remember` maps it back.
    private let scratch = Tensor(zeros: Shape(0))

    var namedState: [(name: String, tensor: Tensor)] { [("perturbations", perturbations), ("attacked", attacked)] }

    /// Replaces the rows of `start` (a fresh start for the whole batch, so the random stream advances
    /// the same way at every step) by x + δ for the batch's examples visited before.
    func continueAttacks(in start: Tensor, inputs: Tensor, position: TrainingPosition) {
        let itemSize = inputs.shape.elementsPerItem
        precondition(position.examples.count == inputs.shape[0], "carrying perturbations needs each batch example's index (TrainingPosition.examples)")
        // the state is sized on the first step (a resumed run restores it already sized)
        if perturbations.shape != Shape(position.exampleCount, itemSize) {
            precondition(perturbations.count == 0, "the carried perturbations are \(perturbations.shape), the run has \(position.exampleCount) examples of \(itemSize)")
            perturbations.resize(to: Shape(position.exampleCount, itemSize))
            perturbations.zero()
            attacked.resize(to: Shape(position.exampleCount))
            attacked.zero()
        }
        for (row, example) in position.examples.enumerated() where attacked[example] != 0 {
            let continued = start.data + row * itemSize, clean = inputs.data + row * itemSize
            var stored = UnsafePointer(perturbations.data + example * itemSize)
            if let view = view(of: row, position: position, shape: inputs.shape) {
                // δ as this visit's view sees it, in `continued` for a moment
                view.transform.render(stored, into: continued, channels: view.channels, height: view.height, width: view.width)
                stored = UnsafePointer(continued)
            }
            for index in 0..<itemSize { continued[index] = clean[index] + stored[index] }
        }
    }

    /// The row's view with the images' dimensions, when the run augments and the view moves pixels.
    private func view(of row: Int, position: TrainingPosition, shape: Shape)
        -> (transform: ImageAugmentation.View, channels: Int, height: Int, width: Int)? {
        guard row < position.views.count, !position.views[row].isIdentity else { return nil }
        precondition(shape.rank == 4, "augmented views need (N, C, H, W) images, got \(shape)")
        return (position.views[row], shape[1], shape[2], shape[3])
    }

    /// Stores where each batch example's attack got to, for its next visit.
    func remember(_ reached: Tensor, inputs: Tensor, position: TrainingPosition) {
        let itemSize = inputs.shape.elementsPerItem
        for (row, example) in position.examples.enumerated() {
            let adversarial = reached.data + row * itemSize, clean = inputs.data + row * itemSize
            let stored = perturbations.data + example * itemSize
            if let view = view(of: row, position: position, shape: inputs.shape) {
                // δ in the view's coordinates, then back to the pixels the view showed (the others keep theirs)
                scratch.resize(to: Shape(itemSize))
                for index in 0..<itemSize { scratch[index] = adversarial[index] - clean[index] }
                view.transform.restore(scratch.data, into: stored, channels: view.channels, height: view.height, width: view.width)
            } else {
                for index in 0..<itemSize { stored[index] = adversarial[index] - clean[index] }
            }
            attacked[example] = 1
        }
    }
}
