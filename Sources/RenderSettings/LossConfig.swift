import Foundation

/// Weights of the Gatys loss terms and where they apply.
public struct LossConfig: Sendable, Equatable, Codable {
    /// Layer whose features must match the content image.
    public var contentLayer = "relu4_2"
    public var contentWeight: Float = 1
    /// Style layers with their relative weights (before the exponent and normalisation).
    public var styleLayers: [(name: String, weight: Float)] = [
        ("relu1_1", 1), ("relu2_1", 1), ("relu3_1", 1), ("relu4_1", 1), ("relu5_1", 1)
    ]
    /// Layer weights are multiplied by C_l^(−exponent) and then normalised to sum to 1; 0 keeps them as given.
    public var styleLayerExponent: Float = 0
    public var styleWeight: Float = 1
    public var tvWeight: Float = 0
    /// Weight of the temporal loss (video: pull towards the previous frame's warped result); 0 disables it.
    public var temporalWeight: Float = 0

    public init() {}

    /// The weights every command starts from unless told otherwise (tuned on the demo, Docs/style-core.md):
    /// content 2000, style 1, total variation 10. `init()` is the bare loss (content 1, no total variation) the
    /// gradient tests and fixtures use.
    public static var recommended: LossConfig {
        var config = LossConfig()
        config.contentWeight = 2000
        config.tvWeight = 10
        return config
    }

    enum CodingKeys: String, CodingKey {
        case contentLayer, contentWeight, styleLayers, styleLayerExponent, styleWeight, tvWeight, temporalWeight
    }

    struct StyleLayer: Codable { var name: String, weight: Float }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contentLayer = try c.decode(String.self, forKey: .contentLayer)
        contentWeight = try c.decode(Float.self, forKey: .contentWeight)
        styleLayers = try c.decode([StyleLayer].self, forKey: .styleLayers).map { ($0.name, $0.weight) }
        styleLayerExponent = try c.decode(Float.self, forKey: .styleLayerExponent)
        styleWeight = try c.decode(Float.self, forKey: .styleWeight)
        tvWeight = try c.decode(Float.self, forKey: .tvWeight)
        temporalWeight = try c.decodeIfPresent(Float.self, forKey: .temporalWeight) ?? 0  // absent in older journals
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(contentLayer, forKey: .contentLayer)
        try c.encode(contentWeight, forKey: .contentWeight)
        try c.encode(styleLayers.map { StyleLayer(name: $0.name, weight: $0.weight) }, forKey: .styleLayers)
        try c.encode(styleLayerExponent, forKey: .styleLayerExponent)
        try c.encode(styleWeight, forKey: .styleWeight)
        try c.encode(tvWeight, forKey: .tvWeight)
        if temporalWeight != 0 { try c.encode(temporalWeight, forKey: .temporalWeight) }
    }

    public static func == (a: LossConfig, b: LossConfig) -> Bool {
        a.contentLayer == b.contentLayer && a.contentWeight == b.contentWeight
            && a.styleLayers.map(\.name) == b.styleLayers.map(\.name)
            && a.styleLayers.map(\.weight) == b.styleLayers.map(\.weight)
            && a.styleLayerExponent == b.styleLayerExponent && a.styleWeight == b.styleWeight
            && a.tvWeight == b.tvWeight
            && a.temporalWeight == b.temporalWeight
    }

    /// The effective per-layer weights w_l (summing to 1), given each layer's channel count.
    public func effectiveStyleWeights(channels: (String) -> Int) -> [(name: String, weight: Float)] {
        let raw = styleLayers.map {
            ($0.name, $0.weight * Float(pow(Double(channels($0.name)), Double(-styleLayerExponent))))
        }
        let total = raw.map(\.1).reduce(0, +)
        return raw.map { ($0.0, total > 0 ? $0.1 / total : 0) }
    }
}
