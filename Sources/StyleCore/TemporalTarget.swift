import Imaging

/// A previous video frame's result carried onto the current frame: the image the temporal loss pulls towards
/// (RGB, 0...1) and the mask (1 channel) of where that pull applies. Weighted by `LossConfig.temporalWeight`.
public struct TemporalTarget: Sendable, Equatable {
    public var image: PlanarImage
    public var mask: PlanarImage

    public init(image: PlanarImage, mask: PlanarImage) {
        precondition(
            image.channels == 3 && mask.channels == 1 && image.width == mask.width && image.height == mask.height,
            "a temporal target is an RGB image and a 1-channel mask of the same size")
        self.image = image
        self.mask = mask
    }

    /// Both resized to another size (the mask thresholded at ½ again).
    public func resized(width: Int, height: Int) -> TemporalTarget {
        guard width != image.width || height != image.height else { return self }
        return TemporalTarget(
            image: Resampler.resize(image, width: width, height: height).clamped(),
            mask: Self.binaryMask(mask, width: width, height: height))
    }

    /// A 1-channel 0/1 mask at the given size from any image's first channel (resized, then thresholded at ½):
    /// how a mask read from a file or resampled is made binary again.
    public static func binaryMask(_ image: PlanarImage, width: Int, height: Int) -> PlanarImage {
        let first = PlanarImage(
            width: image.width, height: image.height, channels: 1, pixels: Array(image.pixels[0 ..< image.planeSize]))
        let m = Resampler.resize(first, width: width, height: height)
        return PlanarImage(width: width, height: height, channels: 1, pixels: m.pixels.map { $0 >= 0.5 ? 1 : 0 })
    }

    /// A video frame's start or target image as its job uses it, from the image as it travelled (read from a
    /// 16-bit PNG: `PlanarImage.quantized(bitDepth: 16)`): fitted to the job's size and clamped. A farm's job
    /// (`JobSpec.posterJob`) and a frame rendered in this process (`VideoRender`) both make theirs with it, so both
    /// render the same bytes.
    public static func fitted(_ image: PlanarImage, width: Int, height: Int) -> PlanarImage {
        Resampler.resize(image, width: width, height: height).clamped()
    }

    /// The rectangle of both.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> TemporalTarget {
        TemporalTarget(
            image: image.cropped(x: x, y: y, width: width, height: height),
            mask: mask.cropped(x: x, y: y, width: width, height: height))
    }

    /// What `GatysObjective` takes.
    var objectiveTerm: (target: CaffeImage, mask: [Float]) { (CaffeImage(image), mask.pixels) }
}
