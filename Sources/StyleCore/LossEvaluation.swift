import Imaging

/// The Gatys loss terms of a finished image against a content image and style images, on the untiled network
/// (`stylefarm evaluate`): how a tiled render compares with an untiled one, and the quality guard of `bench --poster`.
public enum LossEvaluation {
    /// The loss of `image`; the content is centre-cropped to the image's aspect and resized to its size, the styles'
    /// Grams are computed at `styleSize` on their long side (default: the image's long side), each style weighing the
    /// same.
    public static func evaluate(
        network: VGG19, image: PlanarImage, content: PlanarImage, styles: [PlanarImage],
        config: LossConfig, styleSize: Int? = nil
    ) -> LossBreakdown {
        // The content as a render fits it: centre-cropped to the image's aspect, then resized.
        let fitted = Resampler.resize(
            CenterCrop.toAspect(content, width: image.width, height: image.height), width: image.width,
            height: image.height)
        let targets = GramTargets.compute(
            network: network, styles: styles.map { (image: $0, weight: Float(1)) },
            longSide: styleSize ?? max(image.width, image.height), layers: config.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: config, content: CaffeImage(fitted), targets: targets)
        return CaffeImage(image).pixels.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil) }
    }
}
