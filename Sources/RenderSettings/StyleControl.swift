/// Perceptual control of a render (Gatys, Ecker, Bethge, Hertzmann and Shechtman, "Controlling Perceptual Factors in
/// Neural Style Transfer", CVPR 2017), as settings without images (a farm job carries these; the masks travel as
/// files): which style goes where, colour, and scale. Docs/perceptual-control.md shows each with pictures.
public struct StyleControl: Sendable, Equatable, Codable {
    /// Per style image, in the job's order (missing entries take the defaults).
    public var styles: [StyleOptions] = []
    /// Regions of the output, named by colours of a region mask image (`RegionMap`); empty: one style for the whole
    /// image.
    public var regions: [Region] = []
    /// The width over which neighbouring regions blend, as a fraction of the image's long side at each level.
    public var feather: Float = 0.01
    /// Match each style image's colour mean and covariance to the content's before its Grams are computed
    /// (`ColorTransfer.matchColors`).
    public var colorMatch = false

    public init() {}

    /// One style image's scale and layers.
    public struct StyleOptions: Sendable, Equatable, Codable {
        /// Its long side is this times the job's style size when its Grams are computed (coarser or finer brush strokes).
        public var scale: Float = 1
        /// The style layers it gives targets for (nil: all): scale control mixes one style's coarse layers
        /// (relu3_1 and deeper) with another's fine ones (relu1_1, relu2_1).
        public var layers: [String]?
        /// Whether a mask of its region to draw from comes with it (`ControlImages.styleMasks`).
        public var masked = false

        public init(scale: Float = 1, layers: [String]? = nil, masked: Bool = false) {
            (self.scale, self.layers, self.masked) = (scale, layers, masked)
        }
    }

    /// A region of the output: the colour that names it in the region mask, the styles it takes (indices into the
    /// job's styles, with blend weights), and the weight of its style loss. No styles: the region keeps the
    /// content (photographic).
    public struct Region: Sendable, Equatable, Codable {
        /// RGB, 0...255 (one value: a gray level).
        public var color: [Int]
        public var styles: [Int]
        /// Blend weights of `styles` (nil: equal).
        public var blend: [Float]?
        public var weight: Float = 1

        public init(color: [Int], styles: [Int], blend: [Float]? = nil, weight: Float = 1) {
            (self.color, self.styles, self.blend, self.weight) = (color, styles, blend, weight)
        }

        /// `color` as RGB.
        public var rgb: [Int] { color.count == 1 ? [color[0], color[0], color[0]] : color }
    }

    /// Options of style `i` (the defaults when not given).
    public func options(style i: Int) -> StyleOptions { i < styles.count ? styles[i] : StyleOptions() }

    /// Whether anything differs from a plain render.
    public var isActive: Bool { !regions.isEmpty || colorMatch || styles.contains { $0 != StyleOptions() } }

    /// The problems with these settings for `styleCount` styles and the network's style `layers`: each as (field, message),
    /// fields as a job file names them (`style[2].scale`, `region[1].styles`, counted from 1).
    public func problems(styleCount: Int, layers: [String]) -> [(field: String, message: String)] {
        var out: [(String, String)] = []
        if styles.count > styleCount {
            out.append(("style", "\(styles.count) style options for \(styleCount) style images"))
        }
        for (i, s) in styles.enumerated() {
            if !(s.scale > 0 && s.scale <= 8) {
                out.append(("style[\(i + 1)].scale", "must be in (0, 8], got \(s.scale)"))
            }
            for name in s.layers ?? [] where !layers.contains(name) {
                out.append(
                    (
                        "style[\(i + 1)].layers",
                        "'\(name)' is not one of the style layers (\(layers.joined(separator: ", ")))"
                    ))
            }
            if let l = s.layers, l.isEmpty {
                out.append(("style[\(i + 1)].layers", "an empty list gives the style nothing to do"))
            }
        }
        let covered = Set(
            styles.enumerated().flatMap { _, s in s.layers ?? layers } + (styles.count < styleCount ? layers : []))
        if !styles.isEmpty, covered.isDisjoint(with: layers) {
            out.append(("style", "no style gives targets for any style layer"))
        }
        if !(feather >= 0 && feather <= 0.25) { out.append(("region-feather", "must be in [0, 0.25], got \(feather)")) }
        var colors = Set<[Int]>()
        for (r, region) in regions.enumerated() {
            let field = "region[\(r + 1)]"
            if ![1, 3].contains(region.color.count) || region.color.contains(where: { !(0 ... 255).contains($0) }) {
                out.append(
                    (field + ".color", "must be a gray level or an RGB triple, each 0...255, got \(region.color)"))
            } else if !colors.insert(region.rgb).inserted {
                out.append((field + ".color", "\(region.color) names two regions"))
            }
            for s in region.styles where !(0 ..< styleCount).contains(s) {
                let named = (0 ..< 1_000_000).contains(s) ? "style \(s + 1)" : "a style numbered \(s) (counted from 0)"
                out.append(
                    (
                        field + ".styles",
                        "names \(named), but the job has \(styleCount) style image\(styleCount == 1 ? "" : "s")"
                    ))
            }
            if let b = region.blend,
                b.count != region.styles.count || b.contains(where: { !($0 >= 0) }) || b.reduce(0, +) <= 0
            {
                out.append((field + ".blend", "needs one non-negative weight per style, summing above 0"))
            }
            if !(region.weight >= 0 && region.weight.isFinite) {
                out.append((field + ".weight", "must be a finite number ≥ 0"))
            }
        }
        return out
    }
}
