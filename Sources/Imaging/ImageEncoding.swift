import CImageShim
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing: validation, quantisation of planar floats row by row for the C encoders, and the atomic rename.
enum ImageEncoding {
    /// What the row callback needs to produce one interleaved row.
    struct RowSource {
        var base: UnsafePointer<Float>
        var width: Int
        var plane: Int
        var channels: Int
        var bitDepth: Int
    }

    /// Writes `image` to `path` as `format` through a temporary file in the same directory, renamed into place
    /// only once the encoder has finished and the data is flushed to disk.
    static func write(_ image: PlanarImage, path: String, format: ImageFormat, bitDepth: Int, dpi: Double?) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        var message = [CChar](repeating: 0, count: ImageDecoding.messageCapacity)
        let cap = message.count
        let status: Int32 = image.pixels.withUnsafeBufferPointer { samples in
            var source = RowSource(base: samples.baseAddress!, width: image.width, plane: image.planeSize,
                                   channels: image.channels, bitDepth: bitDepth)
            return withUnsafeMutablePointer(to: &source) { sourcePointer in
                var spec = imgshim_write_spec(width: Int32(image.width), height: Int32(image.height),
                                              channels: Int32(image.channels), bit_depth: Int32(bitDepth),
                                              dpi: dpi ?? 0, fill_row: { context, y, row in
                                                  ImageEncoding.fillRow(
                                                      context!.assumingMemoryBound(to: RowSource.self).pointee,
                                                      y: Int(y), into: row!)
                                              }, context: UnsafeMutableRawPointer(sourcePointer))
                return temporary.withCString { cPath in
                    switch format {
                    case .png: return imgshim_png_write(cPath, &spec, &message, cap)
                    case .tiff: return imgshim_tiff_write(cPath, &spec, &message, cap)
                    case .jpeg: return Int32(IMGSHIM_ERR_UNSUPPORTED)
                    }
                }
            }
        }
        let text = ImageDecoding.string(fromC: message)
        guard status == IMGSHIM_OK else {
            if status != IMGSHIM_ERR_OPEN { unlink(temporary) }
            let reason = status == IMGSHIM_ERR_OPEN ? "cannot create a file in \(directory): \(text)"
                : "\(format.name) encoder: \(text.isEmpty ? "unknown error" : text)"
            throw ImageError.writeFailed(path, reason: reason)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw ImageError.writeFailed(path, reason: ImageDecoding.systemMessage(code))
        }
    }

    /// Quantises row `y` of every channel into interleaved 8- or 16-bit samples (clamped, rounded to nearest).
    static func fillRow(_ source: RowSource, y: Int, into row: UnsafeMutableRawPointer) {
        let width = source.width, channels = source.channels
        let rowStart = y * width
        if source.bitDepth == 16 {
            let out = row.assumingMemoryBound(to: UInt16.self)
            for c in 0..<channels {
                let src = source.base + c * source.plane + rowStart
                for x in 0..<width { out[x * channels + c] = UInt16(clampUnit(src[x]) * 65535 + 0.5) }
            }
        } else {
            let out = row.assumingMemoryBound(to: UInt8.self)
            for c in 0..<channels {
                let src = source.base + c * source.plane + rowStart
                for x in 0..<width { out[x * channels + c] = UInt8(clampUnit(src[x]) * 255 + 0.5) }
            }
        }
    }
}
