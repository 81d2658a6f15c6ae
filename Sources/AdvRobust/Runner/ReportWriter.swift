import AdvNN
import Foundation

/// `report.md`: the threat model stated as a reproducible claim, the results, and the warnings.
struct ReportWriter {
    let metrics: RunMetrics

    func markdown() -> String {
        let manifest = metrics.manifest, report = metrics.evaluation
        var lines = ["# \(manifest.name)", ""]
        lines += ["## Claim", ""]
        let defense = report.defense.map { " behind the \($0) defense" } ?? ""
        lines.append("""
            The \(metrics.model.summary) model\(defense), evaluated on the first \(Wording.counted(report.examples, "test example")) \
            of \(metrics.dataset.name), keeps **\(percent(report.worstCaseRobustAccuracy))** accuracy against every attack \
            below under the threat model **\(report.threatModel)** (clean accuracy \(percent(report.cleanAccuracy))). \
            Reproduce with advd \(metrics.advdVersion): `advd run` on the manifest echoed in metrics.json (seed \(manifest.seed)).
            """)
        if let detector = report.detector, let rate = report.falsePositiveRate {
            lines += ["", "A detector (\(detector)) guards the model: an attack succeeds only with a misclassified input it accepts. It rejects \(percent(rate)) of the clean test inputs."]
        }
        let hasDetector = report.detector != nil
        lines += ["", "## Results", "",
                  "| attack | attacked | newly broken |\(hasDetector ? " caught by the detector |" : "") robust accuracy after |",
                  "|---|---:|---:|\(hasDetector ? "---:|" : "")---:|"]
        lines.append("| clean | | |\(hasDetector ? " |" : "") \(percent(report.cleanAccuracy)) |")
        for outcome in report.attacks {
            let caught = hasDetector ? " \(outcome.rejectedByDetector ?? 0) |" : ""
            lines.append("| \(outcome.name) | \(outcome.attackedExamples) | \(outcome.newlyBroken) |\(caught) \(percent(outcome.robustAccuracyAfter)) |")
        }
        lines.append("| **worst case** | | |\(hasDetector ? " |" : "") **\(percent(report.worstCaseRobustAccuracy))** |")
        if !report.epsilonCurve.isEmpty {
            lines += ["", "Robust accuracy over ε (\(report.attacks.first?.name ?? "")):", "", "| ε | robust accuracy |", "|---:|---:|"]
            for point in report.epsilonCurve { lines.append("| \(point.epsilon) | \(percent(point.robustAccuracy)) |") }
        }
        lines += ["", "## Sanity checks", ""]
        if report.warnings.isEmpty {
            lines.append("No check failed (Carlini et al. 2019: large ε, convergence, black-box vs white-box, single-step vs iterative, monotonicity in ε, gradients, EOT and BPDA where needed).")
        } else {
            lines.append("**These results are not believable as they stand:**")
            lines.append("")
            for warning in report.warnings {
                lines.append("- **\(warning.check)**: \(warning.message). Evidence: \(warning.evidence). Try: \(warning.suggestion).")
            }
        }
        if !metrics.epochs.isEmpty {
            lines += ["", "## Training", ""]
            if let reason = metrics.trainingStoppedEarly { lines += ["**Training stopped early**: \(reason).", ""] }
            if let selfTraining = metrics.selfTraining { lines += [selfTrainingParagraph(selfTraining), ""] }
            lines += ["| epoch | loss | train accuracy | test accuracy | held-out PGD-10 accuracy | learning rate | seconds |",
                      "|---:|---:|---:|---:|---:|---:|---:|"]
            for epoch in metrics.epochs {
                lines.append(String(format: "| %d | %.4f | %@ | %@ | %@ | %.4g | %.1f |", epoch.epoch, epoch.trainLoss,
                                    percent(epoch.trainAccuracy), percent(epoch.testAccuracy),
                                    epoch.heldOutRobustAccuracy.map(percent) ?? "—", epoch.learningRate, epoch.seconds))
            }
        }
        let timings = metrics.timings
        lines += ["", String(format: "Training %.1f s, evaluation %.1f s, %@.", timings.trainingSeconds,
                             timings.evaluationSeconds, Wording.counted(metrics.threads, "thread")),
                  "", "Machine: \(metrics.machine.summary).", ""]
        return lines.joined(separator: "\n")
    }

    private func selfTrainingParagraph(_ summary: SelfTrainingSummary) -> String {
        let agreement = summary.pseudoLabelAccuracy.map { ", \(percent($0)) of them equal to the true labels" } ?? ""
        return "Robust self-training: a standard teacher (test accuracy \(percent(summary.teacherTestAccuracy))) pseudo-labelled \(summary.poolExamples) unlabelled examples\(agreement); adversarial training mixed them with the labelled ones."
    }
}
