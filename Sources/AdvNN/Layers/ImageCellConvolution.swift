import CKernels

/// The image-cell layout of the direct forward (`adv_cells_correlate` in `direct_convolution.h`): each
/// position of a channel's zero-padded plane holds that position of 16 images side by side (a cell),
/// so one vector of positions is one position of 16 images.
///
/// Why: the flat layout (`DirectConvolution`) computes every position of its long rows, the padding
/// columns and rows included — on the ResNet's 7×7 planes 64 positions per 49 outputs, on 14×14 225
/// per 196 — while a cell kernel visits only the output cells. It also needs no phase planes at a
/// stride: output cell (oh, ow) simply reads input cells (s·oh + kh, s·ow + kw). The copies in and
/// out are transposes (16 images' rows into cells and back) instead of row copies.
///
/// Each image's sums are the flat kernel's, in the same order, so a layer's output has the same bits
/// on either layout (tested); the layout is chosen by the batch and the layer's shape alone
/// (`applies(to:images:)`), never by the thread count.
struct ImageCellConvolution {
    static let imagesPerCell = Int(ADV_CELL_IMAGES)

    let geometry: ConvolutionGeometry
    let height: Int, width: Int                    // the input's
    let outputHeight: Int, outputWidth: Int
    /// The padded input plane's cells per row.
    let paddedWidth: Int

    init(_ geometry: ConvolutionGeometry, height: Int, width: Int) {
        self.geometry = geometry
        self.height = height
        self.width = width
        outputHeight = geometry.outputSide(height)
        outputWidth = geometry.outputSide(width)
        paddedWidth = width + 2 * geometry.padding
    }

    /// Whether a batch of `images` runs on cells: when its groups of 16 fill at least 7 in 8 of their
    /// lanes (14 images or more, as many as the flat layout's unused positions cost on 14×14 planes).
    /// Below 14 the flat layout wastes less.
    static func applies(toImages images: Int) -> Bool {
        images >= 14 && 8 * images >= 7 * cellGroups(images) * imagesPerCell
    }

    /// Whether a layer's forward runs on cells: a batch `applies(toImages:)` and a patch of at least
    /// `minimumPatch` floats. The copies into cells and back are transposes, dearer per float than the
    /// flat layout's row copies, and a layer does C·KS² multiply–adds per output float for them:
    /// `cnn-small`'s first layer (1 channel, 5 × 5, 32 outputs) ran its inference 2–8% slower on cells.
    static func applies(to geometry: ConvolutionGeometry, images: Int) -> Bool {
        applies(toImages: images) && geometry.patchSize >= minimumPatch
    }

    static let minimumPatch = 64

    /// Groups of at most 16 consecutive images, the last one holding what remains.
    static func cellGroups(_ images: Int) -> Int { (images + imagesPerCell - 1) / imagesPerCell }

    /// Output rows per band: the fewest that make at least `bandCells` cells (a whole 7×7 plane, four
    /// rows of 14, two of 28). A group's layer runs band by band — pad the input rows the band reads,
    /// correlate, store — so that its padded input (16 channels of 28×28 cells: 920 KB) never has to
    /// sit in the cache whole; each band's rows (two rows of 28 read four padded rows: 123 KB) do.
    var bandRows: Int { min(outputHeight, (Self.bandCells + outputWidth - 1) / max(outputWidth, 1)) }
    /// Cells a band makes at least: enough four-cell blocks that the one-cell blocks left at the end of
    /// a band (four sums in flight where the others have sixteen) are few.
    static let bandCells = 48

    /// Padded input rows a band of `bandRows` output rows reads, and the floats of one channel's.
    var bandInputRows: Int { (bandRows - 1) * geometry.stride + geometry.kernelSize }
    var planeFloats: Int { bandInputRows * paddedWidth * Self.imagesPerCell }
    /// Floats of a band's padded input, all channels, and of its output, all channels.
    var inputFloats: Int { geometry.inChannels * planeFloats }
    var outputFloats: Int { geometry.outChannels * bandRows * outputWidth * Self.imagesPerCell }

    /// The padded input rows output rows `rows` read.
    func inputRows(for rows: Range<Int>) -> Range<Int> {
        (rows.lowerBound * geometry.stride)..<((rows.upperBound - 1) * geometry.stride + geometry.kernelSize)
    }

    /// Calls `body(band, inputRows, kept)` for each band of `bandRows` output rows in order: the padded
    /// input rows it reads, and those the previous band read (empty for the first), which `fill`
    /// moves rather than pads again.
    func forEachBand(_ body: (_ band: Range<Int>, _ inputRows: Range<Int>, _ kept: Range<Int>) -> Void) {
        var kept = 0..<0
        for first in stride(from: 0, to: outputHeight, by: bandRows) {
            let band = first..<min(outputHeight, first + bandRows), rows = inputRows(for: band)
            body(band, rows, kept)
            kept = rows
        }
    }

    /// Puts padded rows `rows` into `target` (`inputFloats`), each channel's `planeFloats` apart: the
    /// rows of `kept` (those the previous band left there) that are also in `rows` are moved to their
    /// new place, and `padRows(rows, channel, at)` writes the others.
    func fill(rows: Range<Int>, kept: Range<Int>, into target: UnsafeMutablePointer<Float>,
              padRows: (_ rows: Range<Int>, _ channel: Int, _ at: UnsafeMutablePointer<Float>) -> Void) {
        let rowFloats = paddedWidth * Self.imagesPerCell
        let reused = kept.upperBound > rows.lowerBound && kept.lowerBound <= rows.lowerBound
            ? rows.lowerBound..<min(kept.upperBound, rows.upperBound) : rows.lowerBound..<rows.lowerBound
        for c in 0..<geometry.inChannels {
            let channel = target + c * planeFloats
            if !reused.isEmpty {
                channel.update(from: channel + (reused.lowerBound - kept.lowerBound) * rowFloats,
                               count: reused.count * rowFloats)
            }
            padRows(reused.upperBound..<rows.upperBound, c, channel + reused.count * rowFloats)
        }
    }

    /// `fill`'s rows from `images` (at most 16) of the input (N, C, H, W), through `activation`.
    func fill(from input: UnsafePointer<Float>, images: Range<Int>, rows: Range<Int>, kept: Range<Int>,
              into target: UnsafeMutablePointer<Float>, activation: ChannelAffineReLU?) {
        let C = geometry.inChannels, plane = height * width, kernel = PlaneCopyKernel.fastest
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { affine in
            fill(rows: rows, kept: kept, into: target) { rows, c, at in
                if let activation {
                    affine[0] = activation.scale[c]
                    affine[1] = activation.shift[c]
                }
                kernel.padCells(input + (images.lowerBound * C + c) * plane, images: images.count, imageStride: C * plane,
                                height: height, width: width, padding: geometry.padding, rows: rows, into: at,
                                affine: activation == nil ? nil : UnsafePointer(affine.baseAddress!))
            }
        }
    }

    /// `fill`'s rows from the unpadded planes of cells `cells` (C, H, W, 16), through `activation`:
    /// whole rows of cells are runs of floats, copied as plane rows are.
    func fill(fromCells cells: UnsafePointer<Float>, rows: Range<Int>, kept: Range<Int>,
              into target: UnsafeMutablePointer<Float>, activation: ChannelAffineReLU?) {
        let P = geometry.padding, cell = Self.imagesPerCell, rowFloats = paddedWidth * cell
        fill(rows: rows, kept: kept, into: target) { rows, c, at in
            for r in rows {
                let row = at + (r - rows.lowerBound) * rowFloats, sourceRow = r - P
                guard sourceRow >= 0 && sourceRow < height else {
                    row.update(repeating: 0, count: rowFloats)
                    continue
                }
                row.update(repeating: 0, count: P * cell)
                (row + (P + width) * cell).update(repeating: 0, count: P * cell)
                PlaneCopy.copy(cells + (c * height + sourceRow) * width * cell, rows: 1, columns: width * cell,
                               sourceRowStride: width * cell, columnStep: 1, into: row + P * cell,
                               targetRowStride: rowFloats, activation: activation, channel: c)
            }
        }
    }

    /// Output cells (OC, cells, 16), `cells` (at most `bandRows` rows' worth) from the band's first row
    /// on, = the correlation of the band's padded input with the packed weights
    /// (`DirectConvolution.pack`, the same packing).
    /// Each output channel's cells start `outputStride` floats after the previous one's.
    func correlate(padded: UnsafePointer<Float>, packed: UnsafePointer<Float>, cells: Int,
                   into output: UnsafeMutablePointer<Float>, outputStride: Int,
                   kernel: DirectConvolutionKernel = .fastest) {
        let KS = geometry.kernelSize, s = geometry.stride, cell = Self.imagesPerCell, OW = outputWidth
        withUnsafeTemporaryAllocation(of: Int.self, capacity: KS * KS + cells) { buffer in
            let taps = buffer.baseAddress!, positions = taps + KS * KS
            for k in 0..<KS * KS { taps[k] = (k / KS * paddedWidth + k % KS) * cell }
            for i in 0..<cells { positions[i] = (i / OW * s * paddedWidth + i % OW * s) * cell }
            kernel.correlateCells(padded, geometry.inChannels, planeFloats, taps, KS, packed, geometry.outChannels,
                                  positions, cells, output, outputStride)
        }
    }
}
