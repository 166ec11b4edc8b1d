/// Why reading or writing an image failed. Every case carries the path of the file concerned, and `description`
/// is a one-line message naming it, e.g. `photo.png: corrupt PNG: IDAT: CRC error`.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist.
    case fileNotFound(String)
    /// The file exists but could not be opened or read (permissions, a directory, an I/O error).
    case unreadable(String, reason: String)
    /// The file has no bytes.
    case emptyFile(String)
    /// The file's first bytes are not a PNG, JPEG or TIFF signature.
    case unknownFormat(String)
    /// The decoder rejected the file; `reason` is the decoder's own message.
    case corrupt(String, format: ImageFormat, reason: String)
    /// The header declares dimensions beyond the limits; nothing was allocated.
    case tooLarge(String, width: Int, height: Int, limits: ImageLimits)
    /// A valid file or a request this module does not handle (e.g. a 16-bit tiled TIFF, writing `.jpg`).
    case unsupported(String, reason: String)
    /// Writing failed; no output file was left behind.
    case writeFailed(String, reason: String)

    /// The path of the file concerned.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .unreadable(let path, _), .emptyFile(let path), .unknownFormat(let path),
            .corrupt(let path, _, _), .tooLarge(let path, _, _, _), .unsupported(let path, _),
            .writeFailed(let path, _):
            return path
        }
    }

    /// A one-line human-readable message that starts with the path.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .emptyFile(let path):
            return "\(path): file is empty"
        case .unknownFormat(let path):
            return "\(path): not a PNG, JPEG or TIFF file"
        case .corrupt(let path, let format, let reason):
            return "\(path): corrupt \(format.name): \(reason)"
        case .tooLarge(let path, let width, let height, let limits):
            let limit =
                width > limits.maxSide || height > limits.maxSide
                ? "\(limits.maxSide) pixels per side" : "\(limits.maxPixels) pixels in total"
            return "\(path): image is \(width)x\(height) pixels, over the limit of \(limit)"
        case .unsupported(let path, let reason):
            return "\(path): unsupported: \(reason)"
        case .writeFailed(let path, let reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
