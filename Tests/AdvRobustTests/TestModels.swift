import AdvNN
import AdvRobust
import AdvTestSupport

/// Small trained models and data for attack tests, built once per process from fixed seeds.
enum TestModels {
    /// 1×8×8 images in [0, 1] whose class is the quadrant holding a bright 2×2 square.
    static let squares = ToyData.squares(trainCount: 400, testCount: 64)

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
