import Imaging
import Tiling

/// Renders tiles against shared Gram targets: the same code on one machine and on a farm worker.
public struct TileRenderer {
    public let network: VGG19
    public let options: RenderOptions
    public let targets: GramTargets
    /// With regions (spatial control): each region's targets; `targets` is then unused.
    public let regions: RegionTargets?

    public init(network: VGG19, options: RenderOptions, targets: GramTargets, regions: RegionTargets? = nil) {
        self.network = network
        self.options = options
        self.targets = targets
        self.regions = regions
    }

    /// Optimises `task.tile.render` of a level whose content is `content` and whose current state is
    /// `canvas` (both RGB, the level's size). Returns the tile's core, RGB.
    /// With `reference` (the stage's `GramTargets.tileMean`), the tile's style target is localised to it.
    /// With `temporal` (a video frame's, the level's size) and `options.loss.temporalWeight` > 0, the temporal
    /// loss applies. With `regions`, `guides` are the regions' guides at the level's size and `regionReference` each
    /// region's stage reference (`GramTargets.tileMeans`) to localise them.
    public func render(
        _ task: TileTask, content: PlanarImage, canvas: PlanarImage, reference: GramTargets? = nil,
        temporal: TemporalTarget? = nil, guides: PlanarImage? = nil, regionReference: [GramTargets?]? = nil,
        progress: (RenderProgress) -> Void = { _ in }
    ) -> PlanarImage {
        let r = task.tile.render
        return render(
            task, contentCrop: content.cropped(x: r.x, y: r.y, width: r.width, height: r.height),
            canvasCrop: canvas.cropped(x: r.x, y: r.y, width: r.width, height: r.height),
            reference: reference, temporal: temporal?.cropped(x: r.x, y: r.y, width: r.width, height: r.height),
            guides: guides?.cropped(x: r.x, y: r.y, width: r.width, height: r.height), regionReference: regionReference,
            progress: progress)
    }

    /// The same from the render rectangle's crops alone (what a farm worker receives). `stop` ends the
    /// optimisation early (a revoked lease: the result is then discarded).
    public func render(
        _ task: TileTask, contentCrop: PlanarImage, canvasCrop: PlanarImage, reference: GramTargets? = nil,
        temporal: TemporalTarget? = nil, guides: PlanarImage? = nil, regionReference: [GramTargets?]? = nil,
        stop: () -> Bool = { false }, progress: (RenderProgress) -> Void = { _ in }
    ) -> PlanarImage {
        let r = task.tile.render, core = task.tile.core
        precondition(
            contentCrop.width == r.width && contentCrop.height == r.height && canvasCrop.width == r.width
                && canvasCrop.height == r.height, "crops must be the tile's render rectangle")
        precondition(
            temporal.map { $0.image.width == r.width && $0.image.height == r.height } ?? true,
            "the temporal crop must be the tile's render rectangle")
        let start = CaffeImage(canvasCrop)
        let tileTargets =
            regions != nil
            ? targets
            : reference.map {
                targets.localized(
                    tile: GramTargets.compute(network: network, image: start, layers: targets.layers), reference: $0)
            } ?? targets
        let objective = GatysObjective(
            network: network, config: options.loss, content: CaffeImage(contentCrop), targets: tileTargets,
            temporal: temporal?.objectiveTerm,
            guidance: guides.flatMap { guidance(guides: $0, start: start, reference: regionReference) })
        var opts = options
        opts.iterations = task.iterations
        let result = StyleOptimization.run(
            objective: objective, start: start, options: opts, stop: stop, progress: progress)
        return result.image.planarImage().cropped(
            x: core.x - r.x, y: core.y - r.y, width: core.width, height: core.height)
    }

    /// The tile's regions: their guides (the tile's crop) and targets, localised to the tile with `reference`.
    func guidance(guides: PlanarImage, start: CaffeImage, reference: [GramTargets?]?) -> StyleGuidance? {
        guard let regions else { return nil }
        guard let reference else { return StyleGuidance(masks: guides, targets: regions) }
        let layers = VGG19.layerNames.filter { name in regions.regions.contains { $0?.grams[name] != nil } }
        let tile = GramTargets.guided(network: network, image: start, layers: layers, masks: guides)
        return StyleGuidance(
            masks: guides, targets: regions,
            localised: regions.regions.enumerated().map { r, t in
                t?.localizedRegion(tile: tile[r], reference: r < reference.count ? reference[r] : nil)
            })
    }
}
