import Foundation
import Imaging
import RenderSettings

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
    /// styles, and with `temporalMask` also the temporal loss's mask (and with `temporalImage` its target image);
    /// only the output level is rendered.
    public var frame: FrameInputs?

    /// What a video frame's job carries besides the content and styles (see `JobSpec.frame`).
    public struct FrameInputs: Codable, Sendable, Equatable {
        /// The submit also carries a mask (gray or RGB image, white = keep) for the temporal loss, whose
        /// target is the start image unless `temporalImage`.
        public var temporalMask: Bool
        /// The submit also carries, after the mask, the temporal loss's target image: a target that is not the
        /// start (long-term consistency composes it from several earlier frames; a later pass of multi-pass starts
        /// from a blend). Absent (as from clients before it) means false. Needs `temporalMask`.
        public var temporalImage: Bool?
        public init(temporalMask: Bool, temporalImage: Bool? = nil) {
            (self.temporalMask, self.temporalImage) = (temporalMask, temporalImage)
        }
        /// Whether a target image follows the mask.
        public var carriesTemporalImage: Bool { temporalMask && temporalImage == true }
    }

    /// Image files a submit carries: content, styles, then the frame's start image and mask, then perceptual
    /// control's region mask (with regions) and the masks of the styles that have one (`StyleControl.StyleOptions.masked`).
    public var inputCount: Int { 1 + styleWeights.count + frameInputs + controlInputs }
    public var frameInputs: Int {
        (frame == nil ? 0 : 1) + (frame?.temporalMask == true ? 1 : 0) + (frame?.carriesTemporalImage == true ? 1 : 0)
    }
    public var controlInputs: Int { (poster.control?.regions.isEmpty == false ? 1 : 0) + maskedStyles.count }
    /// The styles whose masks the submit carries, in order.
    public var maskedStyles: [Int] { styleWeights.indices.filter { poster.control?.options(style: $0).masked == true } }

    public init(
        name: String, priority: Int = 50, poster: PosterSettings, styleWeights: [Float], crop: Bool,
        preserveColors: Bool = false, bitDepth: Int = 16, dpi: Double? = nil, format: String = "png"
    ) {
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

    /// A file name for each input, in `inputCount` order, for the job `id`: `ID-content`, `ID-style-1`, …,
    /// `ID-frame-start`, `ID-frame-mask`, `ID-frame-target`, `ID-region-mask`, `ID-style-1-mask`.
    public func inputNames(_ id: JobID) -> [String] {
        var names = ["\(id)-content"] + styleWeights.indices.map { "\(id)-style-\($0 + 1)" }
        if frame != nil { names.append("\(id)-frame-start") }
        if frame?.temporalMask == true { names.append("\(id)-frame-mask") }
        if frame?.carriesTemporalImage == true { names.append("\(id)-frame-target") }
        if let control = poster.control {
            if !control.regions.isEmpty { names.append("\(id)-region-mask") }
            names += maskedStyles.map { "\(id)-style-\($0 + 1)-mask" }
        }
        return names
    }

    /// What the job uses of each input, in `inputCount` order (`PosterSettings.contentNeed`, `styleNeed`): a larger
    /// file is read reduced to that, here and in `render`, so both see the same pixels.
    public var inputNeeds: [ImageNeed] {
        var needs = [poster.contentNeed] + styleWeights.indices.map(poster.styleNeed)
        needs += Array(repeating: poster.contentNeed, count: frameInputs)
        // colours name regions
        if poster.control?.regions.isEmpty == false { needs.append(poster.contentNeed.nearestSampled) }
        return needs + maskedStyles.map(poster.styleNeed)
    }

    /// Reads the job's input files (in `inputCount` order), each reduced to what the job uses of it, all of them
    /// together within `Limits.decodedInputBytes`: a file's declared size never decides the coordinator's memory.
    public func readInputs(_ urls: [URL]) throws -> [PlanarImage] {
        let needs = inputNeeds
        guard urls.count == needs.count else {
            throw ProtocolError.malformedBody("a job of this spec has \(needs.count) inputs, not \(urls.count)")
        }
        var pixelsLeft = Limits.decodedInputBytes / Limits.bytesPerDecodedPixel
        return try urls.enumerated().map { i, url in
            let limits = ImageLimits(
                maxSide: ImageLimits.default.maxSide, maxPixels: min(ImageLimits.default.maxPixels, pixelsLeft))
            do {
                let image = try ImageIO.read(url, limits: limits, need: needs[i]).image
                pixelsLeft -= image.width * image.height
                return image
            } catch {
                let styles = styleWeights.count
                let what = i == 0 ? "content" : i <= styles ? "style \(i)" : "input \(i + 1)"
                let budget =
                    pixelsLeft < ImageLimits.default.maxPixels
                    ? " (the job's inputs decode to at most \(Limits.decodedInputBytes >> 20) MiB together)" : ""
                throw ProtocolError.malformedBody("\(what) image: \(error)\(budget)")
            }
        }
    }

    /// The job's stages, from its settings alone (a frame renders only its output level).
    public var stages: [PosterStage] { poster.stages(startsFromImage: frame != nil) }
}

/// Where a job is in its life.
public enum JobState: String, Codable, Sendable, CaseIterable {
    /// Waiting for the coordinator to prepare it, or for workers.
    case queued
    case running
    case done
    case failed
    case cancelled

    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}
