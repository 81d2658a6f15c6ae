import AdvNN
import Foundation

/// `report.html`: one self-contained page per run — the claim with its full configuration, the results
/// with 95% intervals, charts drawn as inline SVG (accuracy over ε, training curves, per-class
/// accuracy), every sanity check, and the example images (PNG files in `examples/`, referenced by
/// relative path). No script, no external style or font: it opens from the run folder in any browser
/// and prints.
public struct HTMLReport {
    public let metrics: RunMetrics

    public init(metrics: RunMetrics) { self.metrics = metrics }

    public func html() -> String {
        let report = metrics.evaluation
        var sections = [banner(report), claim(report), results(report), charts(report), checks(report)]
        if !metrics.examples.isEmpty { sections.append(examples()) }
        if !metrics.epochs.isEmpty { sections.append(training()) }
        sections.append(manifestSection())
        return HTMLPage.document(title: "advd report: \(metrics.manifest.name)", body: sections.joined(separator: "\n"))
    }

    /// What to believe at a glance: failed checks, checks not run, or all passed.
    private func banner(_ report: EvaluationReport) -> String {
        let heading = "<h1>\(HTMLPage.escape(metrics.manifest.name))</h1>\n"
        if report.checks == nil {
            return heading + "<p class=\"banner caution\">The sanity checks were not run (<code>evaluation.sanity_checks: false</code>): nothing here shows whether gradient masking inflates these numbers.</p>"
        }
        if !report.warnings.isEmpty {
            return heading + "<p class=\"banner failed\">\(Wording.counted(report.warnings.count, "sanity check")) failed: these results are not believable as they stand (see <a href=\"#checks\">Sanity checks</a>).</p>"
        }
        return heading + "<p class=\"banner passed\">Every sanity check that applies passed. That does not prove robustness; it finds no sign of the usual ways an evaluation overstates it.</p>"
    }

    private func claim(_ report: EvaluationReport) -> String {
        let manifest = metrics.manifest, dataset = metrics.dataset
        let defense = report.defense.map { " behind the \($0) defense" } ?? ""
        var rows: [(String, String)] = [
            ("Threat model", report.threatModel),
            ("Data", "\(dataset.name): \(dataset.trainExamples) training examples, \(dataset.validationExamples) validation examples held out of training, \(report.examples) test examples evaluated (of \(dataset.testExamples))"),
            ("Model", metrics.model.summary + (manifest.model.weights.map { ", weights from \($0)" } ?? "")),
            ("Seed", "\(manifest.seed)"),
        ]
        if let train = manifest.train {
            rows.append(("Training", "\(HTMLPage.describe(manifest.trainingMethod)); \(Wording.counted(train.epochs, "epoch")), batch \(train.batchSize), \(train.optimizer.kind.rawValue) lr \(train.optimizer.learningRate) momentum \(train.optimizer.momentum) weight decay \(train.optimizer.weightDecay), schedule \(train.schedule)"))
        }
        if let defense = manifest.defense { rows.append(("Defense", HTMLPage.describe(defense))) }
        if let detector = manifest.detector { rows.append(("Detector", HTMLPage.describe(detector))) }
        for (number, attack) in manifest.evaluation.attacks.enumerated() {
            rows.append(("Attack \(number + 1)", HTMLPage.describe(attack)))
        }
        rows += [("advd", metrics.advdVersion), ("CPU", metrics.machine.cpu), ("BLAS", metrics.machine.blas),
                 ("Kernel", metrics.machine.kernelNote), ("Threads", "\(metrics.threads)")]
        let list = rows.map { "<tr><th>\(HTMLPage.escape($0.0))</th><td>\(HTMLPage.escape($0.1))</td></tr>" }.joined(separator: "\n")
        return """
            <h2>Claim</h2>
            <p>The \(HTMLPage.escape(metrics.model.summary)) model\(HTMLPage.escape(defense)) keeps <strong>\(ClaimedPercent.text(report.worstCaseRobustAccuracy))</strong> accuracy on the first \(report.examples) test examples of \(HTMLPage.escape(dataset.name)) against every attack below, under the threat model <strong>\(HTMLPage.escape(report.threatModel))</strong> (clean accuracy \(ClaimedPercent.text(report.cleanAccuracy))). Reproduce with <code>advd run manifest.yaml</code> (the manifest beside this report, shown at the end).</p>
            <table class="config">
            \(list)
            </table>
            """
    }

    private func results(_ report: EvaluationReport) -> String {
        func row(_ name: String, attacked: String, broken: String, accuracy: Double, strong: Bool = false) -> String {
            let interval = ConfidenceInterval.wilson(accuracy, examples: report.examples)
            let value = strong ? "<strong>\(percent(accuracy))</strong>" : percent(accuracy)
            return "<tr><td>\(HTMLPage.escape(name))</td><td class=\"num\">\(attacked)</td><td class=\"num\">\(broken)</td><td class=\"num\">\(value)</td><td class=\"num\">\(interval.percentRange)</td></tr>"
        }
        var rows = [row("clean", attacked: "", broken: "", accuracy: report.cleanAccuracy)]
        for outcome in report.attacks {
            rows.append(row(outcome.name, attacked: "\(outcome.attackedExamples)", broken: "\(outcome.newlyBroken)", accuracy: outcome.robustAccuracyAfter))
        }
        rows.append(row("worst case", attacked: "", broken: "", accuracy: report.worstCaseRobustAccuracy, strong: true))
        let detector = report.detector.map { name in
            "<p>A detector (\(HTMLPage.escape(name))) guards the model: an attack succeeds only with a misclassified input it accepts. It rejects \(percent(report.falsePositiveRate ?? 0)) of the clean test inputs.</p>"
        } ?? ""
        return """
            <h2>Results</h2>
            <p>The attacks run as a cascade: each attacks only the examples still robust when its turn comes. On \(report.examples) test examples; intervals are 95% Wilson intervals.</p>
            \(detector)
            <table class="results" id="results">
            <thead><tr><th>attack</th><th>attacked</th><th>newly broken</th><th>robust accuracy after</th><th>95% interval</th></tr></thead>
            <tbody>
            \(rows.joined(separator: "\n"))
            </tbody>
            </table>
            """
    }

    private func charts(_ report: EvaluationReport) -> String {
        var figures: [String] = []
        if !report.epsilonCurve.isEmpty, let first = report.attacks.first {
            let epsilon = Double(metrics.manifest.threatModel.epsilon)
            let curve = [(x: 0.0, y: report.cleanAccuracy)] + report.epsilonCurve.map { (x: Double($0.epsilon), y: $0.robustAccuracy) }
            let chart = LineChart(title: "Robust accuracy over ε", xLabel: "ε (\(metrics.manifest.threatModel.norm == .linf ? "L∞" : "L2"))",
                                  yLabel: "accuracy", series: [
                                      ChartSeries(name: first.name, points: curve.sorted { $0.x < $1.x }),
                                      ChartSeries(name: "worst case of the battery", points: [(x: epsilon, y: report.worstCaseRobustAccuracy)], markersOnly: true),
                                  ], yRange: 0...1, yFormat: ChartText.percent)
            figures.append(figure(chart.svg(), caption: "The first attack alone at each radius (at ε = 0, clean accuracy; at the threat model's ε, the battery's own result); the square is the worst case over every attack at the threat model's ε."))
        }
        if !metrics.epochs.isEmpty {
            let curves = Self.trainingCharts(metrics.epochs, method: metrics.manifest.trainingMethod.name)
            figures.append(figure(curves.loss.svg(), caption: "Mean training loss of each epoch."))
            figures.append(figure(curves.accuracy.svg(), caption: "Training accuracy is measured on the training batches as they train (on adversarial examples for adversarial training); validation accuracy and PGD-10 accuracy on examples held out of the training split, never on test data. A collapse of PGD-10 accuracy is catastrophic overfitting."))
            figures.append(figure(curves.learningRate.svg(), caption: "The learning rate at the end of each epoch."))
        }
        if !report.perClass.isEmpty {
            let bars = BarChart(title: "Accuracy per class", yLabel: "accuracy", categories: report.perClass.map(\.className),
                                series: [("clean", report.perClass.map(\.cleanAccuracy)), ("worst case", report.perClass.map(\.robustAccuracy))])
            figures.append(figure(bars.svg(), caption: "Clean and worst-case robust accuracy of each class of the evaluated test examples."))
        }
        return "<h2>Charts</h2>\n<div class=\"charts\">\n\(figures.joined(separator: "\n"))\n</div>"
    }

    /// The per-epoch charts: loss, accuracies (training, validation, validation PGD-10), learning rate.
    static func trainingCharts(_ epochs: [EpochMetrics], method: String) -> (loss: LineChart, accuracy: LineChart, learningRate: LineChart) {
        func points(_ value: (EpochMetrics) -> Double?) -> [(x: Double, y: Double)] {
            epochs.compactMap { epoch in value(epoch).map { (x: Double(epoch.epoch), y: $0) } }
        }
        let loss = LineChart(title: "Training loss", xLabel: "epoch", yLabel: "loss",
                             series: [ChartSeries(name: "training loss (\(method))", points: points { $0.trainLoss })])
        let accuracy = LineChart(title: "Accuracy during training", xLabel: "epoch", yLabel: "accuracy", series: [
            ChartSeries(name: "training", points: points { $0.trainAccuracy }),
            ChartSeries(name: "validation", points: points { $0.validationAccuracy }),
            ChartSeries(name: "validation PGD-10", points: points { $0.heldOutRobustAccuracy }, dashed: true),
        ].filter { !$0.points.isEmpty }, yRange: 0...1, yFormat: ChartText.percent)
        let rate = LineChart(title: "Learning rate", xLabel: "epoch", yLabel: "learning rate (epoch's last step)",
                             series: [ChartSeries(name: "learning rate", points: points { Double($0.learningRate) })])
        return (loss, accuracy, rate)
    }

    private func figure(_ svg: String, caption: String) -> String {
        "<figure>\n\(svg)\n<figcaption>\(HTMLPage.escape(caption))</figcaption>\n</figure>"
    }

    private func checks(_ report: EvaluationReport) -> String {
        guard let checks = report.checks else {
            return "<h2 id=\"checks\">Sanity checks</h2>\n<p>Not run: the manifest turned them off (<code>evaluation.sanity_checks: false</code>).</p>"
        }
        let rows = checks.map { check -> String in
            var advice = ""
            if let warning = check.warning {
                advice = "<div class=\"advice\"><strong>\(HTMLPage.escape(warning.message))</strong>. Evidence: \(HTMLPage.escape(warning.evidence)). Try: \(HTMLPage.escape(warning.suggestion)).</div>"
            }
            return "<tr class=\"\(check.status.rawValue)\"><td>\(HTMLPage.escape(check.question))<br><code>\(check.check)</code>\(advice)</td><td>\(check.status.rawValue)</td><td>\(HTMLPage.escape(check.measured))</td><td>\(HTMLPage.escape(check.threshold))</td></tr>"
        }
        return """
            <h2 id="checks">Sanity checks</h2>
            <p>The checks of Carlini et al. 2019 ("On Evaluating Adversarial Robustness"), each with what it measured.</p>
            <table class="checks">
            <thead><tr><th>check</th><th>result</th><th>measured</th><th>threshold</th></tr></thead>
            <tbody>
            \(rows.joined(separator: "\n"))
            </tbody>
            </table>
            """
    }

    private func examples() -> String {
        let cells = metrics.examples.map { example -> String in
            let outcome = example.brokenBy.map { "broken by \(HTMLPage.escape($0))" } ?? "robust: no attack changed its prediction"
            let scale = example.perturbationScale > 0 ? String(format: "±%.3g", example.perturbationScale) : "none"
            return """
                <div class="example">
                <div class="images">
                <figure><img src="\(example.cleanFile)" alt="clean test example \(example.index)"><figcaption>clean: <b>\(HTMLPage.escape(example.cleanPrediction))</b></figcaption></figure>
                <figure><img src="\(example.adversarialFile)" alt="adversarial example \(example.index)"><figcaption>adversarial: <b>\(HTMLPage.escape(example.adversarialPrediction))</b></figcaption></figure>
                <figure><img src="\(example.perturbationFile)" alt="perturbation of example \(example.index), amplified"><figcaption>δ, scale \(scale)</figcaption></figure>
                </div>
                <p>#\(example.index), true label <b>\(HTMLPage.escape(example.label))</b>; \(outcome); ‖δ‖ = \(String(format: "%.4g", example.perturbationNorm))</p>
                </div>
                """
        }
        return """
            <h2>Examples</h2>
            <p>Test examples with their worst-case adversarial input (the clean input where no attack succeeded) and the perturbation δ amplified: mid-grey is 0, black and white are ∓ the scale shown. Predictions are the model's. Every evaluated example is in <code>adversarial.safetensors</code>.</p>
            <div class="examples">
            \(cells.joined(separator: "\n"))
            </div>
            """
    }

    private func training() -> String {
        let rows = metrics.epochs.map { epoch in
            "<tr><td class=\"num\">\(epoch.epoch)</td><td class=\"num\">\(String(format: "%.4f", epoch.trainLoss))</td><td class=\"num\">\(percent(epoch.trainAccuracy))</td><td class=\"num\">\(epoch.validationAccuracy.map(percent) ?? "—")</td><td class=\"num\">\(epoch.heldOutRobustAccuracy.map(percent) ?? "—")</td><td class=\"num\">\(String(format: "%.4g", epoch.learningRate))</td><td class=\"num\">\(String(format: "%.1f", epoch.seconds))</td></tr>"
        }
        let stopped = metrics.trainingStoppedEarly.map { "<p class=\"banner caution\">Training stopped early: \(HTMLPage.escape($0)).</p>" } ?? ""
        let averaged = metrics.evaluatedWeightsNote.map { "<p>\(HTMLPage.escape($0))</p>" } ?? ""
        let timings = metrics.timings
        return """
            <h2>Training</h2>
            \(stopped)
            \(averaged)
            <table class="training">
            <thead><tr><th>epoch</th><th>loss</th><th>train accuracy</th><th>validation accuracy</th><th>validation PGD-10</th><th>learning rate</th><th>seconds</th></tr></thead>
            <tbody>
            \(rows.joined(separator: "\n"))
            </tbody>
            </table>
            <p>\(String(format: "Training %.1f s, evaluation %.1f s", timings.trainingSeconds, timings.evaluationSeconds)), \(Wording.counted(metrics.threads, "thread")).</p>
            """
    }

    /// The report of a run that failed: why, and what it measured before (its finished epochs).
    /// - Parameters:
    ///   - manifest: the manifest as submitted.
    ///   - events: what happened, in order, as (time, kind, message).
    public static func failure(name: String, reason: String, manifest: String, epochs: [EpochMetrics],
                               events: [(at: Date, kind: String, message: String)]) -> String {
        var body = "<h1>\(HTMLPage.escape(name))</h1>\n<p class=\"banner failed\">This run failed: \(HTMLPage.escape(reason))</p>\n"
        body += "<p>It has no evaluation, so it makes no claim. What it measured before it failed is below.</p>\n"
        if epochs.isEmpty {
            body += "<h2>Training</h2>\n<p>No epoch finished.</p>\n"
        } else {
            let curves = trainingCharts(epochs, method: "the run's method")
            let (loss, accuracy) = (curves.loss, curves.accuracy)
            body += "<h2>Training</h2>\n<div class=\"charts\">\n<figure>\n\(loss.svg())\n</figure>\n<figure>\n\(accuracy.svg())\n</figure>\n</div>\n"
        }
        if !events.isEmpty {
            let formatter = ISO8601DateFormatter()
            let rows = events.map { "<tr><td>\(formatter.string(from: $0.at))</td><td>\(HTMLPage.escape($0.kind))</td><td>\(HTMLPage.escape($0.message))</td></tr>" }
            body += "<h2>Events</h2>\n<table>\n<thead><tr><th>time</th><th>kind</th><th>message</th></tr></thead>\n<tbody>\n\(rows.joined(separator: "\n"))\n</tbody>\n</table>\n"
        }
        body += "<h2>Manifest</h2>\n<pre>\(HTMLPage.escape(manifest))</pre>"
        return HTMLPage.document(title: "advd report: \(name) (failed)", body: body)
    }

    private func manifestSection() -> String {
        "<h2>Manifest</h2>\n<p>Every setting of the run (<code>manifest.yaml</code>):</p>\n<pre>\(HTMLPage.escape(metrics.manifest.normalisedYAML()))</pre>"
    }
}

/// The page around a report or a comparison: one inline style sheet, print-friendly.
enum HTMLPage {
    static func escape(_ text: String) -> String { ChartText.escape(text) }

    /// A registry part in one line: `pgd (steps 20, step_size 0.01, …)`.
    static func describe(_ part: PartSpec) -> String {
        let values = part.values.keys.sorted().map { "\($0) \(part.values[$0]!)" }
        return values.isEmpty ? part.name : "\(part.name) (\(values.joined(separator: ", ")))"
    }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
        h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; margin: 0.6em 0; } th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; } table.config th { background: #f4f4f4; white-space: nowrap; }
        .banner { padding: 0.6em 1em; border-radius: 4px; } .passed.banner { background: #e6f4ea; } .failed.banner { background: #fde8e8; } .caution.banner { background: #fff4d6; }
        tr.failed td { background: #fde8e8; } tr.not-applicable td { color: #777; } .advice { margin-top: 0.4em; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(30em, 1fr)); gap: 1em; }
        figure { margin: 0; } svg.chart { width: 100%; height: auto; font-size: 12px; } .chart-title { font-weight: bold; font-size: 14px; }
        figure.wide { max-width: 48em; }
        figcaption { font-size: 0.85em; color: #444; }
        .examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(20em, 1fr)); gap: 1em; }
        .example { border: 1px solid #ddd; padding: 0.5em; } .example .images { display: flex; gap: 0.5em; }
        .example img { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #999; }
        .example p { font-size: 0.85em; margin: 0.3em 0 0; }
        pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
        @media print { body { max-width: none; margin: 0; } .charts, .examples { display: block; } figure, .example { break-inside: avoid; margin-bottom: 1em; } }
        </style>
        </head>
        <body>
        \(body)
        <footer><p>Written by advd. Self-contained: no script, and every image is in this folder.</p></footer>
        </body>
        </html>

        """
    }
}
