import Imaging

/// Accumulates tiles into a canvas with their blend weights: Σ wᵢ·tileᵢ / Σ wᵢ.
///
/// A blender may cover only a `window` of the canvas (a strip of rows, say): it then keeps just that window's sums
/// and adds just the part of each tile inside it, so a canvas too big to hold is blended window by window. Each
/// pixel's sums are the same, in the same order, as with one blender over the whole canvas.
public struct TileBlender: Sendable {
    /// The canvas's size (blend weights ramp only where a tile borders another, not at the canvas edge).
    public let width: Int
    public let height: Int
    public let channels: Int
    public let overlap: Int
    /// The part of the canvas this blender holds.
    public let window: PixelRect
    var sum: [Float]
    var weight: [Float]

    public init(width: Int, height: Int, channels: Int = 3, overlap: Int, window: PixelRect? = nil) {
        self.width = width
        self.height = height
        self.channels = channels
        self.overlap = overlap
        self.window = window ?? PixelRect(x: 0, y: 0, width: width, height: height)
        sum = [Float](repeating: 0, count: channels * self.window.area)
        weight = [Float](repeating: 0, count: self.window.area)
    }

    /// Adds the part inside the window of a tile's core pixels (`image` is exactly the core's size).
    public mutating func add(_ image: PlanarImage, at core: PixelRect) {
        precondition(image.width == core.width && image.height == core.height && image.channels == channels)
        add(image, rows: 0 ..< core.height, at: core)
    }

    /// Adds rows `rows` of a tile's core, given as `image` (`rows.count` rows of the core's width).
    public mutating func add(_ image: PlanarImage, rows: Range<Int>, at core: PixelRect) {
        precondition(image.width == core.width && image.height == rows.count && image.channels == channels)
        let wy = BlendWindow.axis(lo: core.y, hi: core.maxY, extent: height, overlap: overlap)
        let wx = BlendWindow.axis(lo: core.x, hi: core.maxX, extent: width, overlap: overlap)
        let n = window.area
        let x0 = max(core.x, window.x), x1 = min(core.maxX, window.maxX)
        let y0 = max(core.y + rows.lowerBound, window.y), y1 = min(core.y + rows.upperBound, window.maxY)
        guard x0 < x1, y0 < y1 else { return }
        for cy in y0 ..< y1 {
            let y = cy - core.y, iy = y - rows.lowerBound
            for cx in x0 ..< x1 {
                let x = cx - core.x
                let cw = wy[y] * wx[x], dst = (cy - window.y) * window.width + cx - window.x
                weight[dst] += cw
                for c in 0 ..< channels {
                    sum[c * n + dst] += cw * image.pixels[(c * image.height + iy) * core.width + x]
                }
            }
        }
    }

    /// Pixels of the window no tile has covered yet (should be none when a whole plan was added).
    public var uncovered: Int { weight.filter { $0 <= 0 }.count }

    /// The blended window; uncovered pixels are taken from `fallback` (the window's size).
    public func result(fallback: PlanarImage) -> PlanarImage {
        precondition(fallback.width == window.width && fallback.height == window.height)
        var out = fallback
        let n = window.area
        for i in 0 ..< n where weight[i] > 0 {
            for c in 0 ..< channels { out.pixels[c * n + i] = sum[c * n + i] / weight[i] }
        }
        return out
    }
}
