/// The style targets of a job: one normalised Gram matrix (C, C) per style layer.
///
/// Computed once per job from the style image(s) and shared by every tile: because Grams are normalised by
/// the number of positions (see `Gram`), a tile's Gram compares directly with the whole style image's.
public struct GramTargets: Sendable, Equatable, Codable {
    /// Style layer names in network order.
    public var layers: [String]
    /// Channels of each layer.
    public var channels: [String: Int]
    /// (C, C) per layer, row-major.
    public var grams: [String: [Float]]

    /// No targets: what stands in where region targets replace them (`TileRenderer.regions`, `StyleGuidance`).
    public static let none = GramTargets(layers: [], channels: [:], grams: [:])

    public init(layers: [String], channels: [String: Int], grams: [String: [Float]]) {
        self.layers = layers
        self.channels = channels
        self.grams = grams
    }
}

/// The style targets of a job with regions: one set per region (nil: no style there), each with its weight.
/// Computed once and shared by every level and tile, like `GramTargets`.
public struct RegionTargets: Sendable, Equatable, Codable {
    public var regions: [GramTargets?]
    public var weights: [Float]

    public init(regions: [GramTargets?], weights: [Float]) {
        (self.regions, self.weights) = (regions, weights)
    }
}
