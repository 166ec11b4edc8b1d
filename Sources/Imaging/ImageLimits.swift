/// Upper bounds on the size of an image to decode, checked against the file header before any pixels are
/// allocated, so a hostile or damaged file cannot make the reader allocate gigabytes.
public struct ImageLimits: Sendable, Equatable {
    /// Largest width or height accepted.
    public var maxSide: Int
    /// Largest `width * height` accepted.
    public var maxPixels: Int

    /// Limits of `maxSide` pixels per side and `maxPixels` in total.
    public init(maxSide: Int = 65_535, maxPixels: Int = 1 << 28) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
    }

    /// 65,535 pixels per side and 2^28 (about 268 million) pixels in total.
    public static let `default` = ImageLimits()

    /// Whether a `width` x `height` image fits.
    public func allows(width: Int, height: Int) -> Bool {
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        return width <= maxSide && height <= maxSide && !overflow && area <= maxPixels
    }
}
