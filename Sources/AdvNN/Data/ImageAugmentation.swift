/// Data augmentation of training images: a random crop of the image zero-padded by `cropPadding` pixels
/// on every side (a shift by up to that many pixels each way, what the padding shows coming in as 0)
/// and, with `horizontalFlip`, a mirror image half the time. Robust training on CIFAR-10 uses both
/// (padding 4); it slows the overfitting of the robust accuracy (Rice et al. 2020).
///
/// Each training example gets its own `View`, drawn from the trainer's training stream, so a run is
/// deterministic from its seed and a resumed one draws the same views.
public struct ImageAugmentation: Codable, Sendable, Equatable {
    /// Pixels of zero padding on each side before the crop: each view is shifted by −p…p pixels
    /// vertically and horizontally.
    public var cropPadding: Int
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// The largest crop padding examples of `itemShape` allow: one pixel less than the images' shorter
    /// side (a view then still holds one pixel of the image); nil when they are not images (channels,
    /// height, width), which augmentation cannot crop or flip.
    public static func largestCropPadding(itemShape: [Int]) -> Int? {
        itemShape.count == 3 ? min(itemShape[1], itemShape[2]) - 1 : nil
    }

    /// Checks the values against the images' (channels, height, width); the message names the field.
    public func validate(itemShape: [Int]) throws {
        guard let largest = Self.largestCropPadding(itemShape: itemShape) else {
            throw TrainingError("augmentation crops and flips images (channels, height, width); these examples are \(itemShape)")
        }
        guard cropPadding >= 0, cropPadding <= largest else {
            throw TrainingError("cropPadding must be in 0...\(largest) for \(itemShape[1])×\(itemShape[2]) images, got \(cropPadding)")
        }
    }

    /// One view per example, drawn in order: the vertical shift, the horizontal shift, then the flip.
    public func drawViews(count: Int, rng: inout RandomStream) -> [View] {
        (0..<count).map { _ in
            let span = 2 * cropPadding + 1
            let dy = rng.nextIndex(below: span) - cropPadding, dx = rng.nextIndex(below: span) - cropPadding
            let flipped = horizontalFlip && rng.nextIndex(below: 2) == 1
            return View(dy: dy, dx: dx, flipped: flipped)
        }
    }

    /// How one example is seen: pixel (y, x) of the view shows pixel (y + dy, x′ + dx) of the image,
    /// where x′ is x mirrored (W − 1 − x) when `flipped`, else x; a source outside the image is padding.
    public struct View: Sendable, Equatable {
        public var dy: Int
        public var dx: Int
        public var flipped: Bool
        public init(dy: Int, dx: Int, flipped: Bool) {
            self.dy = dy
            self.dx = dx
            self.flipped = flipped
        }

        public var isIdentity: Bool { dy == 0 && dx == 0 && !flipped }

        /// Writes the view of `image` (channels × height × width floats) into `view`; padding is 0.
        public func render(_ image: UnsafePointer<Float>, into view: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int) {
            for index in 0..<channels * height * width { view[index] = 0 }
            forEachVisiblePixel(channels: channels, height: height, width: width) { viewIndex, imageIndex in
                view[viewIndex] = image[imageIndex]
            }
        }

        /// Writes the image pixels `view` shows back to their places in `image`; the pixels the view
        /// does not show (shifted out) keep their values.
        public func restore(_ view: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int) {
            forEachVisiblePixel(channels: channels, height: height, width: width) { viewIndex, imageIndex in
                image[imageIndex] = view[viewIndex]
            }
        }

        /// Calls `body(view index, image index)` for every view pixel whose source lies in the image.
        private func forEachVisiblePixel(channels: Int, height: Int, width: Int, _ body: (Int, Int) -> Void) {
            for channel in 0..<channels {
                let plane = channel * height * width
                for y in max(0, -dy)..<min(height, height - dy) {
                    for x in 0..<width {
                        let sourceX = (flipped ? width - 1 - x : x) + dx
                        guard sourceX >= 0 && sourceX < width else { continue }
                        body(plane + y * width + x, plane + (y + dy) * width + sourceX)
                    }
                }
            }
        }
    }

    /// Replaces each image of `batch` (N, C, H, W) by its view; `scratch` holds one image meanwhile.
    public static func apply(_ views: [View], to batch: Tensor, scratch: Tensor) {
        let dimensions = batch.shape.dimensions
        precondition(dimensions.count == 4 && views.count == dimensions[0], "augmenting needs (N, C, H, W) images and one view each, got \(batch.shape) and \(views.count)")
        let (channels, height, width) = (dimensions[1], dimensions[2], dimensions[3])
        let itemSize = channels * height * width
        scratch.resize(to: Shape(itemSize))
        for (row, view) in views.enumerated() where !view.isIdentity {
            let image = batch.data + row * itemSize
            scratch.data.update(from: image, count: itemSize)
            view.render(scratch.data, into: image, channels: channels, height: height, width: width)
        }
    }
}
