import AdvNN
import Foundation

/// `report.md`: the threat model stated as a reproducible claim, the results, and the warnings.
struct MarkdownReport {
    let metrics: RunMetrics

    func markdown() -> String {
        let manifest = metrics.manifest, report = metrics.evaluation
        var lines = ["# \(manifest.name)", ""]
        lines += ["## Claim", ""]
        let defense = report.defense.map { " behind the \($0) defense" } ?? ""
        let trainingData = metrics.epochs.isEmpty ? "" :
            " (trained on \(metrics.dataset.trainExamples) training examples; \(metrics.dataset.validationExamples) more held out for validation)"
        lines.append("""
            The \(metrics.model.summary) model\(defense), evaluated on the first \(Wording.counted(report.examples, "test example")) \
            of \(metrics.dataset.name)\(trainingData), keeps **\(ClaimedPercent.text(report.worstCaseRobustAccuracy))** accuracy against every attack \
            below under the threat model **\(report.threatModel)** (clean accuracy \(ClaimedPercent.text(report.cleanAccuracy))). \
            Reproduce with advd \(metrics.advdVersion): `advd run manifest.yaml` with the manifest.yaml beside this report (seed \(manifest.seed)).
            """)
        if let detector = report.detector, let rate = report.falsePositiveRate {
            lines += ["", "A detector (\(detector)) guards the model: an attack succeeds only with a misclassified input it accepts. It rejects \(percent(rate)) of the clean test inputs."]
        }
        let hasDetector = report.detector != nil
        lines += ["", "## Results", "",
                  "On \(Wording.counted(report.examples, "test example")); the interval is a 95% Wilson interval.", "",
                  "| attack | attacked | newly broken |\(hasDetector ? " caught by the detector |" : "") robust accuracy after | 95% interval |",
                  "|---|---:|---:|\(hasDetector ? "---:|" : "")---:|---:|"]
        lines.append("| clean | | |\(hasDetector ? " |" : "") \(percent(report.cleanAccuracy)) | \(report.cleanAccuracyInterval.percentRange) |")
        for outcome in report.attacks {
            let caught = hasDetector ? " \(outcome.rejectedByDetector ?? 0) |" : ""
            lines.append("| \(outcome.name) | \(outcome.attackedExamples) | \(outcome.newlyBroken) |\(caught) \(percent(outcome.robustAccuracyAfter)) | \(ConfidenceInterval.wilson(outcome.robustAccuracyAfter, examples: report.examples).percentRange) |")
        }
        lines.append("| **worst case** | | |\(hasDetector ? " |" : "") **\(percent(report.worstCaseRobustAccuracy))** | \(report.worstCaseInterval.percentRange) |")
        if !report.epsilonCurve.isEmpty {
            lines += ["", "Robust accuracy over ε (\(report.attacks.first?.name ?? "") alone, on every correctly classified example; at the threat model's ε the battery's own result, elsewhere the attack run again at that radius):",
                      "", "| ε | robust accuracy | source |", "|---:|---:|---|"]
            for point in report.epsilonCurve {
                lines.append("| \(point.epsilon) | \(percent(point.robustAccuracy)) | \(point.fromBattery ? "the battery" : "run at this ε") |")
            }
        }
        lines += ["", "## Sanity checks", ""] + sanityCheckLines(report)
        if !metrics.epochs.isEmpty {
            lines += ["", "## Training", ""]
            if let reason = metrics.trainingStoppedEarly { lines += ["**Training stopped early**: \(reason).", ""] }
            if let selfTraining = metrics.selfTraining { lines += [selfTrainingParagraph(selfTraining), ""] }
            if let note = metrics.evaluatedWeightsNote { lines += [note, ""] }
            lines += ["| epoch | loss | train accuracy | validation accuracy | validation PGD-10 accuracy | learning rate | seconds |",
                      "|---:|---:|---:|---:|---:|---:|---:|"]
            for epoch in metrics.epochs {
                lines.append(String(format: "| %d | %.4f | %@ | %@ | %@ | %.4g | %.1f |", epoch.epoch, epoch.trainLoss,
                                    percent(epoch.trainAccuracy), epoch.validationAccuracy.map(percent) ?? "—",
                                    epoch.heldOutRobustAccuracy.map(percent) ?? "—", epoch.learningRate, epoch.seconds))
            }
        }
        let timings = metrics.timings
        lines += ["", String(format: "Training %.1f s, evaluation %.1f s, %@.", timings.trainingSeconds,
                             timings.evaluationSeconds, Wording.counted(metrics.threads, "thread")),
                  "", "Machine: \(metrics.machine.summary).", ""]
        return lines.joined(separator: "\n")
    }

    /// Every check with what it measured, or a plain statement that none ran.
    private func sanityCheckLines(_ report: EvaluationReport) -> [String] {
        guard let checks = report.checks else {
            return ["**The sanity checks were not run** (`evaluation.sanity_checks: false`): nothing here shows whether gradient masking inflates these numbers."]
        }
        var lines: [String] = []
        if !report.warnings.isEmpty { lines += ["**These results are not believable as they stand:**", ""] }
        for warning in report.warnings {
            lines.append("- **\(warning.check)**: \(warning.message). Evidence: \(warning.evidence). Try: \(warning.suggestion).")
        }
        if !report.warnings.isEmpty { lines.append("") }
        lines += ["The checks of Carlini et al. 2019:", "", "| check | result | measured | threshold |", "|---|---|---|---|"]
        for check in checks {
            lines.append("| \(check.question) | \(check.status.rawValue) | \(check.measured) | \(check.threshold) |")
        }
        return lines
    }


    private func selfTrainingParagraph(_ summary: SelfTrainingSummary) -> String {
        let agreement = summary.pseudoLabelAccuracy.map { ", \(percent($0)) of them equal to the true labels" } ?? ""
        return "Robust self-training: a standard teacher (validation accuracy \(percent(summary.teacherValidationAccuracy))) pseudo-labelled \(summary.poolExamples) unlabelled examples\(agreement); adversarial training mixed them with the labelled ones."
    }
}
