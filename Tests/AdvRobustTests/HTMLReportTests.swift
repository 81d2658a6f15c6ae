import AdvNN
import AdvRobust
import AdvTestSupport
import Foundation
import Testing

/// report.html of a real small job: its charts, its numbers against metrics.json, its example images
/// decoded back to the pixels they show.
@Suite struct HTMLReportTests {
    static let manifest = """
        name: report-test
        seed: 5
        dataset: {name: fashion-mnist, train_examples: 600, test_examples: 64}
        model: {architecture: mlp, hidden: [32]}
        train: {epochs: 2, batch_size: 50}
        threat_model: {norm: linf, epsilon: 0.1}
        evaluation:
          batch_size: 32
          attacks: [{name: pgd, steps: 5}, {name: fgsm}]
          epsilon_curve: [0.05, 0.1, 0.2]
          sanity_checks: {probe_examples: 32}
        """

    /// The report's percentages: one decimal.
    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    /// Every match of `pattern`'s first group in `text`.
    static func captures(_ pattern: String, in text: String) throws -> [String] {
        let expression = try NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        return expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
            String(text[Range($0.range(at: 1), in: text)!])
        }
    }

    @Test func theReportOfARealJobShowsWhatMetricsJSONHolds() throws {
        let out = TemporaryFolder()
        let manifest = try ExperimentManifest.parse(yaml: Self.manifest, source: "report-test.yaml")
        _ = try ExperimentRunner(manifest: manifest, outputFolder: out.path).run()
        let metrics = try JSONCoding.decode(RunMetrics.self, from: try String(contentsOfFile: out.path + "/metrics.json", encoding: .utf8))
        let html = try String(contentsOfFile: out.path + "/report.html", encoding: .utf8)
        let report = metrics.evaluation

        // self-contained: no script, no external resource
        #expect(!html.contains("<script") && !html.contains("http://") || html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(try Self.captures("(?:src|href)=\"(https?:[^\"]*)\"", in: html).isEmpty)
        // the charts: ε-curve, loss, accuracy, learning rate, per class; each with a title and axes
        let titles = try Self.captures("<text class=\"chart-title\"[^>]*>([^<]*)</text>", in: html)
        #expect(titles == ["Robust accuracy over ε", "Training loss", "Accuracy during training", "Learning rate", "Accuracy per class"])
        #expect(try Self.captures("(<polyline class=\"series\")", in: html).count >= 5)
        #expect(try Self.captures("(<rect class=\"bar\")", in: html).count == 2 * 10)
        #expect(try Self.captures("(<text class=\"axis-label\")", in: html).count >= 9)

        // the results table: every number is metrics.json's
        let table = try #require(try Self.captures("<table class=\"results\" id=\"results\">(.*?)</table>", in: html).first)
        let rows = try Self.captures("<tr>(<td.*?)</tr>", in: table).map { row in
            try Self.captures("<td[^>]*>(.*?)</td>", in: row).map { $0.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression) }
        }
        func interval(_ value: Double) -> String {
            let bounds = ConfidenceInterval.wilson(value, examples: report.examples)
            return "\(Self.percent(bounds.lower))–\(Self.percent(bounds.upper))"
        }
        #expect(rows.count == report.attacks.count + 2)
        #expect(rows[0] == ["clean", "", "", Self.percent(report.cleanAccuracy), interval(report.cleanAccuracy)])
        for (row, attack) in zip(rows.dropFirst(), report.attacks) {
            #expect(row == [attack.name, "\(attack.attackedExamples)", "\(attack.newlyBroken)", Self.percent(attack.robustAccuracyAfter),
                            interval(attack.robustAccuracyAfter)])
        }
        #expect(rows.last == ["worst case", "", "", Self.percent(report.worstCaseRobustAccuracy), interval(report.worstCaseRobustAccuracy)])
        // every sanity check, the passed ones too
        let checkRows = try Self.captures("<tr class=\"(passed|failed|not-applicable)\">", in: html)
        #expect(checkRows == report.checks?.map(\.status.rawValue))

        // the example images: every one the page shows exists and decodes to the pixels it claims
        let sources = try Self.captures("<img src=\"([^\"]*)\"", in: html)
        #expect(sources.count == 3 * metrics.examples.count && !metrics.examples.isEmpty)
        let adversarial = try SafeTensors.read(from: out.path + "/adversarial.safetensors")
        let inputs = try #require(adversarial.tensors["inputs"])
        let dataset = manifest.dataset.trimmed(try Registries.standard.datasets.make(manifest.dataset, context: NoContext())
            .loadUntrimmed(seed: manifest.seed))
        let data = dataset.test
        for example in metrics.examples {
            let clean = try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out.path + "/" + example.cleanFile))))
            let attacked = try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out.path + "/" + example.adversarialFile))))
            let delta = try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out.path + "/" + example.perturbationFile))))
            for image in [clean, attacked, delta] { #expect(image.width == 28 && image.height == 28 && image.channels == 1) }
            let offset = example.index * 784
            #expect(clean.pixels == (0..<784).map { UInt8((data.inputs[offset + $0] * 255).rounded()) })
            #expect(attacked.pixels == (0..<784).map { UInt8((min(max(inputs[offset + $0], 0), 1) * 255).rounded()) })
            #expect(example.label == dataset.classNames[data.labels[example.index]])
            // mid-grey where the perturbation is zero; an unbroken example has no perturbation at all
            if example.brokenBy == nil { #expect(delta.pixels.allSatisfy { $0 == 128 }) }
            #expect(sources.contains(example.cleanFile) && sources.contains(example.perturbationFile))
        }
        #expect(metrics.examples.contains { $0.brokenBy != nil })
    }

    /// Colour images (CIFAR-10's 3 × H × W planes) become interleaved RGB pixels, and decode back.
    @Test func colourExamplesAreWrittenAsRGB() throws {
        let out = TemporaryFolder()
        let size = 3 * 4 * 4
        var inputs = [Float](repeating: 0, count: 2 * size)
        for value in 0..<inputs.count { inputs[value] = Float(value % 17) / 16 }
        let split = DataSplit(inputs: inputs, labels: [1, 0], itemShape: [3, 4, 4])
        var attacked = inputs
        attacked[size + 5] = min(1, attacked[size + 5] + 0.1)   // example 1 is broken by one pixel of its red plane
        let adversarialTensor = Tensor(zeros: Shape([2, 3, 4, 4]))
        for value in 0..<attacked.count { adversarialTensor[value] = attacked[value] }
        let norms = Tensor(zeros: Shape([2]))
        norms[1] = 0.1
        let file = SafeTensors(tensors: ["inputs": adversarialTensor, "perturbation_norm": norms],
                               integers: ["broken_by": IntegerTensor([-1, 0]), "predictions": IntegerTensor([1, 1])])
        var initRandom = RandomStream(seed: 1, purpose: "init")
        let model = try ModelSpec(architecture: "linear", inputShape: [3, 4, 4], classes: 2).build(rng: &initRandom)
        let images = try ExampleGrid.write(into: out.path, split: split, adversarial: file, judged: ModelClassifier(model, classCount: 2),
                                           classNames: ["cat", "dog"], threatModel: ThreatModel(norm: .linf, epsilon: 0.1),
                                           attackNames: ["PGD"])
        #expect(images.map { $0.index } == [0, 1] && images[1].brokenBy == "PGD" && images[1].label == "cat" && images[1].adversarialPrediction == "dog")
        let clean = try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out.path + "/" + images[1].cleanFile))))
        #expect(clean.channels == 3 && clean.width == 4 && clean.height == 4)
        // pixel (row 1, column 1) of image 1: red, green and blue from the three planes
        for channel in 0..<3 {
            #expect(clean.pixels[5 * 3 + channel] == UInt8((inputs[size + channel * 16 + 5] * 255).rounded()))
        }
        let delta = try PNGImage.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out.path + "/" + images[1].perturbationFile))))
        #expect(delta.pixels[5 * 3] == 255 && delta.pixels[5 * 3 + 1] == 128 && delta.pixels[0] == 128)
    }
}
