import Imaging
import Tiling

/// One style image as perceptual control uses it: its blend weight, scale, layers and the mask of its region to
/// draw from (`StyleControl.StyleOptions`).
public struct StyleInput: Sendable {
    public var image: PlanarImage
    public var weight: Float
    public var options: StyleControl.StyleOptions
    /// One channel of weights 0...1, any size (resized to the image's), or nil: the whole image.
    public var mask: PlanarImage?

    public init(
        image: PlanarImage, weight: Float, options: StyleControl.StyleOptions = .init(), mask: PlanarImage? = nil
    ) {
        (self.image, self.weight, self.options, self.mask) = (image, weight, options, mask)
    }
}

extension GramTargets {
    /// The guided Grams of a preprocessed style image over `mask` (1 channel, the image's size): the statistics of
    /// only the region to draw from (`GuidedGram`). Without a mask, `compute(network:image:layers:)`.
    public static func compute(network: VGG19, image: CaffeImage, layers: [String], mask: PlanarImage?) -> GramTargets {
        guard let mask else { return compute(network: network, image: image, layers: layers) }
        return guided(network: network, image: image, layers: layers, masks: mask)[0]
            ?? .none
    }

    /// Per channel of `masks` (K, the image's size): the guided Grams of `image` at the `layers` where that channel is
    /// present, or nil where it is absent from all.
    public static func guided(network: VGG19, image: CaffeImage, layers: [String], masks: PlanarImage) -> [GramTargets?]
    {
        guidedWithCoverage(network: network, image: image, layers: layers, masks: masks).map(\.targets)
    }

    /// `guided`, with each region's coverage ΣT²/N per layer.
    static func guidedWithCoverage(
        network: VGG19, image: CaffeImage, layers: [String],
        masks: PlanarImage
    ) -> [(targets: GramTargets?, coverage: [String: Double])] {
        precondition(masks.width == image.width && masks.height == image.height, "masks must have the image's size")
        let indices = layers.compactMap { network.index(of: $0) }
        let arena = ActivationArena(
            network: network, height: image.height, width: image.width,
            depth: (indices.max() ?? 0) + 1, kept: Set(indices))
        image.pixels.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
        var out = [(targets: GramTargets?, coverage: [String: Double])](
            repeating: (GramTargets(layers: layers, channels: [:], grams: [:]), [:]), count: masks.channels)
        for (name, i) in zip(layers, indices) {
            let s = arena.outputShapes[i]
            let guides = GuidedGram.guides(
                masks.pixels, channels: masks.channels, height: image.height, width: image.width,
                toHeight: s.height, toWidth: s.width)
            for k in 0 ..< masks.channels {
                var g = [Float](repeating: 0, count: s.channels * s.channels)
                let covered = g.withUnsafeMutableBufferPointer { gp in
                    guides.withUnsafeBufferPointer { t in
                        GuidedGram.forward(
                            gram: gp.baseAddress!, features: arena.output(i), guide: t.baseAddress! + k * s.positions,
                            channels: s.channels, positions: s.positions, scratch: arena.scratch,
                            scratchFloats: arena.layout.scratchFloats)
                    }
                }
                out[k].coverage[name] = Double(covered) / Double(s.positions)
                if covered > 0 {
                    out[k].targets?.channels[name] = s.channels
                    out[k].targets?.grams[name] = g
                }
            }
        }
        // A region keeps the layers where it is present (a sliver may vanish in the deepest, pooled ones).
        for k in out.indices {
            guard var t = out[k].targets else { continue }
            t.layers = layers.filter { t.grams[$0] != nil }
            out[k].targets = t.layers.isEmpty ? nil : t
        }
        return out
    }

    /// The targets of style images under perceptual control: each matched to `colorsOf`'s colours first (when
    /// given), resized so its long side is `longSide × its scale`, its Grams over its mask at its layers, then blended
    /// layer by layer over the styles that give that layer (`blend`). Plain styles give exactly
    /// `compute(network:styles:longSide:layers:)`.
    public static func compute(
        network: VGG19, styles: [StyleInput], longSide: Int, layers: [String], colorsOf content: PlanarImage? = nil
    ) -> GramTargets {
        blend(
            styles.map { style in
                (of(style, network: network, longSide: longSide, layers: layers, colorsOf: content), style.weight)
            })
    }

    /// One style's targets (see `compute(network:styles:longSide:layers:colorsOf:)`).
    static func of(_ style: StyleInput, network: VGG19, longSide: Int, layers: [String], colorsOf content: PlanarImage?)
        -> GramTargets
    {
        let matched = content.map { ColorTransfer.matchColors(style.image, to: $0) } ?? style.image
        let side = max(16, Int((Float(longSide) * style.options.scale).rounded()))
        let image = Resampler.resize(matched, longSide: side)
        let own = style.options.layers.map { names in layers.filter { names.contains($0) } } ?? layers
        let mask = style.mask.map { Resampler.resize($0, width: image.width, height: image.height).clamped() }
        return compute(network: network, image: CaffeImage(image), layers: own, mask: mask)
    }

    /// Region targets: each region's blend of its styles' targets (each style's computed once), nil for a region
    /// with no style.
    public static func regions(
        network: VGG19, styles: [StyleInput], control: StyleControl, longSide: Int, layers: [String],
        colorsOf content: PlanarImage? = nil
    ) -> RegionTargets {
        var perStyle: [Int: GramTargets] = [:]
        for i in Set(control.regions.flatMap(\.styles)).sorted() where i < styles.count {
            perStyle[i] = of(styles[i], network: network, longSide: longSide, layers: layers, colorsOf: content)
        }
        let targets = control.regions.map { region -> GramTargets? in
            let parts = region.styles.enumerated().compactMap { j, s -> (GramTargets, Float)? in
                guard let t = perStyle[s] else { return nil }
                return (t, region.blend?[j] ?? 1)
            }
            return parts.isEmpty ? nil : blend(parts)
        }
        return RegionTargets(regions: targets, weights: control.regions.map(\.weight))
    }

    /// The coverage-weighted mean of each region's guided Grams over a tile plan's render rectangles of `canvas`
    /// (weights: each tile's core area × the region's coverage of it, ΣT²/N, per layer): the whole image's guided
    /// Grams as the tiles see them, to localise each region's tile targets (`localized(tile:reference:)`).
    public static func tileMeans(
        network: VGG19, canvas: ImageRegionSource, guides: ImageRegionSource, plan: TilePlan,
        layers: [String]
    ) throws -> [GramTargets?] {
        let k = guides.channels
        var sums = [[String: [Double]]](repeating: [:], count: k), totals = [[String: Double]](repeating: [:], count: k)
        var channels: [String: Int] = [:]
        for tile in plan.tiles {
            let r = tile.render, area = Double(tile.core.area)
            let image = CaffeImage(try canvas.region(x: r.x, y: r.y, width: r.width, height: r.height))
            let masks = try guides.region(x: r.x, y: r.y, width: r.width, height: r.height)
            let grams = guidedWithCoverage(network: network, image: image, layers: layers, masks: masks)
            for region in 0 ..< k {
                guard let g = grams[region].targets else { continue }
                for name in layers {
                    guard let values = g.grams[name], let c = g.channels[name] else { continue }
                    channels[name] = c
                    let w = area * (grams[region].coverage[name] ?? 0)
                    var acc = sums[region][name] ?? [Double](repeating: 0, count: values.count)
                    for j in acc.indices { acc[j] += w * Double(values[j]) }
                    sums[region][name] = acc
                    totals[region][name, default: 0] += w
                }
            }
        }
        return (0 ..< k).map { region in
            let present = layers.filter { (totals[region][$0] ?? 0) > 0 }
            guard !present.isEmpty else { return nil }
            var grams: [String: [Float]] = [:]
            for name in present { grams[name] = sums[region][name]!.map { Float($0 / totals[region][name]!) } }
            return GramTargets(layers: present, channels: channels.filter { present.contains($0.key) }, grams: grams)
        }
    }

    /// `localized(tile:reference:)` for one region's targets (on the layers all three have: a region a tile only grazes
    /// may lack its deepest layers there); unchanged where the tile or the reference lacks the region.
    public func localizedRegion(tile: GramTargets?, reference: GramTargets?) -> GramTargets {
        guard let tile, let reference else { return self }
        return localized(tile: tile, reference: reference)
    }
}
