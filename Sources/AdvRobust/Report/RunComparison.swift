import AdvNN
import Foundation
import Yams

/// Runs side by side (`advctl compare`): the settings in which they differ, their results, and an
/// HTML page with their accuracy-over-ε curves overlaid.
public struct RunComparison {
    /// Each run with the label its column carries (`#12 pgd-at`).
    public let runs: [(label: String, metrics: RunMetrics)]

    public init(runs: [(label: String, metrics: RunMetrics)]) {
        self.runs = runs
    }

    /// One row of a comparison table: a name and one value per run ("—" where a run has none).
    public struct Row: Equatable, Sendable {
        public var name: String
        public var values: [String]
    }

    /// The manifest settings whose values differ between the runs, as `key.path = value` rows, in key
    /// order (the run name and everything equal left out).
    public var differingSettings: [Row] {
        let flattened = runs.map { Self.flatten($0.metrics.manifest) }
        let keys = Set(flattened.flatMap(\.keys)).subtracting(["name"]).sorted()
        return keys.compactMap { key in
            let values = flattened.map { $0[key] ?? "—" }
            return Set(values).count > 1 ? Row(name: key, values: values) : nil
        }
    }

    /// Clean accuracy, each attack's robust accuracy after it (attacks matched by name), the worst
    /// case, the number of examples and the training and evaluation times.
    public var results: [Row] {
        var rows = [Row(name: "clean", values: runs.map { percent($0.metrics.evaluation.cleanAccuracy) })]
        // attacks in cascade order: by their mean position in the batteries that ran them
        var positions: [String: [Int]] = [:]
        for run in runs { for (position, attack) in run.metrics.evaluation.attacks.enumerated() { positions[attack.name, default: []].append(position) } }
        func mean(_ name: String) -> Double { Double(positions[name]!.reduce(0, +)) / Double(positions[name]!.count) }
        let attackNames = positions.keys.sorted { (mean($0), $0) < (mean($1), $1) }
        for name in attackNames {
            rows.append(Row(name: "after \(name)", values: runs.map { run in
                run.metrics.evaluation.attacks.first { $0.name == name }.map { percent($0.robustAccuracyAfter) } ?? "—"
            }))
        }
        rows.append(Row(name: "worst case", values: runs.map { percent($0.metrics.evaluation.worstCaseRobustAccuracy) }))
        rows.append(Row(name: "warnings", values: runs.map { "\($0.metrics.evaluation.warnings.count)" }))
        rows.append(Row(name: "test examples", values: runs.map { "\($0.metrics.evaluation.examples)" }))
        rows.append(Row(name: "training seconds", values: runs.map { String(format: "%.1f", $0.metrics.timings.trainingSeconds) }))
        rows.append(Row(name: "evaluation seconds", values: runs.map { String(format: "%.1f", $0.metrics.timings.evaluationSeconds) }))
        return rows
    }

    /// The comparison page: both tables and the overlaid ε-curves.
    public func html() -> String {
        func table(_ caption: String, _ rows: [Row]) -> String {
            let header = "<tr><th></th>" + runs.map { "<th>\(HTMLPage.escape($0.label))</th>" }.joined() + "</tr>"
            let body = rows.map { row in
                "<tr><th>\(HTMLPage.escape(row.name))</th>" + row.values.map { "<td class=\"num\">\(HTMLPage.escape($0))</td>" }.joined() + "</tr>"
            }
            return "<h2>\(caption)</h2>\n<table class=\"comparison\">\n<thead>\(header)</thead>\n<tbody>\n\(body.joined(separator: "\n"))\n</tbody>\n</table>"
        }
        let settings = differingSettings
        var body = "<h1>Comparison of \(Wording.counted(runs.count, "run"))</h1>\n"
        body += settings.isEmpty ? "<h2>Settings</h2>\n<p>The runs' manifests are the same apart from their names.</p>"
            : table("Settings that differ", settings)
        body += "\n" + table("Results", results)
        var series: [ChartSeries] = []
        for run in runs where !run.metrics.evaluation.epsilonCurve.isEmpty {
            let evaluation = run.metrics.evaluation
            let points = [(x: 0.0, y: evaluation.cleanAccuracy)] + evaluation.epsilonCurve.map { (x: Double($0.epsilon), y: $0.robustAccuracy) }
            series.append(ChartSeries(name: "\(run.label): \(evaluation.attacks.first?.name ?? "")", points: points.sorted { $0.x < $1.x }))
        }
        if !series.isEmpty {
            let chart = LineChart(title: "Robust accuracy over ε", xLabel: "ε", yLabel: "accuracy", series: series, yRange: 0...1,
                                  yFormat: ChartText.percent)
            body += "\n<h2>Accuracy over ε</h2>\n<figure class=\"wide\">\n\(chart.svg())\n<figcaption>Each run's first attack alone at each radius (ε = 0: clean accuracy).</figcaption>\n</figure>"
        }
        let threatModels = Set(runs.map(\.metrics.evaluation.threatModel))
        if threatModels.count > 1 {
            body += "\n<p class=\"banner caution\">The runs were evaluated under different threat models (\(HTMLPage.escape(threatModels.sorted().joined(separator: "; ")))): their robust accuracies are not comparable.</p>"
        }
        return HTMLPage.document(title: "advd comparison: " + runs.map(\.label).joined(separator: ", "), body: body)
    }

    /// The manifest as `key.path → value` for every leaf of its normalised form.
    static func flatten(_ manifest: ExperimentManifest) -> [String: String] {
        var flat: [String: String] = [:]
        func visit(_ node: Node, _ path: String) {
            switch node {
            case let .mapping(mapping):
                for (key, value) in mapping { visit(value, path.isEmpty ? (key.string ?? "?") : "\(path).\(key.string ?? "?")") }
            case let .sequence(sequence):
                if sequence.allSatisfy({ $0.scalar != nil }) {
                    flat[path] = "[" + sequence.compactMap(\.scalar?.string).joined(separator: ", ") + "]"
                } else {
                    for (index, value) in sequence.enumerated() { visit(value, "\(path)[\(index)]") }
                }
            case let .scalar(scalar): flat[path] = scalar.string
            case .alias: break
            }
        }
        if let root = try? Yams.compose(yaml: manifest.normalisedYAML()) { visit(root, "") }
        return flat
    }
}
