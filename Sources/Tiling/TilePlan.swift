/// One tile of one pass of one level: a pure value, easy to send to a worker.
public struct Tile: Sendable, Hashable, Codable {
    /// Position in its plan's `tiles`.
    public var index: Int
    /// Grid column and row.
    public var column: Int
    public var row: Int
    /// The region this tile contributes to the canvas (its share plus the overlap with its neighbours).
    public var core: PixelRect
    /// What is optimised: `core` plus the context margin, clipped to the canvas. The margin gives the
    /// network context at the tile's edges and is cropped away afterwards.
    public var render: PixelRect
}

/// Splits a W×H canvas into overlapping tiles.
///
/// Along each axis the canvas is cut at `n − 1` evenly spaced seams, n = ⌈extent / (tile − overlap)⌉; each
/// tile's core runs from half an overlap before its left seam to half an overlap after its right seam
/// (clipped to the canvas), so neighbouring cores overlap by exactly `overlap` pixels and no core is
/// wider than `tile`. Any extent works: smaller than a tile (one tile), odd, prime.
///
/// The *shifted* plan puts its seams halfway between the unshifted plan's seams (and the canvas edges),
/// so a second pass over it leaves no seam where the first pass had one.
public struct TilePlan: Sendable, Hashable, Codable {
    public var canvasWidth: Int
    public var canvasHeight: Int
    public var tileSize: Int
    public var overlap: Int
    public var margin: Int
    public var shifted: Bool
    public var columns: Int
    public var rows: Int
    public var tiles: [Tile]

    public init(width: Int, height: Int, tileSize: Int, overlap: Int, margin: Int, shifted: Bool = false) {
        precondition(width >= 1 && height >= 1, "empty canvas")
        precondition(
            tileSize >= 2 * overlap + 2 && overlap >= 0 && margin >= 0, "tile size must exceed twice the overlap")
        canvasWidth = width
        canvasHeight = height
        self.tileSize = tileSize
        self.overlap = overlap
        self.margin = margin
        self.shifted = shifted
        let xs = Self.segments(extent: width, tile: tileSize, overlap: overlap, shifted: shifted)
        let ys = Self.segments(extent: height, tile: tileSize, overlap: overlap, shifted: shifted)
        columns = xs.count
        rows = ys.count
        var tiles: [Tile] = []
        for (r, yr) in ys.enumerated() {
            for (c, xr) in xs.enumerated() {
                let core = PixelRect(x: xr.lowerBound, y: yr.lowerBound, width: xr.count, height: yr.count)
                tiles.append(
                    Tile(
                        index: tiles.count, column: c, row: r, core: core,
                        render: core.expanded(by: margin, within: width, height)))
            }
        }
        self.tiles = tiles
    }

    /// Seam positions along one axis.
    public static func seams(extent: Int, tile: Int, overlap: Int, shifted: Bool) -> [Int] {
        let n = max(1, (extent + (tile - overlap) - 1) / (tile - overlap))
        if n == 1 && !shifted { return [] }
        // Unshifted: k·extent/n for k = 1…n−1. Shifted: (k + ½)·extent/n for k = 0…n−1.
        let positions = shifted ? (0 ..< n).map { (2 * $0 + 1) * extent / (2 * n) } : (1 ..< n).map { $0 * extent / n }
        // A seam closer than half an overlap to an edge would make a sliver tile: drop it.
        return positions.filter { $0 - overlap / 2 > 0 && $0 + (overlap + 1) / 2 < extent }
    }

    /// Core intervals along one axis.
    static func segments(extent: Int, tile: Int, overlap: Int, shifted: Bool) -> [Range<Int>] {
        let cuts = seams(extent: extent, tile: tile, overlap: overlap, shifted: shifted)
        let bounds = [0] + cuts + [extent]
        return (0 ..< bounds.count - 1).map { i in
            let lo = i == 0 ? 0 : bounds[i] - overlap / 2
            let hi = i == bounds.count - 2 ? extent : bounds[i + 1] + (overlap + 1) / 2
            return lo ..< hi
        }
    }

    /// The largest render rectangle: what sizes a worker's arena.
    public var largestRender: (width: Int, height: Int) {
        (tiles.map(\.render.width).max() ?? 0, tiles.map(\.render.height).max() ?? 0)
    }
}
