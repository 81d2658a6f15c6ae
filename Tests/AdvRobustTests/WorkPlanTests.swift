import AdvNN
import AdvRobust
import Foundation
import Testing

/// The work plan behind a job's overall progress and ETA: each stage weighed by its passes through the
/// model, so the evaluation counts as much as it costs.
@Suite struct WorkPlanTests {
    @Test func stagesAreWeighedByTheirPassesThroughTheModel() throws {
        let manifest = try ExperimentManifest.parse(yaml: """
            dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 1000, test_examples: 100}
            model: {architecture: mlp, hidden: [16]}
            train: {method: pgd-at, attack: {steps: 7}, epochs: 2}
            threat_model: {norm: linf, epsilon: 0.5}
            evaluation: {attacks: [{name: pgd, steps: 20}, {name: square, queries: 300}], epsilon_curve: [0.25, 0.5],
                         sanity_checks: {probe_examples: 50}}
            """, source: "plan.yaml")
        let data = manifest.dataset.trimmed(try Registries.standard.datasets.make(manifest.dataset, context: NoContext())
            .loadUntrimmed(seed: 0))
        let plan = try ExperimentRunner(manifest: manifest, outputFolder: "/nonexistent").workPlan(data: data)
        // 900 training examples (100 held out for validation), 2 epochs, 7 attack steps + the update
        #expect(plan.trainingPasses == 900 * 2 * 8)
        #expect(plan.attackPasses == [20 * 100, 100 * 100])
        // the curve reruns PGD-20 at 0.25 only: at 0.5 it reuses the battery's result
        #expect(plan.epsilonCurvePasses == 20 * 100)
        #expect(plan.sanityCheckPasses > 0)

        let stages: [(RunPhase, Double)] = [(.loading, 0), (.training, 0), (.training, 0.5), (.training, 1),
                                            (.evaluating(attack: 1, of: 2), 0.5), (.evaluating(attack: 2, of: 2), 0),
                                            (.evaluating(attack: 2, of: 2), 1), (.epsilonCurve, 0.5), (.sanityChecks, 1), (.writing, 0)]
        let fractions = stages.map { plan.fractionDone(in: $0.0, fraction: $0.1) }
        #expect(fractions == fractions.sorted() && fractions.first == 0 && fractions.last == 1)
        // the end of training is not the end of the job: the evaluation is a part of it as large as its work
        let afterTraining = plan.fractionDone(in: .training, fraction: 1)
        #expect(abs(afterTraining - plan.trainingPasses / plan.total) < 1e-12 && afterTraining < 0.6)
    }
}
