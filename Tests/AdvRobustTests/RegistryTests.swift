import AdvNN
import AdvRobust
import AdvTestSupport
import Foundation
import Testing

/// The registries: an attack added from outside is accepted, documented and spelled-checked like the
/// shipped ones, and the committed documentation is what the registries generate.
@Suite struct RegistryTests {
    /// The one line that adds the fixture attack.
    static let registries: Registries = {
        var registries = Registries.standard
        registries.attacks = registries.attacks.adding(.randomSearch)
        return registries
    }()

    static let manifest = """
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 120, test_examples: 30}
        model: {architecture: linear}
        train: {epochs: 1, batch_size: 32}
        threat_model: {norm: linf, epsilon: 0.5}
        evaluation:
          attacks:
            - {name: pgd, steps: 3}
            - {name: random-search, tries: 4}
          sanity_checks: false
        """

    @Test func anAttackAddedFromOutsideIsAcceptedAndRuns() throws {
        let manifest = try ExperimentManifest.parse(yaml: Self.manifest, source: "plug-in.yaml", registries: Self.registries)
        #expect(manifest.evaluation.attacks[1] == PartSpec(name: "random-search", values: ["tries": .integer(4)]))
        let folder = TemporaryFolder()
        var runner = ExperimentRunner(manifest: manifest, outputFolder: folder.path)
        runner.registries = Self.registries
        let report = try runner.run().metrics.evaluation
        #expect(report.attacks.map(\.name) == [report.attacks[0].name, "random-search-4"])
        #expect(report.worstCaseRobustAccuracy <= report.attacks[0].robustAccuracyAfter)
    }

    @Test func anAttackAddedFromOutsideIsCheckedLikeTheOthers() {
        func parse(_ text: String) throws { _ = try ExperimentManifest.parse(yaml: text, source: "bad.yaml", registries: Self.registries) }
        expectError(containing: ["evaluation.attacks[1].name: expected one of pgd, fgsm, apgd, square, random-search, got \"random-serch\"; did you mean random-search? (line 8)"]) {
            try parse(Self.manifest.replacingOccurrences(of: "name: random-search", with: "name: random-serch"))
        }
        expectError(containing: ["evaluation.attacks[1].tries: expected an integer in [1, 10000], got \"0\""]) {
            try parse(Self.manifest.replacingOccurrences(of: "tries: 4", with: "tries: 0"))
        }
        expectError(containing: ["evaluation.attacks[1].steps: steps applies to pgd and apgd, not random-search"]) {
            try parse(Self.manifest.replacingOccurrences(of: "tries: 4", with: "tries: 4, steps: 2"))
        }
        expectError(containing: ["evaluation.attacks[0].tries: tries applies to random-search, not pgd"]) {
            try parse(Self.manifest.replacingOccurrences(of: "steps: 3", with: "steps: 3, tries: 2"))
        }
        expectError(containing: ["evaluation.attacks[1].trys: unknown key", "did you mean tries?"]) {
            try parse(Self.manifest.replacingOccurrences(of: "tries: 4", with: "trys: 4"))
        }
        // without its registry line the standard registries do not know it
        expectError(containing: ["expected one of pgd, fgsm, apgd, square, got \"random-search\""]) {
            _ = try ExperimentManifest.parse(yaml: Self.manifest, source: "bad.yaml")
        }
    }

    @Test func anAttackAddedFromOutsideIsDocumented() {
        let attacks = ManifestDocumentation.blocks(Self.registries).first { $0.name == "attacks" }?.text ?? ""
        #expect(attacks.contains("| `random-search` | uniformly random points of the ε-ball (a test fixture) | `tries` |"))
        #expect(attacks.contains("| `tries` | integer, 1–10000 | `10` | random points per example |"))
    }

    @Test func theCommittedManifestDocumentationIsWhatTheRegistriesGenerate() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/manifest.md").standardized.path
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        let generated = try ManifestDocumentation.updated(committed)
        #expect(generated == committed, "docs/manifest.md differs from the registries: run `advd manifest-docs docs/manifest.md`")
        let summaries = [AttackRegistry.standard.entries.map { ($0.name, $0.summary) },
                         DefenseRegistry.standard.entries.map { ($0.name, $0.summary) },
                         DetectorRegistry.standard.entries.map { ($0.name, $0.summary) },
                         TrainingMethodRegistry.standard.entries.map { ($0.name, $0.summary) },
                         OptimizerRegistry.standard.entries.map { ($0.name, $0.summary) },
                         ScheduleRegistry.standard.entries.map { ($0.name, $0.summary) },
                         ArchitectureRegistry.standard.entries.map { ($0.name, $0.summary) },
                         DatasetRegistry.standard.entries.map { ($0.name, $0.summary) }].joined()
        for (name, summary) in summaries { #expect(committed.contains("| `\(name)` | \(summary)"), "\(name)") }
    }

    @Test func everyKeyOfEveryEntryHasADocLineAndItsDefaultDecodes() throws {
        let threat = ThreatModel(norm: .linf, epsilon: 0.25, valueRange: 0...1)
        for entry in AttackRegistry.standard.entries {
            #expect(entry.keys.allSatisfy { !$0.doc.isEmpty }, "\(entry.name)")
            let node = try ManifestNode.document(yaml: "{name: \(entry.name)}", source: "defaults")
            let spec = try AttackRegistry.standard.decode(node, context: AttackContext(threatModel: threat, classes: 10))
            #expect(Set(spec.values.keys) == Set(entry.keys.filter { $0.name != "target" }.map(\.name)), "\(entry.name)")
        }
        for entry in DefenseRegistry.standard.entries + [] {
            let node = try ManifestNode.document(yaml: "{name: \(entry.name)}", source: "defaults")
            let context = DefenseContext(datasetName: "cifar10", hasImageInputs: true)
            #expect(try DefenseRegistry.standard.make(DefenseRegistry.standard.decode(node, context: context), context: context).name != "")
        }
    }

    @Test func aSpecFromAnotherBuildThatNamesNoEntryIsAClearError() {
        expectError(containing: ["no attack is named \"cw-l2\"; this advd knows pgd, fgsm, apgd and square"]) {
            _ = try AttackRegistry.standard.make(PartSpec(name: "cw-l2"), context: AttackContext(threatModel: ThreatModel(norm: .l2, epsilon: 1), classes: 10))
        }
    }

    @Test func partsRoundTripThroughJSONAsTheUserWroteThem() throws {
        let spec = PartSpec(name: "pgd", values: ["steps": .integer(20), "step_size": .number(0.5), "random_start": .flag(true),
                                                  "loss": .text("cw"), "freeze": .integers([0, 2])])
        let json = JSONCoding.encode(spec)
        #expect(json.contains("\"step_size\":0.5") && json.contains("\"name\":\"pgd\""))
        #expect(try JSONCoding.decode(PartSpec.self, from: json) == spec)
        // JSON does not tell 1 from 1.0: a number that reads back as an integer is still equal
        #expect(try JSONCoding.decode(PartSpec.self, from: JSONCoding.encode(PartSpec(name: "x", values: ["beta": .number(6)])))
                == PartSpec(name: "x", values: ["beta": .number(6)]))
    }
}
