/// A floating-point image stored plane by plane: all of channel 0, then channel 1, and so on.
///
/// Sample `(c, y, x)` lives at `pixels[(c * height + y) * width + x]`. Values are nominally in `0...1` and are
/// sRGB-encoded as in the file (no gamma conversion); operations such as resampling may leave that range, and
/// `clamped()` brings an image back into it.
public struct PlanarImage: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Number of channels (3 for RGB, 1 for gray).
    public var channels: Int
    /// `channels * height * width` samples in (channel, row, column) order.
    public var pixels: [Float]

    /// Wraps existing planar samples. `pixels.count` must equal `width * height * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && channels >= 1, "invalid image shape \(width)x\(height)x\(channels)")
        precondition(
            pixels.count == width * height * channels,
            "expected \(width * height * channels) samples for \(width)x\(height)x\(channels), "
                + "got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An image with every sample set to `fill`.
    public init(width: Int, height: Int, channels: Int, fill: Float) {
        self.init(
            width: width, height: height, channels: channels,
            pixels: [Float](repeating: fill, count: max(0, width * height * channels)))
    }

    /// Number of samples in one channel plane (`width * height`).
    public var planeSize: Int { width * height }

    /// The flat index of sample `(c, y, x)`.
    @inlinable
    public func index(_ c: Int, _ y: Int, _ x: Int) -> Int {
        (c * height + y) * width + x
    }

    /// Sample `(c, y, x)`; indices must be in range.
    @inlinable
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get {
            precondition(c >= 0 && c < channels && y >= 0 && y < height && x >= 0 && x < width, "index out of range")
            return pixels[index(c, y, x)]
        }
        set {
            precondition(c >= 0 && c < channels && y >= 0 && y < height && x >= 0 && x < width, "index out of range")
            pixels[index(c, y, x)] = newValue
        }
    }

    /// The rectangle at (`x`, `y`) of size `width` x `height`, all channels. The rectangle must lie inside the image;
    /// the whole image is returned as it is (no copy).
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> PlanarImage {
        precondition(
            x >= 0 && y >= 0 && width >= 0 && height >= 0 && x + width <= self.width && y + height <= self.height,
            "crop \(width)x\(height)+\(x)+\(y) outside \(self.width)x\(self.height)")
        if x == 0 && y == 0 && width == self.width && height == self.height { return self }
        var out = [Float]()
        out.reserveCapacity(width * height * channels)
        for c in 0 ..< channels {
            for row in y ..< (y + height) {
                let start = index(c, row, x)
                out.append(contentsOf: pixels[start ..< (start + width)])
            }
        }
        return PlanarImage(width: width, height: height, channels: channels, pixels: out)
    }

    /// A copy with every sample clamped to `0...1`; NaN becomes 0.
    public func clamped() -> PlanarImage {
        PlanarImage(width: width, height: height, channels: channels, pixels: pixels.map(clampUnit))
    }
}

extension PlanarImage {
    /// The samples a `bitDepth`-bit file of this image reads back as (`ImageIO.write`'s clamp and rounding, then
    /// `ImageIO.read`'s division), keeping the channel count: what an image that travels as a PNG becomes.
    public func quantized(bitDepth: Int) -> PlanarImage {
        var out = self
        let scale: Float = bitDepth == 16 ? 65535 : 255
        for i in out.pixels.indices {
            out.pixels[i] = (clampUnit(pixels[i]) * scale + 0.5).rounded(.down) / scale
        }
        return out
    }
}

/// Clamps to `0...1`, mapping NaN to 0.
@inline(__always)
func clampUnit(_ value: Float) -> Float {
    if !(value > 0) { return 0 }
    return value < 1 ? value : 1
}
