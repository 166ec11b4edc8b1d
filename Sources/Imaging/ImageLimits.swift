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

/// How much of an image the reader must keep: an image larger than needed is read reduced by an integer factor (the
/// largest that keeps the need), each pixel the mean of a block of the file's, so a file's declared size never
/// decides the memory its reading takes (a 1 MB PNG can declare 16384x16384 pixels). JPEG uses libjpeg's DCT
/// scaling (1/2, 1/4, 1/8) first; PNG and TIFF strips are reduced row by row as they are read. A map of colours (a
/// region mask, whose means would name no region) is reduced `nearest`: each block's middle pixel.
public struct ImageNeed: Sendable, Equatable {
    public enum Size: Sendable, Equatable {
        /// Every pixel of the file.
        case whole
        /// At least this size (the result's width and height each reach these, when the file's do).
        case atLeast(width: Int, height: Int)
        /// At least this long side.
        case longSide(Int)
    }

    public var size: Size
    /// Each block's middle pixel instead of its mean.
    public var nearest = false

    public static let whole = ImageNeed(size: .whole)
    public static func atLeast(width: Int, height: Int) -> ImageNeed {
        ImageNeed(size: .atLeast(width: width, height: height))
    }
    public static func longSide(_ side: Int) -> ImageNeed { ImageNeed(size: .longSide(side)) }

    /// The same need, reduced by each block's middle pixel.
    public var nearestSampled: ImageNeed {
        var need = self
        need.nearest = true
        return need
    }

    /// The factor a `width` x `height` file is read reduced by (1: none); the C reader computes the same.
    public func factor(width: Int, height: Int) -> Int {
        let f: Int
        switch size {
        case .whole: f = 1
        case let .atLeast(w, h): f = w > 0 && h > 0 ? min(width / w, height / h) : 1
        case let .longSide(l): f = l > 0 ? max(width, height) / l : 1
        }
        return min(max(f, 1), 65_535)
    }
}
