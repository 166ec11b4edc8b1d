import Foundation

/// Reads and writes PNG, JPEG and TIFF files as `PlanarImage`s.
///
/// Reading detects the format from the file's signature and always returns 3-channel RGB in `0...1`: gray is
/// expanded to RGB and alpha (including PNG tRNS transparency) is composited over white. Values are the stored
/// sRGB-encoded samples divided by 255 or 65535; no gamma or ICC conversion is applied.
///
/// Writing picks the format from the extension (`.png`, `.tif`, `.tiff`), clamps samples to `0...1`, quantises with
/// round-to-nearest (`v * 255` or `v * 65535`) and replaces the destination atomically: the data goes to a hidden
/// temporary file in the same directory, which is renamed over the destination only after a complete, flushed
/// write. A failure never leaves a partial output. 3-channel images are written as RGB, 1-channel images as gray.
public enum ImageIO {
    /// Reads the image at `url` (a file URL).
    ///
    /// - Parameter limits: dimensions beyond these are rejected from the header with `ImageError.tooLarge`,
    ///   before any pixel memory is allocated.
    /// - Throws: `ImageError` naming the file: `.fileNotFound`, `.unreadable`, `.emptyFile`, `.unknownFormat`,
    ///   `.corrupt` (with the decoder's message; JPEG warnings such as "Premature end of JPEG file" count as
    ///   corruption), `.tooLarge` or `.unsupported`.
    /// - Parameter need: what the caller uses of it: a larger file is read reduced (`ImageNeed`), and `limits`'
    ///   pixel count then bounds the reduced image, not the file.
    public static func read(_ url: URL, limits: ImageLimits = .default, need: ImageNeed = .whole) throws -> LoadedImage
    {
        let path = url.path
        guard url.isFileURL else { throw ImageError.unreadable(path, reason: "not a file URL") }
        let format = try ImageDecoding.sniff(path: path)
        return try ImageDecoding.decode(path: path, format: format, limits: limits, need: need)
    }

    /// Writes `image` to `url`: PNG (8 or 16 bit, with a pHYs chunk when `dpi` is given) or TIFF (8 or 16 bit,
    /// deflate-compressed, with XResolution/YResolution in inches when `dpi` is given).
    ///
    /// - Parameters:
    ///   - image: 3 channels (written as RGB) or 1 channel (written as gray); samples are clamped to `0...1`.
    ///   - bitDepth: 8 or 16.
    ///   - dpi: resolution to record; PNG stores `round(dpi / 0.0254)` pixels per metre.
    /// - Throws: `ImageError.unsupported` for an unknown extension, bit depth, channel count, empty image or
    ///   invalid DPI; `ImageError.writeFailed` if the file cannot be created or written (nothing is left behind).
    public static func write(_ image: PlanarImage, to url: URL, bitDepth: Int = 16, dpi: Double? = nil) throws {
        try write(image, to: url, bitDepth: bitDepth, dpi: dpi, stripRows: max(1, image.height))
    }

    /// The PNG bytes `write(_:to:bitDepth:)` would put in a file without DPI, encoded in memory.
    public static func encodePNG(_ image: PlanarImage, bitDepth: Int = 8) throws -> [UInt8] {
        guard bitDepth == 8 || bitDepth == 16, image.channels == 1 || image.channels == 3, image.width > 0,
            image.height > 0
        else {
            throw ImageError.unsupported(
                "(memory)",
                reason: "cannot encode a \(image.channels)-channel \(bitDepth)-bit \(image.width)x\(image.height) PNG")
        }
        return try ImageEncoding.encodePNG(image, bitDepth: bitDepth)
    }

    /// Writes any region source the same way, reading it `stripRows` rows at a time: an image bigger than memory
    /// (a `DiskImage` canvas) is encoded without ever being held whole. The same source gives the same bytes as
    /// the in-memory `write`. TIFFs past 4 GiB are written as BigTIFF.
    public static func write(
        _ image: ImageRegionSource, to url: URL, bitDepth: Int = 16, dpi: Double? = nil, stripRows: Int
    ) throws {
        let path = url.path
        guard url.isFileURL else { throw ImageError.writeFailed(path, reason: "not a file URL") }
        guard let format = ImageFormat.forWriting(pathExtension: url.pathExtension) else {
            let ext = url.pathExtension.isEmpty ? "no extension" : "extension \".\(url.pathExtension)\""
            throw ImageError.unsupported(path, reason: "cannot write a file with \(ext); use .png, .tif or .tiff")
        }
        guard bitDepth == 8 || bitDepth == 16 else {
            throw ImageError.unsupported(path, reason: "bit depth \(bitDepth); use 8 or 16")
        }
        guard image.channels == 1 || image.channels == 3 else {
            throw ImageError.unsupported(path, reason: "cannot write a \(image.channels)-channel image; use 1 or 3")
        }
        guard image.width > 0, image.height > 0, image.width <= Int(Int32.max), image.height <= Int(Int32.max) else {
            throw ImageError.unsupported(path, reason: "cannot write a \(image.width)x\(image.height) image")
        }
        if let dpi, !(dpi.isFinite && dpi > 0 && dpi < 1e8) {
            throw ImageError.unsupported(path, reason: "invalid resolution \(dpi) dpi")
        }
        try ImageEncoding.write(image, path: path, format: format, bitDepth: bitDepth, dpi: dpi, stripRows: stripRows)
    }
}
