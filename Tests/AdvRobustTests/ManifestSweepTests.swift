import AdvRobust
import AdvTestSupport
import Testing

/// A manifest's `sweep:` block expands into one valid manifest per point of its grid, seeds fastest.
@Suite struct ManifestSweepTests {
    static let base = """
        name: grid
        seed: 0
        dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 120, test_examples: 30}
        model: {architecture: mlp, hidden: [8]}
        train: {epochs: 1}
        threat_model: {norm: linf, epsilon: 0.1}
        evaluation: {attacks: [{name: fgsm}]}
        """

    @Test func aGridAndSeedsGiveOneManifestPerPoint() throws {
        let yaml = Self.base + """

            sweep:
              grid:
                train.method: [standard, pgd-at, trades]
                threat_model.epsilon: [0.05, 0.1]
              seeds: [1, 2]
            """
        let sweep = try #require(try ManifestSweep.expand(yaml: yaml, source: "grid.yaml"))
        #expect(sweep.name == "grid" && sweep.keys == ["train.method", "threat_model.epsilon", "seed"])
        #expect(sweep.points.count == 12)
        #expect(sweep.points.prefix(3).map(\.values) == [["standard", "0.05", "1"], ["standard", "0.05", "2"], ["standard", "0.1", "1"]])
        #expect(sweep.points.last?.values == ["trades", "0.1", "2"])
        #expect(Set(sweep.points.map(\.name)).count == 12 && sweep.points[1].name == "grid-standard-0.05-seed2")
        // each point is a manifest of its own: the values set (a missing key created), no sweep left
        for point in sweep.points {
            let manifest = try ExperimentManifest.parse(yaml: point.manifest, source: "point.yaml")
            #expect(manifest.name == point.name)
            #expect(String(manifest.seed) == point.values[2])
            #expect(String(manifest.threatModel.epsilon) == point.values[1])
            #expect(manifest.trainingMethod.name == point.values[0])
            #expect(!point.manifest.contains("sweep"))
        }
    }

    @Test func seedsAloneAndNoSweepAtAll() throws {
        let seeds = try #require(try ManifestSweep.expand(yaml: Self.base + "\nsweep: {seeds: [7, 8, 9]}\n", source: "s.yaml"))
        #expect(seeds.keys == ["seed"] && seeds.points.map(\.values) == [["7"], ["8"], ["9"]])
        #expect(try ManifestSweep.expand(yaml: Self.base, source: "plain.yaml") == nil)
    }

    @Test func aMalformedSweepNamesItsKeyAndAdvdRunRefusesASweep() {
        func expectFailure(_ sweep: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            expectError(containing: fragments, sourceLocation: sourceLocation) {
                _ = try ManifestSweep.expand(yaml: Self.base + "\n" + sweep + "\n", source: "grid.yaml")
            }
        }
        expectFailure("sweep: {grid: {train.method: []}}", ["grid.yaml: sweep.grid.train.method: expected a non-empty list of values"])
        expectFailure("sweep: {grid: {seed: [1, 2]}}", ["sweep.grid.seed: list seeds under sweep.seeds"])
        expectFailure("sweep: {grid: {\"train..method\": [a]}}", ["sweep.grid", "expected a key path such as train.method"])
        expectFailure("sweep: {seeds: [1, 1]}", ["sweep.seeds: a seed appears twice"])
        expectFailure("sweep: {seed: [1]}", ["sweep.seed: unknown key", "did you mean seeds?"])
        expectFailure("sweep: {}", ["sweep: give a grid, seeds, or both"])
        expectFailure("sweep: {grid: {model.hidden.width: [1, 2]}}", ["sweep.grid.model.hidden.width", "not a mapping"])
        expectFailure("sweep: {seeds: [\(Array(0..<101).map(String.init).joined(separator: ", "))]}", ["sweep", "expands to 101 experiments; at most 100"])
        expectError(containing: ["grid.yaml: sweep: this manifest is a sweep", "advctl submit"]) {
            _ = try ExperimentManifest.parse(yaml: Self.base + "\nsweep: {seeds: [1]}\n", source: "grid.yaml")
        }
    }
}
