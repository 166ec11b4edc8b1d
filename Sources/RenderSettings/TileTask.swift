import Tiling

/// One tile's work: optimise the tile's render rectangle of a level, starting from the current canvas.
/// A pure value; the farm sends these to workers.
public struct TileTask: Sendable, Hashable, Codable {
    public var level: Int
    public var pass: Int
    public var tile: Tile
    public var iterations: Int

    public init(level: Int, pass: Int, tile: Tile, iterations: Int) {
        self.level = level
        self.pass = pass
        self.tile = tile
        self.iterations = iterations
    }
}
