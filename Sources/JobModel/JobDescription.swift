import Foundation
import RenderSettings

/// A render as its user describes it: the images, the size and every setting, each optional. The same value
/// comes from a TOML job file (`JobDescription.read`), from `render`'s command-line options, or both (the
/// command line wins, `overriding`). What is not given takes the defaults of `PosterSettings` and
/// `RenderOptions.recommended`, the one place they are written; `settings(contentWidth:contentHeight:)` resolves
/// a description into the job to render.
///
/// The fields are the job file's, in kebab case (`tiling.coarse-size`); Configs/examples/reference.toml lists
/// them all with their meaning.
public struct JobDescription: Codable, Sendable, Equatable {
    public var name: String?
    /// 0...100, higher first.
    public var priority: Int?
    /// The content image's path.
    public var content: String?
    /// The style images (`[[style]]` tables).
    public var style: [Style]?
    /// The output's path (.png, .tif or .tiff).
    public var output: String?
    /// Random seed of a noise initialisation.
    public var seed: UInt64?
    /// How an untiled render starts: `content`, `noise` or an image's path.
    public var initialisation: String?
    /// Noise mixed into an image initialisation, 0...1.
    public var initNoise: Float?
    /// Keep the content's colours (luminance-only transfer).
    public var preserveColors: Bool?
    /// Match each style's colour mean and covariance to the content's before its Grams (colour control).
    public var colorMatch: Bool?
    /// The image whose colours name the output's regions (`[[region]]`): the content's size, or its aspect.
    public var regionMask: String?
    /// How widely neighbouring regions blend, as a fraction of the long side (default 0.01).
    public var regionFeather: Float?
    /// The output's regions (`[[region]]` tables): each a colour of the region mask and the styles it takes.
    public var region: [Region]?
    public var size: Size?
    public var tiling: Tiling?
    public var levels: Levels?
    public var optimizer: Optimizer?
    public var loss: Loss?

    public init() {}

    /// One style image, its blend weight (default 1) and its perceptual control: its scale (times the style size),
    /// the style layers it gives (scale control) and the mask of its region to draw from.
    public struct Style: Codable, Sendable, Equatable {
        public var image: String
        public var weight: Float?
        public var scale: Float?
        public var layers: [String]?
        public var mask: String?
        public init(
            image: String, weight: Float? = nil, scale: Float? = nil, layers: [String]? = nil, mask: String? = nil
        ) {
            (self.image, self.weight, self.scale, self.layers, self.mask) = (image, weight, scale, layers, mask)
        }
    }

    /// One region of the output: the colour naming it in the region mask (`#rrggbb`, `R,G,B` or a gray level
    /// `0`…`255`), the styles it takes (numbers of `[[style]]` tables, from 1; none: it keeps the content), their
    /// blend weights and the weight of its style loss (default 1).
    public struct Region: Codable, Sendable, Equatable {
        public var color: String
        public var styles: [Int]?
        public var blend: [Float]?
        public var weight: Float?
        public init(color: String, styles: [Int]? = nil, blend: [Float]? = nil, weight: Float? = nil) {
            (self.color, self.styles, self.blend, self.weight) = (color, styles, blend, weight)
        }

        /// The colour as RGB 0...255, or nil when it is none of the forms.
        public var rgb: [Int]? {
            let text = color.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#") {
                let hex = Array(text.dropFirst())
                let digits = hex.count == 3 ? hex.flatMap { [$0, $0] } : hex
                guard digits.count == 6 else { return nil }
                // safe-int: a failable parse of text
                let values = stride(from: 0, to: 6, by: 2).map { Int(String(digits[$0 ... $0 + 1]), radix: 16) }
                return values.contains(nil) ? nil : values.compactMap { $0 }
            }
            // safe-int: a failable parse of text
            let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard [1, 3].contains(parts.count), parts.allSatisfy({ $0.map { (0 ... 255).contains($0) } ?? false })
            else { return nil }
            let values = parts.compactMap { $0 }
            return values.count == 1 ? [values[0], values[0], values[0]] : values
        }
    }

    /// The output's size: `pixels` (long side), or `width` and/or `height`, or a `print` size at `dpi`.
    public struct Size: Codable, Sendable, Equatable {
        public var pixels: Int?
        public var width: Int?
        public var height: Int?
        /// A preset from Configs/print-presets.toml (add -landscape) or WxHin, WxHcm, WxHmm.
        public var print: String?
        /// Recorded in the file; with `print`, the pixels per inch (default 300).
        public var dpi: Double?
        /// 8 or 16 (PNG).
        public var bitDepth: Int?
        public init() {}
    }

    /// Coarse-to-fine tiled levels (see `PosterSettings`).
    public struct Tiling: Codable, Sendable, Equatable {
        public var coarseSize: Int?
        public var tile: Int?
        public var overlap: Int?
        public var margin: Int?
        public var shift: Bool?
        public var shiftedFraction: Float?
        public var localTargets: Bool?
        public var styleSize: Int?
        public init() {}
    }

    public struct Levels: Codable, Sendable, Equatable {
        /// Iterations per level, coarse first; the last repeats.
        public var iterations: [Int]?
        public init() {}
    }

    public struct Optimizer: Codable, Sendable, Equatable {
        public var kind: OptimizerName?
        /// Iterations of an untiled render (a tiled one has `levels.iterations`).
        public var iterations: Int?
        public var lbfgsHistory: Int?
        /// L-BFGS step scale (default 1) or Adam's learning rate (default 2).
        public var lr: Float?
        public var beta1: Float?
        public var beta2: Float?
        /// Stop when the relative loss change falls below this (0: never).
        public var tolerance: Double?
        public init() {}
    }

    public struct Loss: Codable, Sendable, Equatable {
        public var contentWeight: Float?
        public var styleWeight: Float?
        public var tvWeight: Float?
        public var contentLayer: String?
        public var styleLayers: [String]?
        public var styleLayerWeights: [Float]?
        public var layerWeightExponent: Float?
        public var pooling: PoolingKind?
        /// Style images are resized to this times the style size.
        public var styleScale: Float?
        public init() {}
    }
}

/// The optimizers, by the name a job file or `--optimizer` gives.
public enum OptimizerName: String, Codable, Sendable, CaseIterable {
    case lbfgs, adam
}
