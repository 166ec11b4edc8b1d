import Imaging
import Tiling

/// One tile's work: optimise the tile's render rectangle of a level, starting from the current canvas.
/// A pure value; the farm sends these to workers.
public struct TileTask: Sendable, Hashable, Codable {
    public var level: Int
    public var pass: Int
    public var tile: Tile
    public var iterations: Int
    /// The plan's overlap: the width of the blend ramps (and of the anchored band in later passes).
    public var overlap: Int

    public init(level: Int, pass: Int, tile: Tile, iterations: Int, overlap: Int) {
        self.level = level
        self.pass = pass
        self.tile = tile
        self.iterations = iterations
        self.overlap = overlap
    }
}

/// Renders tiles against shared Gram targets: the same code on one machine and on a farm worker.
public struct TileRenderer {
    public let network: VGG19
    public let options: RenderOptions
    public let targets: GramTargets

    public init(network: VGG19, options: RenderOptions, targets: GramTargets) {
        self.network = network
        self.options = options
        self.targets = targets
    }

    /// Optimises `task.tile.render` of a level whose content is `content` and whose current state is
    /// `canvas` (both RGB, the level's size). Returns the tile's core, RGB.
    /// With `reference` (the stage's `GramTargets.tileMean`), the tile's style target is localised to it.
    public func render(_ task: TileTask, content: PlanarImage, canvas: PlanarImage, reference: GramTargets? = nil,
                       progress: (RenderProgress) -> Void = { _ in }) -> PlanarImage {
        let r = task.tile.render
        return render(task, contentCrop: content.cropped(x: r.x, y: r.y, width: r.width, height: r.height),
                      canvasCrop: canvas.cropped(x: r.x, y: r.y, width: r.width, height: r.height),
                      canvasWidth: canvas.width, canvasHeight: canvas.height, reference: reference, progress: progress)
    }

    /// The same from the render rectangle's crops alone (what a farm worker receives) and the level's size.
    public func render(_ task: TileTask, contentCrop: PlanarImage, canvasCrop: PlanarImage, canvasWidth: Int, canvasHeight: Int,
                       reference: GramTargets? = nil, progress: (RenderProgress) -> Void = { _ in }) -> PlanarImage {
        let r = task.tile.render, core = task.tile.core
        precondition(contentCrop.width == r.width && contentCrop.height == r.height && canvasCrop.width == r.width
            && canvasCrop.height == r.height, "crops must be the tile's render rectangle")
        let start = CaffeImage(canvasCrop)
        let tileTargets = reference.map {
            targets.localized(tile: GramTargets.compute(network: network, image: start, layers: targets.layers), reference: $0)
        } ?? targets
        let objective = GatysObjective(network: network, config: options.loss, content: CaffeImage(contentCrop), targets: tileTargets)
        if task.pass > 0 && options.loss.anchorWeight > 0 {
            objective.anchor = (start, Self.anchorMask(task.tile, canvasWidth: canvasWidth, canvasHeight: canvasHeight,
                                                       overlap: task.overlap))
        }
        var opts = options
        opts.iterations = task.iterations
        let result = StyleOptimization.run(objective: objective, start: start, options: opts, progress: progress)
        return result.image.planarImage().cropped(x: core.x - r.x, y: core.y - r.y, width: core.width, height: core.height)
    }

    /// The anchor mask over a tile's render rectangle, (H·W): 1 − its blend weight, so 1 in the margin, rising
    /// across the overlaps where neighbours blend in, 0 in the interior and along the canvas edges.
    public static func anchorMask(_ tile: Tile, canvasWidth: Int, canvasHeight: Int, overlap: Int) -> [Float] {
        let r = tile.render, core = tile.core
        let w = BlendWindow.weights(core: core, canvasWidth: canvasWidth, canvasHeight: canvasHeight, overlap: overlap)
        var mask = [Float](repeating: 1, count: r.area)
        for y in 0 ..< core.height {
            for x in 0 ..< core.width {
                mask[(core.y - r.y + y) * r.width + core.x - r.x + x] = 1 - w[y * core.width + x]
            }
        }
        return mask
    }
}
