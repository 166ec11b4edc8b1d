/// Anything that hands out rectangles of a planar image: an image in memory (`PlanarImage`), a file on disk
/// (`DiskImage`), or a view computed per rectangle (`ResizedImage`). The farm's coordinator holds a stage's
/// canvases this way, so its memory does not grow with the output size (Docs/architecture.md, "Canvases on disk").
public protocol ImageRegionSource: Sendable {
    var width: Int { get }
    var height: Int { get }
    var channels: Int { get }
    /// The rectangle at (`x`, `y`) of size `width` x `height`, all channels; it must lie inside the image.
    func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage
}

extension PlanarImage: ImageRegionSource {
    public func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage {
        cropped(x: x, y: y, width: width, height: height)
    }
}

public extension ImageRegionSource {
    /// Bytes of the whole image as float32 samples.
    var byteCount: Int { 4 * width * height * channels }

    /// The whole image in memory.
    func whole() throws -> PlanarImage { try region(x: 0, y: 0, width: width, height: height) }

    /// The whole image in memory when it takes at most `limit` bytes, else this source itself (read per region).
    func materialized(limit: Int) throws -> ImageRegionSource { byteCount <= limit ? try whole() : self }

    /// Calls `body` with consecutive full-width strips of at most `rows` rows, top to bottom.
    func forEachStrip(rows: Int, _ body: (_ y: Int, _ strip: PlanarImage) throws -> Void) throws {
        var y = 0
        while y < height {
            let h = min(max(1, rows), height - y)
            try body(y, try region(x: 0, y: y, width: width, height: h))
            y += h
        }
    }

    /// Rows per strip so that one strip takes about `bytes` bytes.
    func stripRows(bytes: Int) -> Int { max(1, bytes / max(1, 4 * width * channels)) }

    /// A small copy whose long side is `longSide`, each pixel the mean of the source pixels it covers, read strip by
    /// strip (for previews of images too big to hold).
    func boxDownscaled(longSide: Int) throws -> PlanarImage {
        let scale = min(1, Double(longSide) / Double(max(width, height)))
        return try boxDownscaled(
            width: max(1, Int((Double(width) * scale).rounded())),
            height: max(1, Int((Double(height) * scale).rounded())))
    }

    /// The same to exactly `w` x `h` (each at most the source's side).
    func boxDownscaled(width w: Int, height h: Int) throws -> PlanarImage {
        var sum = [Double](repeating: 0, count: channels * w * h), count = [Double](repeating: 0, count: w * h)
        let columns = (0 ..< width).map { min(w - 1, $0 * w / width) }
        try forEachStrip(rows: stripRows(bytes: 32 << 20)) { y0, strip in
            for y in 0 ..< strip.height {
                let oy = min(h - 1, (y0 + y) * h / height)
                for x in 0 ..< width {
                    let o = oy * w + columns[x]
                    count[o] += 1
                    for c in 0 ..< channels {
                        sum[c * w * h + o] += Double(strip.pixels[(c * strip.height + y) * width + x])
                    }
                }
            }
        }
        let pixels = (0 ..< channels * w * h).map { Float(sum[$0] / max(1, count[$0 % (w * h)])) }
        return PlanarImage(width: w, height: h, channels: channels, pixels: pixels)
    }
}

/// A source resized to another size, computed per region with `Resampler.Plan` (each region's pixels are exactly
/// those of resizing the whole source), optionally clamped to `0...1`.
public struct ResizedImage: ImageRegionSource {
    public let source: ImageRegionSource
    public let plan: Resampler.Plan
    public let clamp: Bool
    public var width: Int { plan.width }
    public var height: Int { plan.height }
    public var channels: Int { source.channels }

    public init(_ source: ImageRegionSource, width: Int, height: Int, clamp: Bool = false) {
        self.source = source
        plan = Resampler.Plan(inputWidth: source.width, inputHeight: source.height, width: width, height: height)
        self.clamp = clamp
    }

    public func region(x: Int, y: Int, width: Int, height: Int) throws -> PlanarImage {
        let out = try plan.region(x: x, y: y, width: width, height: height, channels: channels, read: source.region)
        return clamp ? out.clamped() : out
    }
}
