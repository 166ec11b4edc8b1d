import FarmProtocol
import Foundation
import Imaging
import RenderSettings

/// A description resolved for a content image's size: every setting decided, defaults filled in.
public struct JobSettings: Sendable, Equatable {
    /// Size, tiling, levels, loss, optimizer and pooling: all a plan needs.
    public var poster: PosterSettings
    /// Centre-crop the content to the output's aspect first (an exact width and height, or a print size).
    public var crop: Bool
    public var dpi: Double?
    public var bitDepth: Int
    public var preserveColors: Bool
    /// How an untiled render starts, and its noise and seed.
    public var initialisation: Initialisation
    public var seed: UInt64

    public enum Initialisation: Sendable, Equatable {
        case content, noise
        /// An image file, mixed with this much noise.
        case image(path: String, noise: Float)
    }

    /// Whether the output is rendered in tiled levels (its long side is above the coarse size).
    public var isTiled: Bool { poster.isTiled }
}

/// The files a job reads and writes.
public struct JobInputs: Sendable, Equatable {
    public var content: URL
    public var styles: [URL]
    /// The styles' blend weights.
    public var styleWeights: [Float]
    public var output: URL
    /// The image naming the output's regions, and each style's mask of its region to draw from (perceptual control).
    public var regionMask: URL?
    public var styleMasks: [URL?]
}

extension JobDescription {
    /// The description with `other`'s fields wherever `other` gives them (the command line over a job file).
    public func overriding(_ other: JobDescription) throws -> JobDescription {
        func object(_ d: JobDescription) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(d)) as? [String: Any] ?? [:]
        }
        func merge(_ a: [String: Any], _ b: [String: Any]) -> [String: Any] {
            a.merging(b) { x, y in
                if let x = x as? [String: Any], let y = y as? [String: Any] { return merge(x, y) }
                return y
            }
        }
        let merged = merge(try object(self), try object(other))
        return try JSONDecoder().decode(JobDescription.self, from: JSONSerialization.data(withJSONObject: merged))
    }

    /// The content, styles and output; each must be given.
    public func inputs() throws -> JobInputs {
        guard let content else { throw JobProblem(field: "content", message: "missing: the content image's path") }
        guard let style, !style.isEmpty else {
            throw JobProblem(field: "style", message: "missing: at least one [[style]] with an image")
        }
        guard let output else { throw JobProblem(field: "output", message: "missing: the output's path") }
        return JobInputs(
            content: URL(fileURLWithPath: content), styles: style.map { URL(fileURLWithPath: $0.image) },
            styleWeights: style.map { $0.weight ?? 1 }, output: URL(fileURLWithPath: output),
            regionMask: regionMask.map { URL(fileURLWithPath: $0) },
            styleMasks: style.map { $0.mask.map { URL(fileURLWithPath: $0) } })
    }

    /// The output size for a content image of this size: exact (`width` and `height`, or `print` at `dpi`, the
    /// content cropped to its aspect), one side (the other from the content's aspect), or the long side `pixels`
    /// (default 512).
    public func outputSize(contentWidth: Int, contentHeight: Int) throws -> (
        width: Int, height: Int, crop: Bool, dpi: Double?
    ) {
        let s = size ?? Size()
        if let print = s.print {
            let dpi = s.dpi ?? 300
            let px = try PrintSize.parse(print).pixels(dpi: dpi)
            return (px.width, px.height, true, dpi)
        }
        // The other side in the content's aspect, computed as `render` always has (one rounding, no ratio first).
        let (cw, ch) = (Double(max(1, contentWidth)), Double(max(1, contentHeight)))
        switch (s.width, s.height) {
        case let (w?, h?): return (w, h, true, s.dpi)
        case let (w?, nil): return (w, max(1, Int(saturating: (ch * Double(w) / cw).rounded())), false, s.dpi)
        case let (nil, h?): return (max(1, Int(saturating: (cw * Double(h) / ch).rounded())), h, false, s.dpi)
        default:
            let scaled = Resampler.scaledSize(width: contentWidth, height: contentHeight, longSide: s.pixels ?? 512)
            return (scaled.width, scaled.height, false, s.dpi)
        }
    }

    /// Every setting, for a content image of this size: the description over the defaults.
    public func settings(contentWidth: Int, contentHeight: Int) throws -> JobSettings {
        try check()
        let out = try outputSize(contentWidth: contentWidth, contentHeight: contentHeight)
        var poster = PosterSettings(width: out.width, height: out.height)
        if let t = tiling {
            poster.coarseSize = t.coarseSize ?? poster.coarseSize
            poster.tileSize = t.tile ?? poster.tileSize
            poster.overlap = t.overlap ?? poster.overlap
            poster.margin = t.margin ?? poster.margin
            poster.shiftedPass = t.shift ?? poster.shiftedPass
            poster.shiftedPassFraction = t.shiftedFraction ?? poster.shiftedPassFraction
            poster.localTargets = t.localTargets ?? poster.localTargets
            poster.styleSize = t.styleSize ?? poster.styleSize
        }
        poster.iterations = levels?.iterations ?? poster.iterations
        poster.styleScale = loss?.styleScale ?? poster.styleScale
        poster.pooling = loss?.pooling ?? poster.pooling
        poster.options = try renderOptions(poster.options)
        poster.control = control
        let initialisation: JobSettings.Initialisation =
            switch self.initialisation ?? "content" {
            case "content": .content
            case "noise": .noise
            case let path: .image(path: path, noise: initNoise ?? 0)
            }
        return JobSettings(
            poster: poster, crop: out.crop, dpi: out.dpi, bitDepth: size?.bitDepth ?? 16,
            preserveColors: preserveColors ?? false, initialisation: initialisation, seed: seed ?? 0)
    }

    /// Perceptual control (regions, colour, per-style scale and layers), or nil when the description asks for none.
    public var control: StyleControl? {
        let styles = style ?? []
        guard
            colorMatch == true || region?.isEmpty == false
                || styles.contains(where: { $0.scale != nil || $0.layers != nil || $0.mask != nil })
        else { return nil }
        var control = StyleControl()
        if styles.contains(where: { $0.scale != nil || $0.layers != nil || $0.mask != nil }) {
            control.styles = styles.map { .init(scale: $0.scale ?? 1, layers: $0.layers, masked: $0.mask != nil) }
        }
        control.regions = (region ?? []).map { r in
            .init(
                color: r.rgb ?? [0, 0, 0], styles: (r.styles ?? []).map { $0 &- 1 }, blend: r.blend,
                weight: r.weight ?? 1)
        }
        control.feather = regionFeather ?? control.feather
        control.colorMatch = colorMatch ?? false
        return control
    }

    /// The optimizer and loss over `defaults`.
    func renderOptions(_ defaults: RenderOptions) throws -> RenderOptions {
        var options = defaults
        let o = optimizer ?? Optimizer()
        options.iterations = o.iterations ?? options.iterations
        options.relativeTolerance = o.tolerance ?? options.relativeTolerance
        // The optimizers' own defaults (`OptimizerKind`'s) for what is not given.
        switch (o.kind ?? .lbfgs, OptimizerKind.lbfgs(), OptimizerKind.adam()) {
        case let (.lbfgs, .lbfgs(history, lr), _):
            options.optimizer = .lbfgs(history: o.lbfgsHistory ?? history, learningRate: o.lr ?? lr)
        case let (.adam, _, .adam(lr, beta1, beta2)):
            options.optimizer = .adam(learningRate: o.lr ?? lr, beta1: o.beta1 ?? beta1, beta2: o.beta2 ?? beta2)
        default: break
        }
        guard let l = loss else { return options }
        options.loss.contentWeight = l.contentWeight ?? options.loss.contentWeight
        options.loss.styleWeight = l.styleWeight ?? options.loss.styleWeight
        options.loss.tvWeight = l.tvWeight ?? options.loss.tvWeight
        options.loss.contentLayer = l.contentLayer ?? options.loss.contentLayer
        options.loss.styleLayerExponent = l.layerWeightExponent ?? options.loss.styleLayerExponent
        if l.styleLayers != nil || l.styleLayerWeights != nil {
            let names = l.styleLayers ?? options.loss.styleLayers.map(\.name)
            let weights = l.styleLayerWeights ?? names.map { _ in 1 }
            options.loss.styleLayers = Array(zip(names, weights)).map { (name: $0.0, weight: $0.1) }
        }
        return options
    }
}
