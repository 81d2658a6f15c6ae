/// Manifests the daemon's test suites share, in-process and with the real binaries.
public enum TestManifests {
    /// Busy for minutes in a release build unless something stops it: PGD-AT on 50,000 examples, about
    /// a second an epoch on one core. The epochs are many so that no CPU finishes it within the minute a
    /// Slurm test waits for its time-limit signal (20 epochs took 15 to 25 s, and ended before it came);
    /// a checkpoint every 20 steps, so that a full disk stops it within a fraction of a second.
    public static let slow = """
        name: slow
        dataset: {name: blobs, classes: 4, dimensions: 64, train_examples: 50000, test_examples: 100}
        model: {architecture: mlp, hidden: [128, 128]}
        train: {method: pgd-at, attack: {steps: 10}, epochs: 400, batch_size: 64, checkpoint_every: 20}
        threat_model: {norm: linf, epsilon: 0.2}
        evaluation: {attacks: [{name: pgd, steps: 10}]}
        """
}
