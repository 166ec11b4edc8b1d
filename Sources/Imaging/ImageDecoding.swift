import CImageShim
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading: signature sniffing, the C decoders, and conversion of their interleaved output to planar floats.
enum ImageDecoding {
    /// Size of the message buffer handed to the C shim.
    static let messageCapacity = 1024

    /// Opens the file, classifies open errors, and detects the format from its first bytes.
    static func sniff(path: String) throws -> ImageFormat {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw ImageError.fileNotFound(path) }
            throw ImageError.unreadable(path, reason: systemMessage(code))
        }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw ImageError.unreadable(path, reason: "is a directory")
        }
        var head = [UInt8](repeating: 0, count: 8)
        var filled = 0
        while filled < head.count {
            let got = head.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ImageError.unreadable(path, reason: systemMessage(errno))
            }
            if got == 0 { break }
            filled += got
        }
        if filled == 0 { throw ImageError.emptyFile(path) }
        guard let format = ImageFormat.detect(magic: head.prefix(filled)) else { throw ImageError.unknownFormat(path) }
        return format
    }

    /// Decodes `path` as `format` and converts it to a 3-channel planar image.
    static func decode(path: String, format: ImageFormat, limits: ImageLimits, need: ImageNeed = .whole) throws
        -> LoadedImage
    {
        var raw = imgshim_image()
        var message = [CChar](repeating: 0, count: messageCapacity)
        let cap = message.count
        var cLimits = imgshim_limits(
            max_side: Int64(limits.maxSide), max_pixels: Int64(limits.maxPixels), need_width: 0, need_height: 0,
            need_long: 0, nearest: need.nearest ? 1 : 0)
        switch need.size {
        case .whole: break
        case let .atLeast(w, h): (cLimits.need_width, cLimits.need_height) = (Int64(max(0, w)), Int64(max(0, h)))
        case let .longSide(l): cLimits.need_long = Int64(max(0, l))
        }
        let status: Int32 = path.withCString { cPath in
            switch format {
            case .png: return imgshim_png_read(cPath, cLimits, &raw, &message, cap)
            case .jpeg: return imgshim_jpeg_read(cPath, cLimits, &raw, &message, cap)
            case .tiff: return imgshim_tiff_read(cPath, cLimits, &raw, &message, cap)
            }
        }
        defer { imgshim_free(raw.pixels) }
        let text = string(fromC: message)
        switch Int(status) {
        case Int(IMGSHIM_OK):
            break
        case Int(IMGSHIM_ERR_OPEN):
            throw ImageError.unreadable(path, reason: text)
        case Int(IMGSHIM_ERR_TOO_LARGE):
            throw ImageError.tooLarge(path, width: Int(raw.width), height: Int(raw.height), limits: limits)
        case Int(IMGSHIM_ERR_UNSUPPORTED):
            throw ImageError.unsupported(path, reason: "\(format.name): \(text)")
        case Int(IMGSHIM_ERR_NOMEM):
            throw ImageError.unreadable(path, reason: text)
        default:
            throw ImageError.corrupt(path, format: format, reason: text.isEmpty ? "decoder error" : text)
        }
        guard let pixels = raw.pixels, raw.width > 0, raw.height > 0,
            raw.channels == 3 || raw.channels == 4, raw.bit_depth == 8 || raw.bit_depth == 16
        else {
            throw ImageError.corrupt(path, format: format, reason: "decoder returned an unexpected layout")
        }
        let layout = Layout(
            width: Int(raw.width), height: Int(raw.height), channels: Int(raw.channels),
            premultiplied: raw.alpha_premultiplied != 0)
        let image: PlanarImage
        if raw.bit_depth == 16 {
            image = pixels.withMemoryRebound(to: UInt16.self, capacity: layout.sampleCount) { planarRGB($0, layout) }
        } else {
            image = planarRGB(pixels, layout)
        }
        return LoadedImage(
            image: image, format: format, bitDepth: Int(raw.source_bit_depth),
            dpi: dotsPerInch(raw.x_resolution, unit: raw.resolution_unit), hadAlpha: raw.had_alpha != 0,
            fileWidth: Int(raw.file_width), fileHeight: Int(raw.file_height))
    }

    /// Shape of the decoder's interleaved buffer.
    struct Layout {
        var width: Int
        var height: Int
        var channels: Int
        var premultiplied: Bool
        var sampleCount: Int { width * height * channels }
    }

    /// Interleaved RGB(A) samples -> planar RGB floats in 0...1, with alpha composited over white.
    static func planarRGB<T: FixedWidthInteger & UnsignedInteger>(_ src: UnsafeMutablePointer<T>, _ layout: Layout)
        -> PlanarImage
    {
        let width = layout.width, plane = layout.width * layout.height, channels = layout.channels
        let maxValue = Float(T.max)
        let alpha = channels == 4, premultiplied = layout.premultiplied
        let pixels = [Float](unsafeUninitializedCapacity: plane * 3) { buffer, count in
            let dst = buffer.baseAddress!
            Parallel.forEachRange(count: layout.height) { rows in
                for i in (rows.lowerBound * width) ..< (rows.upperBound * width) {
                    let s = src + i * channels
                    // Division (not a reciprocal multiply) gives the correctly rounded v / 255 or v / 65535.
                    var r = Float(s[0]) / maxValue, g = Float(s[1]) / maxValue, b = Float(s[2]) / maxValue
                    if alpha {
                        let a = Float(s[3]) / maxValue
                        if premultiplied {
                            r += 1 - a; g += 1 - a; b += 1 - a
                        } else {
                            r = r * a + (1 - a); g = g * a + (1 - a); b = b * a + (1 - a)
                        }
                    }
                    dst[i] = r
                    dst[plane + i] = g
                    dst[2 * plane + i] = b
                }
            }
            count = plane * 3
        }
        return PlanarImage(width: layout.width, height: layout.height, channels: 3, pixels: pixels)
    }

    /// Converts a stored resolution to dots per inch. Values that were stored by rounding an integral DPI (such
    /// as 300 dpi = 11811 pixels per metre) come back as that integer.
    static func dotsPerInch(_ value: Double, unit: Int32) -> Double? {
        guard value > 0, value.isFinite else { return nil }
        let unitsPerInch: Double
        switch Int(unit) {
        case Int(IMGSHIM_UNIT_INCH): return value
        case Int(IMGSHIM_UNIT_METRE): unitsPerInch = 1 / 0.0254
        case Int(IMGSHIM_UNIT_CM): unitsPerInch = 2.54
        default: return nil
        }
        let dpi = value / unitsPerInch
        let whole = dpi.rounded()
        if value == value.rounded() && whole > 0 && (whole * unitsPerInch).rounded() == value { return whole }
        return dpi
    }

    /// The text of a NUL-terminated C buffer.
    static func string(fromC buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `strerror` for an errno value.
    static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
