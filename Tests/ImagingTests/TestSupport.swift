import CImageShim
import Foundation
import Imaging
import Testing

/// A fresh temporary directory for one test, removed when the value is deinitialised.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ImagingTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// A path inside the directory.
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// The names of the files in the directory, hidden ones included, sorted.
    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }
}

/// libpng colour types, as in png.h.
enum PNGColorType: Int32 {
    case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6
}

/// Writers for test inputs the public API cannot produce (any PNG colour type, JPEGs).
enum Fixtures {
    /// Writes raw PNG rows (packed as libpng expects, 16-bit big-endian) with optional palette and tRNS.
    static func writeRawPNG(
        _ url: URL, width: Int, height: Int, colorType: PNGColorType, bitDepth: Int,
        data: [UInt8], palette: [UInt8] = [], trns: [UInt8] = []
    ) throws {
        var message = [CChar](repeating: 0, count: 256)
        let cap = message.count
        let status = imgshim_testing_png_write_raw(
            url.path, Int32(width), Int32(height), colorType.rawValue,
            Int32(bitDepth), data, palette.isEmpty ? nil : palette,
            Int32(palette.count / 3), trns.isEmpty ? nil : trns,
            Int32(trns.count), &message, cap)
        try #require(status == 0, "writing \(url.lastPathComponent): \(cString(message))")
    }

    /// Writes an 8-bit JPEG from interleaved samples of 1, 3 or 4 (Adobe-inverted CMYK) components.
    static func writeJPEG(
        _ url: URL, width: Int, height: Int, components: Int, data: [UInt8], quality: Int = 95,
        dpi: Int? = nil
    ) throws {
        var message = [CChar](repeating: 0, count: 256)
        let cap = message.count
        let status = imgshim_testing_jpeg_write(
            url.path, Int32(width), Int32(height), Int32(components), data,
            Int32(quality), dpi == nil ? 0 : 1, Int32(dpi ?? 0), &message, cap)
        try #require(status == 0, "writing \(url.lastPathComponent): \(cString(message))")
    }

    /// A smooth RGB test image with values on the `levels`-step grid (so quantisation round trips are exact).
    static func gradient(width: Int, height: Int, levels: Int) -> PlanarImage {
        var image = PlanarImage(width: width, height: height, channels: 3, fill: 0)
        for c in 0 ..< 3 {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    let v = (x * 7 + y * 13 + c * 101) * 9973 % (levels + 1)
                    image[c, y, x] = Float(v) / Float(levels)
                }
            }
        }
        return image
    }
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The largest absolute difference between two equally sized sample arrays.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Records an issue unless `a` and `b` have the same shape and bit-identical samples (without dumping arrays).
func expectIdentical(_ a: PlanarImage, _ b: PlanarImage, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(
        a.width == b.width && a.height == b.height && a.channels == b.channels,
        "shape \(a.width)x\(a.height)x\(a.channels) vs \(b.width)x\(b.height)x\(b.channels)",
        sourceLocation: sourceLocation)
    guard a.pixels.count == b.pixels.count else { return }
    let mismatches = zip(a.pixels, b.pixels).filter { $0.0.bitPattern != $0.1.bitPattern }.count
    #expect(
        mismatches == 0, "\(mismatches) samples differ, largest by \(maxDifference(a.pixels, b.pixels))",
        sourceLocation: sourceLocation)
}

/// Runs `body` and returns the `ImageError` it threw (failing the test if it threw something else or nothing).
func imageError(_ body: () throws -> Void) -> ImageError? {
    do {
        try body()
        Issue.record("expected an ImageError, got success")
    } catch let error as ImageError {
        return error
    } catch {
        Issue.record("expected an ImageError, got \(error)")
    }
    return nil
}
