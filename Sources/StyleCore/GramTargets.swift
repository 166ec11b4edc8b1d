import Imaging
import Tiling

extension GramTargets {
    /// Computes the Grams of one preprocessed style image (3, H, W) at `layers`.
    public static func compute(network: VGG19, image: CaffeImage, layers: [String]) -> GramTargets {
        let indices = layers.map { name -> Int in
            guard let i = network.index(of: name) else { preconditionFailure("unknown layer \(name)") }
            return i
        }
        let arena = ActivationArena(
            network: network, height: image.height, width: image.width,
            depth: (indices.max() ?? 0) + 1, kept: Set(indices))
        image.pixels.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
        var channels: [String: Int] = [:], grams: [String: [Float]] = [:]
        for (name, i) in zip(layers, indices) {
            let s = arena.outputShapes[i]
            var g = [Float](repeating: 0, count: s.channels * s.channels)
            g.withUnsafeMutableBufferPointer {
                Gram.forward(
                    gram: $0.baseAddress!, features: arena.output(i), channels: s.channels, positions: s.positions)
            }
            channels[name] = s.channels
            grams[name] = g
        }
        return GramTargets(layers: layers, channels: channels, grams: grams)
    }

    /// The blended targets of RGB style images, each resized so its long side is `longSide` first.
    public static func compute(
        network: VGG19, styles: [(image: PlanarImage, weight: Float)], longSide: Int,
        layers: [String]
    ) -> GramTargets {
        blend(
            styles.map { image, weight in
                (
                    compute(
                        network: network, image: CaffeImage(Resampler.resize(image, longSide: longSide)), layers: layers
                    ), weight
                )
            })
    }

    /// Weighted blend of several styles' targets: Σ wᵢ Aᵢ / Σ wᵢ. Minimising ‖G − blend‖² is minimising
    /// Σ wᵢ ‖G − Aᵢ‖² up to a constant, so this is the usual multi-style loss at the cost of one target. Layer by
    /// layer over the styles that have it (scale control gives styles different layers); a layer in network order.
    public static func blend(_ parts: [(GramTargets, Float)]) -> GramTargets {
        precondition(!parts.isEmpty)
        let names = Set(parts.flatMap(\.0.layers))
        var result = GramTargets.none
        for name in VGG19.layerNames where names.contains(name) {
            let having = parts.filter { $0.0.grams[name] != nil }
            let total = having.map(\.1).reduce(0, +)
            guard total > 0, let first = having.first?.0 else { continue }
            var acc = [Float](repeating: 0, count: first.grams[name]!.count)
            for (t, w) in having {
                let g = t.grams[name]!
                precondition(g.count == acc.count, "styles disagree on layer \(name)")
                for i in acc.indices { acc[i] += g[i] * (w / total) }
            }
            result.layers.append(name)
            result.channels[name] = first.channels[name]
            result.grams[name] = acc
        }
        return result
    }

    /// The area-weighted mean of the Grams of a tile plan's render rectangles of `canvas` (weights: the
    /// tiles' core areas): the whole image's Gram as the tiles see it. See `localized(tile:reference:)`.
    /// The canvas is read one render rectangle at a time, so it may be a canvas on disk.
    public static func tileMean(network: VGG19, canvas: ImageRegionSource, plan: TilePlan, layers: [String]) throws
        -> GramTargets
    {
        var sum: GramTargets?
        var total: Float = 0
        for tile in plan.tiles {
            let r = tile.render, w = Float(tile.core.area)
            let g = compute(
                network: network,
                image: CaffeImage(try canvas.region(x: r.x, y: r.y, width: r.width, height: r.height)),
                layers: layers)
            total += w
            guard var acc = sum else { sum = g.scaled(by: w); continue }
            for name in layers { for i in acc.grams[name]!.indices { acc.grams[name]![i] += w * g.grams[name]![i] } }
            sum = acc
        }
        return sum!.scaled(by: 1 / total)
    }

    /// Whether every layer is one of `network`'s with its channel count and a C×C Gram: what a worker checks of
    /// targets it was sent before a loss reads them.
    public func fits(_ network: VGG19) -> Bool {
        layers.allSatisfy { name in
            guard let i = network.index(of: name), let c = channels[name], let g = grams[name] else { return false }
            return c == network.convs[i].outChannels && g.count == c * c
        }
    }

    func scaled(by f: Float) -> GramTargets {
        var out = self
        for name in layers { out.grams[name] = grams[name]!.map { $0 * f } }
        return out
    }

    /// The target of one tile: these (whole-image) targets plus how the tile's start already differs from the
    /// whole, `A + G_tile − G_mean`. Every tile matching its own target makes the tiles' mean Gram, which is
    /// what the whole image's Gram is, match `A`; a tile of sky need not carry as much wave as a tile of sea,
    /// exactly as in an untiled render, instead of every tile being forced to the whole image's statistics.
    public func localized(tile: GramTargets, reference: GramTargets) -> GramTargets {
        var out = self
        for name in layers {
            // A layer the tile or the reference lacks (a region grazing a tile, or a peer's targets that do not match)
            // keeps its target.
            guard let a = grams[name], let t = tile.grams[name], let m = reference.grams[name], t.count == a.count,
                m.count == a.count
            else { continue }
            out.grams[name] = (0 ..< a.count).map { a[$0] + t[$0] - m[$0] }
        }
        return out
    }
}
