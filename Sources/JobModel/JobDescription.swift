import StyleCore

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
    public var size: Size?
    public var tiling: Tiling?
    public var levels: Levels?
    public var optimizer: Optimizer?
    public var loss: Loss?

    public init() {}

    /// One style image and its blend weight (default 1).
    public struct Style: Codable, Sendable, Equatable {
        public var image: String
        public var weight: Float?
        public init(image: String, weight: Float? = nil) {
            self.image = image
            self.weight = weight
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
        public var pooling: Pool2x2.Kind?
        /// Style images are resized to this times the style size.
        public var styleScale: Float?
        public init() {}
    }
}

/// The optimizers, by the name a job file or `--optimizer` gives.
public enum OptimizerName: String, Codable, Sendable, CaseIterable {
    case lbfgs, adam
}
