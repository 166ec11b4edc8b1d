/// The file formats `ImageIO` understands.
///
/// Reading detects the format from the file's first bytes, never from its name. Writing picks it from the output
/// file's extension (`.png`, `.tif`, `.tiff`); JPEG is read-only.
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    /// Portable Network Graphics: read any colour type and depth; written as 8- or 16-bit gray or RGB.
    case png
    /// JPEG/JFIF: read only (gray, YCbCr, CMYK, YCCK), as 8-bit RGB.
    case jpeg
    /// TIFF: read 8/16-bit gray or RGB(A) strips and, via libtiff's RGBA reader, other 8-bit layouts; written as
    /// deflate-compressed 8- or 16-bit gray or RGB.
    case tiff

    /// The conventional upper-case name, as used in messages ("PNG", "JPEG", "TIFF").
    public var name: String { rawValue.uppercased() }

    /// The format whose signature starts `bytes`, or nil: PNG `89 50 4E 47 0D 0A 1A 0A`, JPEG `FF D8 FF`,
    /// TIFF `II*\0` or `MM\0*` (and BigTIFF `II+\0` / `MM\0+`).
    public static func detect<Bytes: Collection>(magic bytes: Bytes) -> ImageFormat? where Bytes.Element == UInt8 {
        let head = Array(bytes.prefix(8))
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A])
            || head.starts(with: [0x49, 0x49, 0x2B, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2B])
        {
            return .tiff
        }
        return nil
    }

    /// The format to write for a file extension (case-insensitive, without the dot): `png`, `tif` or `tiff`.
    public static func forWriting(pathExtension ext: String) -> ImageFormat? {
        switch ext.lowercased() {
        case "png": return .png
        case "tif", "tiff": return .tiff
        default: return nil
        }
    }
}
