import CPNG
import Foundation

/// An 8-bit grey or RGB image, encoded and decoded with libpng's simplified API. The report's example
/// images are written with it; the tests decode them again to check size and pixel values.
public struct PNGImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    /// Row-major, channels interleaved: height × width × channels bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "a PNG here is grey or RGB, not \(channels) channels")
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An image from values in [0, 1] laid out as a tensor's (C, H, W) planes (values outside are clipped).
    public init(planes values: ArraySlice<Float>, channels: Int, height: Int, width: Int) {
        precondition(values.count == channels * height * width, "\(values.count) values for \(channels)×\(height)×\(width)")
        var pixels = [UInt8](repeating: 0, count: values.count)
        let base = values.startIndex, plane = height * width
        for channel in 0..<channels {
            for position in 0..<plane {
                let value = min(max(values[base + channel * plane + position], 0), 1)
                pixels[position * channels + channel] = UInt8((value * 255).rounded())
            }
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// The PNG file's bytes.
    /// - Throws: `PNGError` with libpng's message.
    public func encoded() throws -> [UInt8] {
        var image = describe()
        var size: png_alloc_size_t = 0
        guard png_image_write_to_memory(&image, nil, &size, 0, pixels, 0, nil) != 0 else { throw PNGError(image, "encode") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let written = bytes.withUnsafeMutableBytes { buffer in
            png_image_write_to_memory(&image, buffer.baseAddress, &size, 0, pixels, 0, nil)
        }
        guard written != 0 else { throw PNGError(image, "encode") }
        return Array(bytes.prefix(Int(size)))
    }

    /// Decodes PNG bytes into 8-bit grey (if the file is grey) or RGB pixels.
    /// - Throws: `PNGError` for bytes libpng cannot read.
    public static func decode(_ bytes: [UInt8]) throws -> PNGImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        let began = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard began != 0 else { throw PNGError(image, "decode") }
        let isColour = image.format & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0
        image.format = isColour ? Self.rgbFormat : Self.greyFormat
        let channels = isColour ? 3 : 1
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * channels)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard finished != 0 else { throw PNGError(image, "decode") }
        return PNGImage(width: Int(image.width), height: Int(image.height), channels: channels, pixels: pixels)
    }

    /// libpng's format codes (PNG_FORMAT_GRAY is 0, PNG_FORMAT_RGB its colour flag alone; Swift does
    /// not import the macro that combines them).
    private static let greyFormat = png_uint_32(0)
    private static let rgbFormat = png_uint_32(PNG_FORMAT_FLAG_COLOR)

    private func describe() -> png_image {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = channels == 3 ? Self.rgbFormat : Self.greyFormat
        return image
    }
}

/// libpng could not encode or decode an image; the message is libpng's.
public struct PNGError: Error, CustomStringConvertible {
    public let description: String

    init(_ image: png_image, _ operation: String) {
        var image = image
        let message = withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        png_image_free(&image)
        description = "cannot \(operation) a PNG image: \(message.isEmpty ? "libpng failed" : message)"
    }
}
