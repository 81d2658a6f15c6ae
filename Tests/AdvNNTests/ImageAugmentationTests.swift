import AdvNN
import AdvTestSupport
import Testing

/// Random crops and flips: what a view shows, what goes back, and how views are drawn.
struct ImageAugmentationTests {
    /// A 1×3×4 image whose pixel (y, x) holds 10·y + x + 1 (so 0 can only be padding).
    static func numbered() -> [Float] { (0..<3).flatMap { y in (0..<4).map { x in Float(10 * y + x + 1) } } }

    static func render(_ view: ImageAugmentation.View, _ image: [Float]) -> [Float] {
        var output = [Float](repeating: -1, count: image.count)
        image.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { view.render(source.baseAddress!, into: $0.baseAddress!, channels: 1, height: 3, width: 4) }
        }
        return output
    }

    @Test func aViewShiftsMirrorsAndPadsWithZero() {
        let image = Self.numbered()
        #expect(Self.render(.init(dy: 0, dx: 0, flipped: false), image) == image)
        // mirrored: each row reversed
        #expect(Self.render(.init(dy: 0, dx: 0, flipped: true), image) == [4, 3, 2, 1, 14, 13, 12, 11, 24, 23, 22, 21])
        // view (y, x) shows image (y + 1, x − 1): the top two rows move up, the left column and the last row are padding
        #expect(Self.render(.init(dy: 1, dx: -1, flipped: false), image) == [0, 11, 12, 13, 0, 21, 22, 23, 0, 0, 0, 0])
        // mirrored, then shifted: view x shows image column (3 − x) + 1
        #expect(Self.render(.init(dy: 0, dx: 1, flipped: true), image) == [0, 4, 3, 2, 0, 14, 13, 12, 0, 24, 23, 22])
    }

    @Test func restoringPutsTheShownPixelsBackAndLeavesTheOthers() {
        let image = Self.numbered()
        for view in [ImageAugmentation.View(dy: 1, dx: -1, flipped: false), .init(dy: -2, dx: 2, flipped: true), .init(dy: 0, dx: 0, flipped: true)] {
            let shown = Self.render(view, image)
            var restored = [Float](repeating: -7, count: image.count)
            shown.withUnsafeBufferPointer { source in
                restored.withUnsafeMutableBufferPointer { view.restore(source.baseAddress!, into: $0.baseAddress!, channels: 1, height: 3, width: 4) }
            }
            for index in image.indices {
                #expect(restored[index] == image[index] || restored[index] == -7, "\(view): pixel \(index)")
            }
            // every pixel the view shows came back, every other one kept its value
            #expect(restored.filter { $0 != -7 }.count == shown.filter { $0 != 0 }.count, "\(view)")
        }
    }

    @Test func viewsAreDrawnFromTheStreamWithinThePadding() {
        let augmentation = ImageAugmentation(cropPadding: 2, horizontalFlip: true)
        var first = RandomStream(seed: 4), second = RandomStream(seed: 4)
        let views = augmentation.drawViews(count: 2_000, rng: &first)
        #expect(views == augmentation.drawViews(count: 2_000, rng: &second))
        #expect(Set(views.map(\.dy)) == Set(-2...2) && Set(views.map(\.dx)) == Set(-2...2))
        let flips = views.filter(\.flipped).count
        #expect(flips > 900 && flips < 1_100, "half mirrored: \(flips) of 2000")
        var third = RandomStream(seed: 4)
        #expect(ImageAugmentation(cropPadding: 1).drawViews(count: 500, rng: &third).allSatisfy { !$0.flipped })
    }

    @Test func applyReplacesEachImageOfTheBatchByItsView() {
        let image = Self.numbered()
        let batch = Tensor(shape: Shape(2, 1, 3, 4), scalars: image + image)
        ImageAugmentation.apply([.init(dy: 0, dx: 0, flipped: false), .init(dy: 0, dx: 0, flipped: true)], to: batch, scratch: Tensor(zeros: Shape(0)))
        #expect(batch.scalars == image + Self.render(.init(dy: 0, dx: 0, flipped: true), image))
    }

    @Test func onlyImagesWithRoomForThePaddingAreAugmented() {
        expectError(containing: ["augmentation crops and flips images", "[64]"]) {
            try ImageAugmentation(cropPadding: 2).validate(itemShape: [64])
        }
        expectError(containing: ["cropPadding must be in 0...2", "3×4"]) {
            try ImageAugmentation(cropPadding: 3).validate(itemShape: [1, 3, 4])
        }
        #expect(ImageAugmentation.largestCropPadding(itemShape: [1, 3, 4]) == 2)
        #expect(ImageAugmentation.largestCropPadding(itemShape: [64]) == nil)
        #expect(throws: Never.self) { try ImageAugmentation(cropPadding: 2).validate(itemShape: [1, 3, 4]) }
    }
}
