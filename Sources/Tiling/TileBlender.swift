import Imaging

/// Accumulates tiles into a canvas with their blend weights: Σ wᵢ·tileᵢ / Σ wᵢ.
public struct TileBlender: Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let overlap: Int
    var sum: [Float]
    var weight: [Float]

    public init(width: Int, height: Int, channels: Int = 3, overlap: Int) {
        self.width = width
        self.height = height
        self.channels = channels
        self.overlap = overlap
        sum = [Float](repeating: 0, count: channels * width * height)
        weight = [Float](repeating: 0, count: width * height)
    }

    /// Adds a tile's core pixels (`image` is exactly the core's size).
    public mutating func add(_ image: PlanarImage, at core: PixelRect) {
        precondition(image.width == core.width && image.height == core.height && image.channels == channels)
        let w = BlendWindow.weights(core: core, canvasWidth: width, canvasHeight: height, overlap: overlap)
        let n = width * height
        for y in 0 ..< core.height {
            for x in 0 ..< core.width {
                let cw = w[y * core.width + x], dst = (core.y + y) * width + core.x + x
                weight[dst] += cw
                for c in 0 ..< channels { sum[c * n + dst] += cw * image.pixels[(c * core.height + y) * core.width + x] }
            }
        }
    }

    /// Pixels no tile has covered yet (should be none when a whole plan was added).
    public var uncovered: Int { weight.filter { $0 <= 0 }.count }

    /// The blended canvas; uncovered pixels are taken from `fallback`.
    public func result(fallback: PlanarImage) -> PlanarImage {
        precondition(fallback.width == width && fallback.height == height)
        var out = fallback
        let n = width * height
        for i in 0 ..< n where weight[i] > 0 {
            for c in 0 ..< channels { out.pixels[c * n + i] = sum[c * n + i] / weight[i] }
        }
        return out
    }
}
