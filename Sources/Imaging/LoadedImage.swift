/// An image read from a file, with what the file said about itself.
public struct LoadedImage: Sendable, Equatable {
    /// The pixels, always 3-channel RGB: gray is expanded and alpha is composited over white.
    public var image: PlanarImage
    /// The format detected from the file's signature.
    public var format: ImageFormat
    /// Bits per sample in the file (1, 2, 4, 8 or 16; 8 for JPEG).
    public var bitDepth: Int
    /// Resolution in dots per inch from PNG pHYs, JFIF density or TIFF XResolution; nil if the file has none.
    public var dpi: Double?
    /// Whether the file had an alpha channel or transparency (it has been composited over white).
    public var hadAlpha: Bool
    /// The file's own size: `image` is smaller when it was read reduced (`ImageNeed`).
    public var fileWidth: Int
    public var fileHeight: Int

    /// Creates a loaded image.
    public init(
        image: PlanarImage, format: ImageFormat, bitDepth: Int, dpi: Double?, hadAlpha: Bool, fileWidth: Int? = nil,
        fileHeight: Int? = nil
    ) {
        self.image = image
        self.fileWidth = fileWidth ?? image.width
        self.fileHeight = fileHeight ?? image.height
        self.format = format
        self.bitDepth = bitDepth
        self.dpi = dpi
        self.hadAlpha = hadAlpha
    }
}
