import Foundation
import Imaging
import StyleCore

/// A farm job: the poster's settings and how to write the result. The images travel beside it as files.
public struct JobSpec: Codable, Sendable, Equatable {
    public var name: String
    /// Higher runs first (0...100, default 50); equal priorities run in submission order.
    public var priority: Int
    public var poster: PosterSettings
    /// Blend weight of each style image.
    public var styleWeights: [Float]
    /// Centre-crop the content to the output's aspect ratio first.
    public var crop: Bool
    public var preserveColors: Bool
    /// 8 or 16.
    public var bitDepth: Int
    public var dpi: Double?
    /// "png" or "tiff".
    public var format: String

    /// The `format` for an output path: "tiff" for .tif/.tiff, else "png".
    public static func format(for output: URL) -> String {
        ["tif", "tiff"].contains(output.pathExtension.lowercased()) ? "tiff" : "png"
    }
    /// A video frame: the submit carries the start image (the previous frame's result, warped) after the
    /// styles, and with `temporalMask` also the temporal loss's mask; only the output level is rendered.
    public var frame: FrameInputs?

    /// What a video frame's job carries besides the content and styles (see `JobSpec.frame`).
    public struct FrameInputs: Codable, Sendable, Equatable {
        /// The submit also carries a mask (gray or RGB image, white = keep) for the temporal loss, whose
        /// target is the start image.
        public var temporalMask: Bool
        public init(temporalMask: Bool) { self.temporalMask = temporalMask }
    }

    /// Image files a submit carries: content, styles, then the frame's start image and mask.
    public var inputCount: Int { 1 + styleWeights.count + (frame == nil ? 0 : 1) + (frame?.temporalMask == true ? 1 : 0) }

    public init(name: String, priority: Int = 50, poster: PosterSettings, styleWeights: [Float], crop: Bool,
                preserveColors: Bool = false, bitDepth: Int = 16, dpi: Double? = nil, format: String = "png") {
        self.name = name
        self.priority = priority
        self.poster = poster
        self.styleWeights = styleWeights
        self.crop = crop
        self.preserveColors = preserveColors
        self.bitDepth = bitDepth
        self.dpi = dpi
        self.format = format
    }

    /// Checks what a coordinator must not trust from the wire. Throws a message for the submitter.
    public func validate(maxPixels: Int = 1 << 30) throws {
        let p = poster
        func check(_ ok: Bool, _ why: String) throws { if !ok { throw ProtocolError.malformedBody("job spec: \(why)") } }
        try check(p.width >= 1 && p.height >= 1 && p.width * p.height <= maxPixels, "output size \(p.width)x\(p.height) out of range")
        try check(p.coarseSize >= 16 && p.coarseSize <= 4096, "coarseSize must be 16...4096")
        try check(p.tileSize >= 32 && p.tileSize <= 4096 && p.tileSize >= 2 * p.overlap + 2 && p.overlap >= 0, "bad tile size or overlap")
        try check(p.margin >= 0 && p.margin <= 512, "margin must be 0...512")
        try check(!p.iterations.isEmpty && p.iterations.allSatisfy { (1 ... 100_000).contains($0) }, "iterations must be 1...100000")
        try check(p.shiftedPassFraction > 0 && p.shiftedPassFraction <= 10, "shiftedPassFraction must be in (0, 10]")
        try check(p.styleSize >= 16 && p.styleSize <= 8192 && p.styleScale > 0, "bad style size")
        try check(!styleWeights.isEmpty && styleWeights.count <= 6 && styleWeights.allSatisfy { $0 >= 0 }
            && styleWeights.reduce(0, +) > 0, "1 to 6 styles with non-negative weights summing to more than 0")
        try check([8, 16].contains(bitDepth), "bitDepth must be 8 or 16")
        try check(["png", "tiff"].contains(format), "format must be png or tiff")
        try check((0 ... 100).contains(priority), "priority must be 0...100")
        let l = p.options.loss
        try check(VGG19.layerNames.contains(l.contentLayer) && l.styleLayers.allSatisfy { VGG19.layerNames.contains($0.name) },
                  "unknown layer")
        try check([l.contentWeight, l.styleWeight, l.tvWeight, l.temporalWeight].allSatisfy { $0 >= 0 && $0.isFinite },
                  "loss weights must be finite and non-negative")
        try check(l.temporalWeight == 0 || frame?.temporalMask == true, "a temporal weight needs a frame with a temporal mask")
    }

    /// The job's stages, from its settings alone (a frame renders only its output level).
    public var stages: [PosterStage] { poster.stages(startsFromImage: frame != nil) }

    /// The poster job for decoded images, in submit order (content, styles, then a frame's start image and
    /// mask), the content as decoded from its file.
    public func posterJob(images: [PlanarImage]) -> PosterJob {
        precondition(images.count == inputCount, "a job of this spec has \(inputCount) images")
        let fitted = crop ? CenterCrop.toAspect(images[0], width: poster.width, height: poster.height) : images[0]
        let styles = images[1 ... styleWeights.count]
        var job = PosterJob(content: fitted, styles: Array(zip(styles, styleWeights)).map { (image: $0.0, weight: $0.1) },
                            width: poster.width, height: poster.height)
        job.settings = poster
        if frame != nil {
            let start = Resampler.resize(images[styleWeights.count + 1], width: poster.width, height: poster.height).clamped()
            job.initial = start
            if frame?.temporalMask == true {
                job.temporal = TemporalTarget(image: start, mask: TemporalTarget.binaryMask(images[styleWeights.count + 2],
                                                                                            width: poster.width, height: poster.height))
            }
        }
        return job
    }
}

/// Where a job is in its life.
public enum JobState: String, Codable, Sendable {
    /// Waiting for the coordinator to prepare it, or for workers.
    case queued
    case running
    case done
    case failed
    case cancelled

    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}
