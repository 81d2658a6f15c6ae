import AdvNN
import AdvRobust

/// Small trained models and data for attack tests, built once per process from fixed seeds.
enum TestModels {
    /// 1×8×8 images in [0, 1] whose class is the quadrant holding a bright 2×2 square.
    static let squares: Dataset = {
        var rng = RandomStream(seed: 4, purpose: "squares")
        func split(_ count: Int) -> DataSplit {
            var inputs = [Float](repeating: 0, count: count * 64), labels = [Int](repeating: 0, count: count)
            for n in 0..<count {
                let label = rng.nextIndex(below: 4)
                labels[n] = label
                for i in 0..<64 { inputs[n * 64 + i] = 0.3 * rng.nextUnitFloat() }
                let top = (label / 2) * 4 + rng.nextIndex(below: 2), left = (label % 2) * 4 + rng.nextIndex(below: 2)
                for dy in 0..<2 { for dx in 0..<2 { inputs[n * 64 + (top + dy) * 8 + left + dx] = 1 } }
            }
            return DataSplit(inputs: inputs, labels: labels, itemShape: [1, 8, 8])
        }
        return Dataset(name: "squares", train: split(400), test: split(64), classNames: ["0", "1", "2", "3"], valueRange: 0...1)
    }()

    static let squaresSpec = ModelSpec(architecture: "cnn-small", inputShape: [1, 8, 8], classes: 4)

    /// The weights of a small CNN trained once per process on `squares` to high clean accuracy, as
    /// plain arrays: a trained model itself cannot be shared, since its layers own their activations.
    static let squaresWeights: Result<[String: [Float]], ModelError> = {
        var config = TrainingConfig()
        config.epochs = 6
        config.batchSize = 32
        config.seed = 3
        do {
            let trainer = try Trainer(spec: squaresSpec, dataset: squares, config: config)
            try trainer.run()
            return .success(Dictionary(uniqueKeysWithValues: ModelCheckpoint.stateTensors(of: trainer.model).map { ($0.name, $0.tensor.scalars) }))
        } catch {
            return .failure(ModelError("training the test model failed: \(error)"))
        }
    }()

    /// A fresh classifier with the trained weights, owned by the calling test.
    static func squaresClassifier() throws -> ModelClassifier {
        let weights = try squaresWeights.get()
        var rng = RandomStream(seed: 0)
        let model = try squaresSpec.build(rng: &rng)
        for (name, tensor) in ModelCheckpoint.stateTensors(of: model) {
            for (i, value) in weights[name]!.enumerated() { tensor[i] = value }
        }
        return ModelClassifier(model, classCount: 4)
    }

    /// Clean accuracy of a classifier on a batch.
    static func accuracy(_ classifier: any Classifier, _ inputs: Tensor, _ labels: [Int]) -> Double {
        let predictions = classifier.predictions(inputs)
        return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }
}
