import Imaging

/// The pixels of an `assign` after its body (Docs/protocol.md, "assign"): the tile's render rectangle of the content
/// and of the start canvas, then, for a video frame with a temporal loss, its target and mask, then, for a job with
/// regions, the region guides (one channel per region). Each frame is a `PixelCodec` crop of the render rectangle's size.
/// The one codec of the message: the coordinator lays the frames out with `frames`, the worker reads them with
/// `init(frames:…)`.
public struct AssignCrops: Sendable {
    public var content: PlanarImage
    public var canvas: PlanarImage
    /// The temporal loss's target (three channels) and mask (one).
    public var temporal: (image: PlanarImage, mask: PlanarImage)?
    /// The regions' guides, one channel per region.
    public var guides: PlanarImage?

    public init(
        content: PlanarImage, canvas: PlanarImage, temporal: (image: PlanarImage, mask: PlanarImage)? = nil,
        guides: PlanarImage? = nil
    ) {
        (self.content, self.canvas, self.temporal, self.guides) = (content, canvas, temporal, guides)
    }

    /// The payload frames, in the order above.
    public var frames: [[UInt8]] {
        [PixelCodec.encode(content), PixelCodec.encode(canvas)]
            + (temporal.map { [PixelCodec.encode($0.image), PixelCodec.encode($0.mask)] } ?? [])
            + (guides.map { [PixelCodec.encode($0)] } ?? [])
    }

    /// Reads an assignment's frames for a render rectangle of `width` x `height`; `regions` is the job's region count
    /// (nil: no regions). Throws `malformedBody` for a count or a size that does not fit.
    public init(frames: [[UInt8]], width: Int, height: Int, regions: Int?) throws {
        let extra = regions == nil ? 0 : 1
        guard frames.count == 2 + extra || frames.count == 4 + extra else {
            throw ProtocolError.malformedBody(
                "an assign carries two crops, or four with a temporal target and mask, and the region "
                    + "guides after them when the job has regions")
        }
        content = try PixelCodec.decode(frames[0], width: width, height: height)
        canvas = try PixelCodec.decode(frames[1], width: width, height: height)
        temporal =
            frames.count - extra == 4
            ? (
                try PixelCodec.decode(frames[2], width: width, height: height),
                try PixelCodec.decode(frames[3], width: width, height: height, channels: 1)
            )
            : nil
        guides = try regions.map {
            try PixelCodec.decode(frames[frames.count - 1], width: width, height: height, channels: $0)
        }
    }
}
