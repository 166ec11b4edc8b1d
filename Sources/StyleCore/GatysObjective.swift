import Foundation
import Imaging

/// The loss of one evaluation, by term (each already multiplied by its weight, except `styleLayers`).
public struct LossBreakdown: Sendable, Equatable {
    public var content = 0.0
    public var style = 0.0
    public var tv = 0.0
    public var temporal = 0.0
    /// Unweighted E_l per style layer.
    public var styleLayers: [String: Double] = [:]
    public var total: Double { content + style + tv + temporal }
}

/// The Gatys et al. objective for one image (or tile) size: content loss, style loss against shared Gram
/// targets, total variation; value and gradient with respect to the (Caffe-space) image.
public final class GatysObjective {
    public let network: VGG19
    public let config: LossConfig
    public let width: Int
    public let height: Int
    public let arena: ActivationArena
    let contentIndex: Int?
    /// The content image's features at the content layer (empty without content loss); owned, freed in deinit.
    let contentTarget: UnsafeMutableBufferPointer<Float>
    let styleTerms: [(index: Int, name: String, weight: Float, target: [Float])]
    /// With spatial control: each style layer's regions (its index in `guidance.regions`, target and weight), and
    /// each such layer's guides (K, N) at its resolution; the style terms are then these, not `styleTerms`.
    let guidedTerms:
        [(index: Int, name: String, weight: Float, regions: [(region: Int, target: [Float], weight: Float)])]
    let guides: [Int: [Float]]
    /// Per region, its summed weighted dE/dG on the current layer (K × C_max²); owned, freed in deinit.
    let regionGrams: UnsafeMutableBufferPointer<Float>
    let temporal: (target: CaffeImage, mask: [Float])?

    /// - content: the content image (or tile) at this size, or nil for no content loss.
    /// - temporal: the previous frame's warped result at this size and the mask of where it holds (H, W); with
    ///   `config.temporalWeight` > 0, the temporal loss pulls the image towards it there.
    /// - guidance: spatial control (the content's size): each region's style loss on its guided Grams
    ///   (`GuidedStyleLoss`); `targets` is then unused.
    public init(
        network: VGG19, config: LossConfig, content: CaffeImage?, targets: GramTargets,
        temporal: (target: CaffeImage, mask: [Float])? = nil, guidance: StyleGuidance? = nil
    ) {
        precondition(config.contentWeight == 0 || content != nil, "a content weight needs a content image")
        let width = content?.width ?? 0, height = content?.height ?? 0
        self.network = network
        self.config = config
        self.width = width
        self.height = height
        precondition(
            temporal.map { $0.target.width == width && $0.target.height == height && $0.mask.count == width * height }
                ?? true,
            "the temporal target must have the content's size")
        self.temporal = config.temporalWeight > 0 ? temporal : nil
        let channels = { (name: String) in
            targets.channels[name] ?? network.index(of: name).map { network.convs[$0].outChannels } ?? 1
        }
        let weights = config.effectiveStyleWeights(channels: channels)
        styleTerms = guidance != nil ? [] : Self.styleTerms(weights, network: network, config: config, targets: targets)
        guidedTerms = guidance.map { Self.guidedTerms(weights, network: network, config: config, guidance: $0) } ?? []
        let cIndex = content == nil || config.contentWeight == 0 ? nil : network.index(of: config.contentLayer)
        contentIndex = cIndex
        let styleIndices = styleTerms.map(\.index) + guidedTerms.map(\.index)
        let depth = max(styleIndices.max() ?? 0, cIndex ?? 0) + 1
        let arena = ActivationArena(
            network: network, height: height, width: width, depth: depth,
            kept: Set(styleIndices + [cIndex].compactMap { $0 }))
        self.arena = arena
        if let guidance {
            precondition(
                guidance.masks.width == width && guidance.masks.height == height,
                "the region masks must have the content's size")
            var guides: [Int: [Float]] = [:]
            for i in Set(guidedTerms.map(\.index)) {
                let s = arena.outputShapes[i]
                guides[i] = GuidedGram.guides(
                    guidance.masks.pixels, channels: guidance.masks.channels, height: height, width: width,
                    toHeight: s.height, toWidth: s.width)
            }
            self.guides = guides
            let maxC = guidedTerms.map { arena.outputShapes[$0.index].channels }.max() ?? 0
            regionGrams = .allocate(capacity: guidance.regions.count * maxC * maxC)
        } else {
            guides = [:]
            regionGrams = .allocate(capacity: 0)
        }
        if let cIndex, let content {
            content.pixels.withUnsafeBufferPointer { network.forward($0.baseAddress!, arena: arena) }
            contentTarget = .allocate(capacity: arena.outputShapes[cIndex].count)
            _ = contentTarget.initialize(
                from: UnsafeBufferPointer(start: arena.output(cIndex), count: contentTarget.count))
        } else {
            contentTarget = .allocate(capacity: 0)
        }
    }

    /// The plain style terms: each style layer with a positive weight and a target.
    static func styleTerms(
        _ weights: [(name: String, weight: Float)], network: VGG19, config: LossConfig, targets: GramTargets
    ) -> [(index: Int, name: String, weight: Float, target: [Float])] {
        weights.compactMap { name, w in
            guard w > 0, let i = network.index(of: name), let g = targets.grams[name] else { return nil }
            return (i, name, w * config.styleWeight, g)
        }
    }

    /// The guided style terms: each style layer with the regions that have a target there.
    static func guidedTerms(
        _ weights: [(name: String, weight: Float)], network: VGG19, config: LossConfig, guidance: StyleGuidance
    ) -> [(index: Int, name: String, weight: Float, regions: [(region: Int, target: [Float], weight: Float)])] {
        weights.compactMap { name, w in
            guard w > 0, let i = network.index(of: name) else { return nil }
            let regions = guidance.regions.enumerated().compactMap {
                r, region -> (region: Int, target: [Float], weight: Float)? in
                guard region.weight > 0, let g = region.targets?.grams[name] else { return nil }
                return (r, g, region.weight)
            }
            return regions.isEmpty ? nil : (i, name, w * config.styleWeight, regions)
        }
    }

    /// The plain style terms of layer `i` (features `f`): their losses into `out`, and their summed weighted dE/dG in
    /// the arena's `dGramScratch`. Returns how many there were.
    func styleLosses(layer i: Int, features f: UnsafeMutablePointer<Float>, into out: inout LossBreakdown) -> Int {
        let s = arena.outputShapes[i]
        var terms = 0
        for term in styleTerms where term.index == i {
            let e = term.target.withUnsafeBufferPointer {
                StyleLayerLoss.evaluate(
                    features: f, target: $0.baseAddress!, channels: s.channels, positions: s.positions,
                    weight: term.weight, gram: arena.gramScratch, dFeatures: nil)
            }
            out.styleLayers[term.name] = e
            out.style += Double(term.weight) * e
            // gramScratch now holds this term's weighted dE/dG; sum the layer's terms in dGramScratch.
            let cc = s.channels * s.channels, dGram = arena.dGramScratch, gram = arena.gramScratch
            if terms == 0 { dGram.update(from: gram, count: cc) } else { for j in 0 ..< cc { dGram[j] += gram[j] } }
            terms += 1
        }
        return terms
    }

    /// The terms on the image itself, total variation and the temporal loss: into `out`, and their gradient added to
    /// `gradient` when given.
    func imageLosses(_ x: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?, into out: inout LossBreakdown) {
        if config.tvWeight != 0 {
            out.tv =
                Double(config.tvWeight)
                * TotalVariation.evaluate(
                    image: x, channels: 3, height: height, width: width, weight: config.tvWeight,
                    dImage: gradient)
        }
        if let temporal {
            out.temporal =
                Double(config.temporalWeight)
                * temporal.target.pixels.withUnsafeBufferPointer { t in
                    temporal.mask.withUnsafeBufferPointer { m in
                        TemporalLoss.evaluate(
                            image: x, target: t.baseAddress!, mask: m.baseAddress!, channels: 3,
                            positions: width * height,
                            weight: config.temporalWeight, dImage: gradient)
                    }
                }
        }
    }

    deinit {
        contentTarget.deallocate()
        regionGrams.deallocate()
    }

    /// Loss at x (3, H, W); writes dLoss/dx into `gradient` (3, H, W) when given.
    @discardableResult
    public func evaluate(
        _ x: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?,
        profile: LayerProfile? = nil
    ) -> LossBreakdown {
        network.forward(x, arena: arena, profile: profile)
        var out = LossBreakdown()
        let wantGrad = gradient != nil
        // Each kept layer: its losses, then (for a gradient) its features overwritten by their loss gradient.
        for i in arena.kept.sorted() {
            let s = arena.outputShapes[i], f = arena.output(i)
            var content: (target: UnsafePointer<Float>, scale: Float)?
            if i == contentIndex, let target = UnsafePointer(contentTarget.baseAddress) {
                content = (target, ContentLoss.gradientScale(weight: config.contentWeight, count: s.count))
                out.content +=
                    Double(config.contentWeight)
                    * ContentLoss.evaluate(
                        features: f, target: target, count: s.count, weight: config.contentWeight, dFeatures: nil)
            }
            let terms = styleLosses(layer: i, features: f, into: &out)
            if let guide = guides[i] {
                let touched = guidedStyle(layer: i, features: f, guide: guide, into: &out)
                guard wantGrad else { continue }
                let cc = s.channels * s.channels, grams = UnsafePointer(regionGrams.baseAddress!)
                guide.withUnsafeBufferPointer { t in
                    FeatureGradient.overwriteGuided(
                        features: f, channels: s.channels, positions: s.positions,
                        regions: touched.map { (grams + $0 * cc, t.baseAddress! + $0 * s.positions) },
                        content: content, scratch: arena.scratch, scratchFloats: arena.layout.scratchFloats)
                }
                continue
            }
            guard wantGrad else { continue }
            FeatureGradient.overwrite(
                features: f, channels: s.channels, positions: s.positions,
                dGram: terms > 0 ? UnsafePointer(arena.dGramScratch) : nil, content: content,
                scratch: arena.scratch, scratchFloats: arena.layout.scratchFloats)
        }
        if let gradient { network.backward(arena: arena, dInput: gradient, profile: profile) }
        imageLosses(x, gradient: gradient, into: &out)
        return out
    }

    /// The guided style terms of layer `i`: adds their losses to `out` and leaves each touched region's summed
    /// weighted dE/dG in `regionGrams`; returns the regions touched (present here, with a target on this layer).
    func guidedStyle(layer i: Int, features f: UnsafePointer<Float>, guide: [Float], into out: inout LossBreakdown)
        -> [Int]
    {
        let s = arena.outputShapes[i], cc = s.channels * s.channels
        var touched: [Int] = []
        guide.withUnsafeBufferPointer { t in
            for term in guidedTerms where term.index == i {
                for region in term.regions {
                    let e = region.target.withUnsafeBufferPointer {
                        GuidedStyleLoss.evaluate(
                            features: f, guide: t.baseAddress! + region.region * s.positions, target: $0.baseAddress!,
                            channels: s.channels, positions: s.positions, weight: term.weight * region.weight,
                            gram: arena.gramScratch, scratch: arena.scratch, scratchFloats: arena.layout.scratchFloats)
                    }
                    guard let e else { continue }
                    out.styleLayers[term.name, default: 0] += e
                    out.style += Double(term.weight * region.weight) * e
                    let d = regionGrams.baseAddress! + region.region * cc
                    if touched.contains(region.region) {
                        for j in 0 ..< cc { d[j] += arena.gramScratch[j] }
                    } else {
                        d.update(from: arena.gramScratch, count: cc)
                        touched.append(region.region)
                    }
                }
            }
        }
        return touched
    }
}

/// Spatial control of one image or tile (Gatys et al. 2017): where each region is and what style it gets.
public struct StyleGuidance: Sendable {
    /// (K, H, W), values 0...1: region k's guide at the image's (or tile's) resolution, edges softened.
    public var masks: PlanarImage
    /// Per region (channel of `masks`): its targets (nil: no style there, content only) and the weight of its style loss.
    public var regions: [(targets: GramTargets?, weight: Float)]

    public init(masks: PlanarImage, regions: [(targets: GramTargets?, weight: Float)]) {
        precondition(masks.channels == regions.count, "one mask channel per region")
        self.masks = masks
        self.regions = regions
    }

    /// `count` soft random regions over a `width` × `height` image, each with `targets`: what a plan and a benchmark
    /// time a job with regions by.
    public static func random(width: Int, height: Int, count: Int, targets: GramTargets, seed: UInt64 = 2)
        -> StyleGuidance
    {
        var rng = SeededRandom(seed: seed)
        return StyleGuidance(
            masks: PlanarImage(
                width: width, height: height, channels: count,
                pixels: rng.uniform(count * width * height, amplitude: 1).map(abs)),
            regions: Array(repeating: (targets: targets, weight: 1), count: count))
    }

    /// A job's region targets (or these targets in their place, e.g. localised to a tile) over these guides.
    public init(masks: PlanarImage, targets: RegionTargets, localised: [GramTargets?]? = nil) {
        self.init(
            masks: masks,
            regions: Array(zip(localised ?? targets.regions, targets.weights)).map { (targets: $0.0, weight: $0.1) })
    }
}
