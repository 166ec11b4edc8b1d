import CImageShim
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writing: validation, quantisation of planar floats row by row for the C encoders, and the atomic rename.
enum ImageEncoding {
    /// What the row callback needs: the source, and the strip of it that holds the current rows.
    final class RowSource {
        let image: ImageRegionSource
        let stripRows: Int
        let bitDepth: Int
        var strip: PlanarImage?
        var stripY = 0
        /// The first read error; the encoder is then fed zeros and the file is discarded.
        var error: Error?
        init(image: ImageRegionSource, stripRows: Int, bitDepth: Int) {
            (self.image, self.stripRows, self.bitDepth) = (image, max(1, stripRows), bitDepth)
        }

        /// Quantises row `y` of every channel into interleaved 8- or 16-bit samples (clamped, rounded to nearest).
        func fill(row y: Int, into row: UnsafeMutableRawPointer) {
            let width = image.width, channels = image.channels
            if strip == nil || y < stripY || y >= stripY + strip!.height {
                stripY = y
                do {
                    strip = try image.region(x: 0, y: y, width: width, height: min(stripRows, image.height - y))
                } catch {
                    self.error = self.error ?? error
                    strip = PlanarImage(width: width, height: 1, channels: channels, fill: 0)
                }
            }
            let strip = self.strip!
            strip.pixels.withUnsafeBufferPointer { samples in
                let rowStart = (y - stripY) * width, plane = strip.planeSize
                if bitDepth == 16 {
                    let out = row.assumingMemoryBound(to: UInt16.self)
                    for c in 0 ..< channels {
                        let src = samples.baseAddress! + c * plane + rowStart
                        for x in 0 ..< width { out[x * channels + c] = UInt16(clampUnit(src[x]) * 65535 + 0.5) }
                    }
                } else {
                    let out = row.assumingMemoryBound(to: UInt8.self)
                    for c in 0 ..< channels {
                        let src = samples.baseAddress! + c * plane + rowStart
                        for x in 0 ..< width { out[x * channels + c] = UInt8(clampUnit(src[x]) * 255 + 0.5) }
                    }
                }
            }
        }
    }

    /// Writes `image` to `path` as `format` through a temporary file in the same directory, renamed into place
    /// only once the encoder has finished and the data is flushed to disk.
    static func write(
        _ image: ImageRegionSource, path: String, format: ImageFormat, bitDepth: Int, dpi: Double?, stripRows: Int
    ) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        var message = [CChar](repeating: 0, count: ImageDecoding.messageCapacity)
        let cap = message.count
        let source = RowSource(image: image, stripRows: stripRows, bitDepth: bitDepth)
        var spec = imgshim_write_spec(
            width: Int32(image.width), height: Int32(image.height),
            channels: Int32(image.channels), bit_depth: Int32(bitDepth),
            dpi: dpi ?? 0,
            fill_row: { context, y, row in
                Unmanaged<RowSource>.fromOpaque(context!).takeUnretainedValue().fill(row: Int(y), into: row!)
            }, context: Unmanaged.passUnretained(source).toOpaque())
        var status: Int32 = temporary.withCString { cPath in
            switch format {
            case .png: return imgshim_png_write(cPath, &spec, &message, cap)
            case .tiff: return imgshim_tiff_write(cPath, &spec, &message, cap)
            case .jpeg: return Int32(IMGSHIM_ERR_UNSUPPORTED)
            }
        }
        withExtendedLifetime(source) {}
        if status == IMGSHIM_OK, let error = source.error {
            status = Int32(IMGSHIM_ERR_WRITE)
            message = Array("reading the image: \(error)".utf8CString.prefix(cap - 1)) + [0]
        }
        let text = ImageDecoding.string(fromC: message)
        guard status == IMGSHIM_OK else {
            if status != IMGSHIM_ERR_OPEN { unlink(temporary) }
            let reason =
                status == IMGSHIM_ERR_OPEN
                ? "cannot create a file in \(directory): \(text)"
                : "\(format.name) encoder: \(text.isEmpty ? "unknown error" : text)"
            throw ImageError.writeFailed(path, reason: reason)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw ImageError.writeFailed(path, reason: ImageDecoding.systemMessage(code))
        }
    }

    /// Encodes `image` as a PNG in memory (no file): for previews served over HTTP.
    static func encodePNG(_ image: PlanarImage, bitDepth: Int) throws -> [UInt8] {
        var message = [CChar](repeating: 0, count: ImageDecoding.messageCapacity)
        let cap = message.count
        let source = RowSource(image: image, stripRows: max(1, image.height), bitDepth: bitDepth)
        var spec = imgshim_write_spec(
            width: Int32(clamping: image.width), height: Int32(clamping: image.height),
            channels: Int32(clamping: image.channels), bit_depth: Int32(clamping: bitDepth),
            dpi: 0,
            fill_row: { context, y, row in
                Unmanaged<RowSource>.fromOpaque(context!).takeUnretainedValue().fill(row: Int(y), into: row!)
            }, context: Unmanaged.passUnretained(source).toOpaque())
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = imgshim_png_encode(&spec, &out, &size, &message, cap)
        withExtendedLifetime(source) {}
        defer { free(out) }
        guard status == IMGSHIM_OK, let out else {
            throw ImageError.writeFailed("(memory)", reason: "PNG encoder: \(ImageDecoding.string(fromC: message))")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}
