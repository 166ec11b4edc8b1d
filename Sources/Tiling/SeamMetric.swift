import Imaging

/// How visible a tile grid is in an image: the mean gradient magnitude across the planned tile
/// boundaries divided by the mean over every other position. About 1 means no visible seam.
///
/// Boundaries are, along each axis, the seams of the plan and the edges of each core (where an
/// overlap ramp starts and ends); the gradient across a boundary between p−1 and p is |I(p) − I(p−1)|,
/// averaged over channels and the other axis.
public enum SeamMetric {
    public static func score(_ image: PlanarImage, plan: TilePlan) -> Double {
        precondition(image.width == plan.canvasWidth && image.height == plan.canvasHeight, "plan the image's own size")
        let xs = boundaries(
            extent: image.width, cores: plan.tiles.map { $0.core.x ..< $0.core.maxX },
            seams: TilePlan.seams(
                extent: image.width, tile: plan.tileSize, overlap: plan.overlap,
                shifted: plan.shifted))
        let ys = boundaries(
            extent: image.height, cores: plan.tiles.map { $0.core.y ..< $0.core.maxY },
            seams: TilePlan.seams(
                extent: image.height, tile: plan.tileSize, overlap: plan.overlap,
                shifted: plan.shifted))
        var seam = 0.0, seamCount = 0.0, interior = 0.0, interiorCount = 0.0
        let w = image.width, h = image.height, n = w * h
        for c in 0 ..< image.channels {
            let base = c * n
            for y in 0 ..< h {
                for x in 1 ..< max(1, w) {
                    let g = Double(abs(image.pixels[base + y * w + x] - image.pixels[base + y * w + x - 1]))
                    if xs.contains(x) { seam += g; seamCount += 1 } else { interior += g; interiorCount += 1 }
                }
            }
            for y in 1 ..< max(1, h) {
                for x in 0 ..< w {
                    let g = Double(abs(image.pixels[base + y * w + x] - image.pixels[base + (y - 1) * w + x]))
                    if ys.contains(y) { seam += g; seamCount += 1 } else { interior += g; interiorCount += 1 }
                }
            }
        }
        guard seamCount > 0, interiorCount > 0, interior > 0 else { return 1 }
        return (seam / seamCount) / (interior / interiorCount)
    }

    /// Positions p (gradient between p−1 and p) that are tile boundaries along one axis.
    static func boundaries(extent: Int, cores: [Range<Int>], seams: [Int]) -> Set<Int> {
        Set((cores.flatMap { [$0.lowerBound, $0.upperBound] } + seams).filter { $0 > 0 && $0 < extent })
    }
}
