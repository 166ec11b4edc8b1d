import Imaging

/// Everything needed to render one image: the inputs already loaded, and the settings.
public struct StyleJob: Sendable {
    public var content: PlanarImage
    /// Style images with their blend weights.
    public var styles: [(image: PlanarImage, weight: Float)]
    /// Long side of the output in pixels (the content's aspect ratio), unless `exactSize` is set.
    public var size: Int
    /// Exact output width and height; the content is resized to it as it is.
    public var exactSize: (width: Int, height: Int)?
    /// Style images are resized so their long side is `styleScale · size`.
    public var styleScale: Float = 1
    public var options = RenderOptions()
    public var initialisation: InitialisationChoice = .content
    public var seed: UInt64 = 0
    public var preserveColors = false
    public var pooling: Pool2x2.Kind = .max
    /// Perceptual control (regions, colour, scale) and its images.
    public var control: StyleControl?
    public var controlImages = ControlImages()

    /// The user-level initialisation (images not yet resized).
    public enum InitialisationChoice: Sendable, Equatable {
        case content, noise
        case image(PlanarImage, noise: Float)
    }

    public init(content: PlanarImage, styles: [(image: PlanarImage, weight: Float)], size: Int) {
        self.content = content
        self.styles = styles
        self.size = size
    }

    /// Output dimensions: the content's aspect ratio with the long side `size`.
    public var outputSize: (width: Int, height: Int) {
        if let exactSize { return exactSize }
        return Resampler.scaledSize(width: content.width, height: content.height, longSide: size)
    }

    /// Long side of the style images when their targets are computed (each style's own scale multiplies it).
    var styleLongSide: Int { max(16, Int((Float(size) * styleScale).rounded())) }

    /// The blended Gram targets of the styles at `styleScale · size`.
    public func gramTargets(network: VGG19) -> GramTargets {
        let longSide = styleLongSide, layers = options.loss.styleLayers.map(\.name)
        guard let control else {
            return GramTargets.compute(network: network, styles: styles, longSide: longSide, layers: layers)
        }
        return control.targets(
            network: network, styles: styles, images: controlImages, content: content, longSide: longSide,
            layers: layers)
    }

    /// With regions: the objective's spatial control at the output size (each region's targets and softened guides).
    public func guidance(network: VGG19) -> StyleGuidance? {
        let (w, h) = outputSize
        guard let control,
            let targets = control.regionTargets(
                network: network, styles: styles, images: controlImages, content: content,
                longSide: styleLongSide,
                layers: options.loss.styleLayers.map(\.name)),
            let guides = try? control.guides(controlImages, width: w, height: h)?.whole()  // in memory: cannot fail
        else { return nil }
        return StyleGuidance(masks: guides, targets: targets)
    }

    /// Renders the job in one process. Returns the RGB result (0...1) and its loss.
    public func render(
        network baseNetwork: VGG19, checkpointEvery: Int = 0,
        checkpoint: ((Int, PlanarImage) -> Void)? = nil,
        progress: (RenderProgress) -> Void = { _ in }
    ) -> (image: PlanarImage, loss: Double, iterations: Int) {
        let network = baseNetwork.pooling == pooling ? baseNetwork : baseNetwork.with(pooling: pooling)
        let (w, h) = outputSize
        let contentRGB = Resampler.resize(content, width: w, height: h)
        let contentImage = CaffeImage(contentRGB)
        let guidance = guidance(network: network)  // regions replace the whole image's targets
        let objective = GatysObjective(
            network: network, config: options.loss, content: contentImage,
            targets: guidance == nil ? gramTargets(network: network) : .none, guidance: guidance)
        let start: CaffeImage
        switch initialisation {
        case .content: start = StyleOptimization.initialImage(.content, content: contentImage, seed: seed)
        case .noise: start = StyleOptimization.initialImage(.noise, content: contentImage, seed: seed)
        case let .image(img, noise):
            let resized = CaffeImage(Resampler.resize(img, width: w, height: h))
            start = StyleOptimization.initialImage(.image(resized, noise: noise), content: contentImage, seed: seed)
        }
        let finish: (CaffeImage) -> PlanarImage = { result in
            let rgb = result.planarImage()
            return preserveColors ? ColorTransfer.preserveColors(styled: rgb, original: contentRGB).clamped() : rgb
        }
        let result = StyleOptimization.run(
            objective: objective, start: start, options: options,
            checkpointEvery: checkpointEvery,
            checkpoint: checkpoint.map { cb in { it, img in cb(it, finish(img)) } },
            progress: progress)
        return (finish(result.image), result.loss, result.iterations)
    }
}
