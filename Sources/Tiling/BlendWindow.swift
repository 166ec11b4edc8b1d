import Foundation

/// Smooth blending weights for a tile's core: 1 inside, a raised-cosine ramp across each overlap that
/// borders another tile, 1 up to the canvas edge. Two neighbours' ramps over the same overlap sum to 1.
public enum BlendWindow {
    /// Weights along one axis of a core [lo, hi) on a canvas of `extent`, with `overlap`-wide ramps.
    public static func axis(lo: Int, hi: Int, extent: Int, overlap: Int) -> [Float] {
        (lo ..< hi).map { p in
            var w: Float = 1
            if lo > 0 && overlap > 0 && p < lo + overlap { w *= ramp(p - lo, overlap) }
            if hi < extent && overlap > 0 && p >= hi - overlap { w *= ramp(hi - 1 - p, overlap) }
            return w
        }
    }

    /// Raised cosine: rises from near 0 to near 1 over `width` samples; ramp(t) + ramp(width − 1 − t) = 1.
    static func ramp(_ t: Int, _ width: Int) -> Float {
        Float(0.5 - 0.5 * cos(Double.pi * (Double(t) + 0.5) / Double(width)))
    }

    /// Weights of a tile's core, (height, width) row-major.
    public static func weights(core: PixelRect, canvasWidth: Int, canvasHeight: Int, overlap: Int) -> [Float] {
        let wx = axis(lo: core.x, hi: core.maxX, extent: canvasWidth, overlap: overlap)
        let wy = axis(lo: core.y, hi: core.maxY, extent: canvasHeight, overlap: overlap)
        var out = [Float](repeating: 0, count: core.area)
        for y in 0 ..< core.height { for x in 0 ..< core.width { out[y * core.width + x] = wy[y] * wx[x] } }
        return out
    }
}
