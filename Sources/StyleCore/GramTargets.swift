import Imaging

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

    public init(layers: [String], channels: [String: Int], grams: [String: [Float]]) {
        self.layers = layers
        self.channels = channels
        self.grams = grams
    }

    /// Computes the Grams of one preprocessed style image (3, H, W) at `layers`.
    public static func compute(network: VGG19, image: CaffeImage, layers: [String]) -> GramTargets {
        let indices = layers.map { name -> Int in
            guard let i = network.index(of: name) else { preconditionFailure("unknown layer \(name)") }
            return i
        }
        let arena = ActivationArena(network: network, height: image.height, width: image.width,
                                    depth: (indices.max() ?? 0) + 1)
        image.pixels.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
        var channels: [String: Int] = [:], grams: [String: [Float]] = [:]
        for (name, i) in zip(layers, indices) {
            let s = arena.outputShapes[i]
            var g = [Float](repeating: 0, count: s.channels * s.channels)
            g.withUnsafeMutableBufferPointer {
                Gram.forward(gram: $0.baseAddress!, features: arena.output(i), channels: s.channels, positions: s.positions)
            }
            channels[name] = s.channels
            grams[name] = g
        }
        return GramTargets(layers: layers, channels: channels, grams: grams)
    }

    /// The blended targets of RGB style images, each resized so its long side is `longSide` first.
    public static func compute(network: VGG19, styles: [(image: PlanarImage, weight: Float)], longSide: Int,
                               layers: [String]) -> GramTargets {
        blend(styles.map { image, weight in
            (compute(network: network, image: CaffeImage(Resampler.resize(image, longSide: longSide)), layers: layers), weight)
        })
    }

    /// Weighted blend of several styles' targets: Σ wᵢ Aᵢ / Σ wᵢ. Minimising ‖G − blend‖² is minimising
    /// Σ wᵢ ‖G − Aᵢ‖² up to a constant, so this is the usual multi-style loss at the cost of one target.
    public static func blend(_ parts: [(GramTargets, Float)]) -> GramTargets {
        precondition(!parts.isEmpty)
        let total = parts.map(\.1).reduce(0, +)
        precondition(total > 0, "style blend weights must sum to a positive number")
        var result = parts[0].0
        for name in result.layers {
            var acc = [Float](repeating: 0, count: result.grams[name]!.count)
            for (t, w) in parts {
                let g = t.grams[name]!
                precondition(g.count == acc.count, "styles disagree on layer \(name)")
                for i in acc.indices { acc[i] += g[i] * (w / total) }
            }
            result.grams[name] = acc
        }
        return result
    }
}
