import Imaging

/// The images of perceptual control: the output's regions and, per style, the mask of its region to draw from
/// (nil: the whole style image).
public struct ControlImages: Sendable {
    /// One 0/1 plane per region (`RegionMap.planes` of the region mask), any size: resized to each level.
    public var regions: PlanarImage?
    public var styleMasks: [PlanarImage?]

    public init(regions: PlanarImage? = nil, styleMasks: [PlanarImage?] = []) {
        self.regions = regions
        self.styleMasks = styleMasks
    }

    /// Style `i`'s mask as one channel of weights 0...1 (the luma of a colour image), or nil.
    public func styleMask(_ i: Int) -> PlanarImage? {
        guard i < styleMasks.count, let m = styleMasks[i] else { return nil }
        return RegionMap.gray(m)
    }
}

extension StyleControl {
    /// The styles as the targets take them: each with its options and mask.
    public func inputs(_ styles: [(image: PlanarImage, weight: Float)], images: ControlImages) -> [StyleInput] {
        styles.enumerated().map { i, s in
            StyleInput(image: s.image, weight: s.weight, options: options(style: i), mask: images.styleMask(i))
        }
    }

    /// The whole image's targets (no regions): the styles blended layer by layer, each over its mask at its scale and
    /// layers, colour-matched to `content` when `colorMatch` is on.
    public func targets(
        network: VGG19, styles: [(image: PlanarImage, weight: Float)], images: ControlImages, content: PlanarImage,
        longSide: Int, layers: [String]
    ) -> GramTargets {
        GramTargets.compute(
            network: network, styles: inputs(styles, images: images), longSide: longSide, layers: layers,
            colorsOf: colorMatch ? content : nil)
    }

    /// Each region's targets, or nil without regions.
    public func regionTargets(
        network: VGG19, styles: [(image: PlanarImage, weight: Float)], images: ControlImages, content: PlanarImage,
        longSide: Int, layers: [String]
    ) -> RegionTargets? {
        guard !regions.isEmpty else { return nil }
        return GramTargets.regions(
            network: network, styles: inputs(styles, images: images), control: self, longSide: longSide,
            layers: layers, colorsOf: colorMatch ? content : nil)
    }

    /// The regions' guides at a size, edges softened (`RegionMap.guides`), or nil without regions.
    public func guides(_ images: ControlImages, width: Int, height: Int) -> ImageRegionSource? {
        guard !regions.isEmpty, let planes = images.regions else { return nil }
        return RegionMap.guides(planes, width: width, height: height, feather: feather)
    }
}

/// An unusable region mask: `message` says what and where.
public struct RegionMapError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A region mask read into one plane per region, and its softened guides at any size.
public enum RegionMap {
    /// The blur's radius in pixels at most (a tent 4·128 px wide): a tile's guides are read from its rectangle widened
    /// by twice the radius, so the radius bounds what each tile costs the coordinator however large the poster.
    public static let maxBlurRadius = 128

    /// How far (0...255, per channel) a pixel's colour may be from its region's: what a JPEG or a resampled edge
    /// does to a flat colour. Further from every region, the pixel is an error.
    public static let colorTolerance = 40

    /// One 0/1 plane per region (K, H, W) from a region mask (RGB or gray, 0...1): each pixel belongs to the region
    /// whose colour is nearest, within `colorTolerance`; the first pixel near none is the error, with its place.
    public static func planes(_ image: PlanarImage, regions: [StyleControl.Region]) throws -> PlanarImage {
        let n = image.planeSize, k = regions.count
        var out = [Float](repeating: 0, count: k * n)
        let colors = regions.map(\.rgb)
        for p in 0 ..< n {
            let rgb = (0 ..< 3).map { c in Int((image.pixels[min(c, image.channels - 1) * n + p] * 255).rounded()) }
            var best = -1, bestDistance = Int.max
            for (r, color) in colors.enumerated() {
                let d = zip(rgb, color).map { abs($0 - $1) }.max() ?? 0
                if d < bestDistance { (best, bestDistance) = (r, d) }
            }
            guard best >= 0, bestDistance <= colorTolerance else {
                throw RegionMapError(
                    "the colour \(rgb) at (\(p % image.width), \(p / image.width)) names no region (the regions' colours: "
                        + colors.map { "\($0)" }.joined(separator: ", ") + ")")
            }
            out[best * n + p] = 1
        }
        return PlanarImage(width: image.width, height: image.height, channels: k, pixels: out)
    }

    /// How far a mask's aspect ratio may be from the image it belongs to (relative): a mask drawn at another
    /// resolution rounds its sides differently, a mask of another picture does not come this close.
    public static let aspectTolerance = 0.02

    /// A mask made for `content` (its size, or any size of its aspect), fitted as the content is: centre-cropped to
    /// the output's aspect when the content is. Throws when its aspect is not the content's.
    public static func fitted(
        _ mask: PlanarImage, contentWidth: Int, contentHeight: Int, output: (width: Int, height: Int),
        crop: Bool
    ) throws -> PlanarImage {
        let a = Double(mask.width) / Double(max(1, mask.height)),
            c = Double(contentWidth) / Double(max(1, contentHeight))
        guard abs(a / c - 1) <= aspectTolerance else {
            throw RegionMapError(
                "is \(mask.width)x\(mask.height) but the content is \(contentWidth)x\(contentHeight): a mask must have "
                    + "the content's size or at least its aspect ratio")
        }
        return crop ? CenterCrop.toAspect(mask, width: output.width, height: output.height) : mask
    }

    /// The planes at a level's size with edges softened: resized (Lanczos, its ringing clamped to 0…1), then blurred
    /// by two box passes of radius `feather × long side / 2`, at most `maxBlurRadius` (a tent, clamped at the image's
    /// edges). Read per region: a tile's rectangle is exactly that rectangle of the whole.
    public static func guides(_ planes: PlanarImage, width: Int, height: Int, feather: Float) -> ImageRegionSource {
        let radius = min(maxBlurRadius, Int((feather * Float(max(width, height)) / 2).rounded()))
        let resized = ResizedImage(planes, width: width, height: height, clamp: true)
        return radius > 0 ? BoxBlurred(resized, radius: radius) : resized
    }

    /// One channel from any image: itself, or the luma of RGB.
    static func gray(_ image: PlanarImage) -> PlanarImage {
        guard image.channels >= 3 else {
            return PlanarImage(
                width: image.width, height: image.height, channels: 1,
                pixels: Array(image.pixels[0 ..< image.planeSize]))
        }
        let n = image.planeSize
        return PlanarImage(
            width: image.width, height: image.height, channels: 1,
            pixels: (0 ..< n).map {
                0.299 * image.pixels[$0] + 0.587 * image.pixels[n + $0] + 0.114 * image.pixels[2 * n + $0]
            })
    }
}

/// A source blurred by two passes of a box of `radius` in each direction (a tent of radius 2·radius), clamped at the
/// image's edges, computed per region from the region widened by 2·radius: each region's pixels are exactly those of
/// blurring the whole image.
public struct BoxBlurred: ImageRegionSource {
    public let source: ImageRegionSource
    public let radius: Int
    public var width: Int { source.width }
    public var height: Int { source.height }
    public var channels: Int { source.channels }

    public init(_ source: ImageRegionSource, radius: Int) {
        self.source = source
        self.radius = radius
    }

    public func region(x: Int, y: Int, width w: Int, height h: Int) throws -> PlanarImage {
        let pad = 2 * radius
        let x0 = max(0, x - pad), y0 = max(0, y - pad), x1 = min(width, x + w + pad), y1 = min(height, y + h + pad)
        let image = try source.region(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        let (pw, ph) = (image.width, image.height), n = pw * ph
        // In fixed point (16 fraction bits), each sum exact: a value depends on its window alone, not on where the
        // running sum began, so every region agrees with the whole to the bit. Clamping at the wider region's edges
        // is clamping at the image's where the region reaches them; elsewhere the wrong values stay within 2·radius
        // of that edge, in the padding cropped away. One channel at a time, in two buffers of Int32.
        var out = PlanarImage(width: w, height: h, channels: image.channels, fill: 0)
        var q = [Int32](repeating: 0, count: n), scratch = [Int32](repeating: 0, count: n)
        for c in 0 ..< image.channels {
            for i in 0 ..< n { q[i] = Int32((min(1, max(0, image.pixels[c * n + i])) * 65536).rounded()) }
            for _ in 0 ..< 2 {
                Self.pass(q, into: &scratch, width: pw, height: ph, radius: radius, horizontal: true)
                Self.pass(scratch, into: &q, width: pw, height: ph, radius: radius, horizontal: false)
            }
            for row in 0 ..< h {
                for col in 0 ..< w {
                    out.pixels[(c * h + row) * w + col] = Float(q[(y - y0 + row) * pw + x - x0 + col]) / 65536
                }
            }
        }
        return out
    }

    /// One box pass along rows or columns of one plane: the mean (rounded) of the 2r+1 samples around each, indices
    /// clamped. Values are at most 65536, so a sum of 2r+1 ≤ 257 of them fits an Int32's range many times over.
    static func pass(
        _ q: [Int32], into out: inout [Int32], width w: Int, height h: Int, radius r: Int, horizontal: Bool
    ) {
        let (lines, length) = horizontal ? (h, w) : (w, h)
        let stride = horizontal ? 1 : w, count = Int64(2 * r + 1)
        q.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                Parallel.forEach(lines) { range in
                    for l in range {
                        let start = horizontal ? l * w : l
                        func at(_ i: Int) -> Int64 { Int64(s[start + min(max(i, 0), length - 1) * stride]) }
                        var sum: Int64 = 0
                        for i in -r ... r { sum += at(i) }
                        for i in 0 ..< length {
                            d[start + i * stride] = Int32((sum + count / 2) / count)
                            sum += at(i + r + 1) - at(i - r)
                        }
                    }
                }
            }
        }
    }
}
