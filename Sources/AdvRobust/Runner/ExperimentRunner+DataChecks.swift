import AdvNN

/// The manifest's checks that need the loaded data: whether the model fits the examples and whether
/// the augmentation fits the images. Parsing cannot make them (the shapes are known once the dataset
/// is loaded), so the runner makes them before it builds or trains anything and words each failure as
/// a manifest error — the file, the key and what is wrong — where the model and the trainer would only
/// have said what is wrong.
extension ExperimentRunner {
    /// The model specification the manifest's architecture gives for `data`, checked against it.
    /// - Throws: `ManifestError` at `model` when the architecture does not fit the examples (an image
    ///   model on vectors, say).
    func modelSpec(_ architecture: PartSpec, for data: Dataset) throws -> ModelSpec {
        let spec = try registries.architectures.make(architecture, context: NoContext())
            .spec(inputShape: data.itemShape, classes: data.classCount)
        do {
            try spec.validate()
        } catch let error as ModelError {
            throw manifestError(at: "model", "\(error) (the examples of \(data.name))")
        }
        return spec
    }

    /// - Throws: `ManifestError` at `train.augmentation` when the examples are not images, and at
    ///   `train.augmentation.crop_padding` when the padding leaves no pixel of the image in a view.
    func checkAugmentation(_ augmentation: ImageAugmentation, for data: Dataset) throws {
        guard let largest = ImageAugmentation.largestCropPadding(itemShape: data.itemShape) else {
            throw manifestError(at: "train.augmentation",
                                "crops and flips images (channels, height, width); the examples of \(data.name) are \(data.itemShape)")
        }
        guard augmentation.cropPadding <= largest else {
            throw manifestError(at: "train.augmentation.crop_padding",
                                "must be at most \(largest) for the \(data.itemShape[1])×\(data.itemShape[2]) images of \(data.name), got \(augmentation.cropPadding)")
        }
    }

    private func manifestError(at key: String, _ message: String) -> ManifestError {
        ManifestError(source: manifestSource, path: key, line: nil, message: message)
    }
}
