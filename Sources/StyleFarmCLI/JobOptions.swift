import ArgumentParser
import Foundation
import JobModel
import StyleCore

extension OptimizerName: ExpressibleByArgument {}
extension Pool2x2.Kind: ExpressibleByArgument {}

/// The render settings a command line gives: every field of a job description (`JobDescription`) as an option,
/// each optional, so that what is not given keeps the job file's value or the default. Shared by `render`,
/// `submit`, `video` and `plan`.
struct JobOptions: ParsableArguments {
    static let defaults = PosterSettings(width: 1, height: 1)

    @Option(help: "Long side of the output, in pixels (default 512 unless --width, --height or --print is given).")
    var size: Int?
    @Option(help: "Output width in pixels (with --height: exact size, the content is centre-cropped to its aspect).")
    var width: Int?
    @Option(help: "Output height in pixels.")
    var height: Int?
    @Option(
        name: .customLong("print"),
        help: ArgumentHelp(
            "Print size: a preset from Configs/print-presets.toml (A0…A6, poster-large, …, add -landscape) or WxHin, WxHcm, WxHmm; pixels = size × --dpi (default 300).",
            valueName: "size"))
    var printSize: String?
    @Option(help: "Resolution written into the file, dots per inch.") var dpi: Double?
    @Option(help: "Output bit depth for PNG: 8 or 16 (default 16).") var bitDepth: Int?

    @Option(
        help:
            "Long side of the first, untiled level; larger outputs are rendered in tiled levels (default \(defaults.coarseSize))."
    )
    var coarseSize: Int?
    @Option(help: "Tile size in pixels: the optimised part, before the margin (default \(defaults.tileSize)).")
    var tile: Int?
    @Option(help: "Overlap between neighbouring tiles, blended with smooth windows (default \(defaults.overlap)).")
    var overlap: Int?
    @Option(help: "Context margin around each tile: optimised, then cropped away (default \(defaults.margin)).")
    var margin: Int?
    @Option(
        help: ArgumentHelp(
            "Iterations per level, coarse first; the last repeats (default \(defaults.iterations.map(String.init).joined(separator: ","))).",
            valueName: "n,n,..."))
    var levelIterations: String?
    @Flag(help: "Skip the half-tile-shifted second pass of each tiled level.") var noShift = false
    @Flag(help: "Make every tile match the whole image's Grams, instead of targets localised to the tile.")
    var globalTileTargets = false
    @Option(
        help: "Long side of the style images when the shared Gram targets are computed (default \(defaults.styleSize))."
    )
    var styleSize: Int?
    @Option(
        help: "Iterations of the shifted pass as a fraction of the level's (default \(defaults.shiftedPassFraction)).")
    var shiftedFraction: Float?

    @Option(help: "Iterations of an untiled render (default \(defaults.options.iterations)).") var iterations: Int?
    @Option(help: "Optimizer: lbfgs (default) or adam.") var optimizer: OptimizerName?
    @Option(help: "L-BFGS history size (correction pairs, default \(defaults.options.optimizer.lbfgsHistory)).")
    var lbfgsHistory: Int?
    @Option(help: "Learning rate (L-BFGS step scale, default 1; Adam, default 2).") var lr: Float?
    @Option(help: "Adam beta1 (default 0.9).") var beta1: Float?
    @Option(help: "Adam beta2 (default 0.999).") var beta2: Float?
    @Option(
        help:
            "Stop an optimisation when its best loss fell by less than this fraction over 20 iterations (default 0.005; 0: never)."
    ) var tolerance: Double?

    @Option(help: "Content loss weight (default \(LossConfig.recommended.contentWeight)).") var contentWeight: Float?
    @Option(help: "Style loss weight (default \(LossConfig.recommended.styleWeight)).") var styleWeight: Float?
    @Option(help: "Total-variation weight (default \(LossConfig.recommended.tvWeight)).") var tvWeight: Float?
    @Option(help: "Content layer (default \(LossConfig.recommended.contentLayer)).") var contentLayer: String?
    @Option(
        help:
            "Comma-separated style layers (default \(LossConfig.recommended.styleLayers.map(\.name).joined(separator: ",")))."
    )
    var styleLayers: String?
    @Option(help: "Comma-separated relative weights of the style layers (default: all 1).") var styleLayerWeights:
        String?
    @Option(help: "Style layer weights are multiplied by channels^(-exponent), then normalised (default 0).")
    var layerWeightExponent: Float?
    @Option(help: "Comma-separated blend weights of the style images (default: equal).") var styleBlend: String?
    @Option(
        help: ArgumentHelp(
            "Style images are resized to this times the style size (default 1); several, comma-separated, scale each "
                + "style image on its own (one per style).", valueName: "s[,s...]"))
    var styleScale: String?
    @Option(
        help: ArgumentHelp(
            "Scale control: the style layers style image N gives, e.g. 1=relu1_1,relu2_1 for its fine strokes and "
                + "2=relu3_1,relu4_1,relu5_1 for another's coarse forms (repeatable; counted from 1).",
            valueName: "n=layers"))
    var styleLayersFor: [String] = []
    @Option(
        help: ArgumentHelp(
            "The mask of style image N's region to draw from (white: use), e.g. 1=sky-mask.png (repeatable).",
            valueName: "n=path"))
    var styleMask: [String] = []
    @Flag(
        help: "Colour control: match each style image's colour mean and covariance to the content's before its Grams.")
    var colorMatch = false
    @Option(
        help: ArgumentHelp(
            "An image whose colours name the output's regions (the content's size or aspect; with --region).",
            valueName: "path"))
    var regionMask: String?
    @Option(
        help: ArgumentHelp(
            "A region: its colour in the region mask (#rrggbb, R,G,B or a gray level 0-255), then = the style images it "
                + "takes (numbers from 1 joined by +, each optionally *weight; 'none' keeps the content there), optionally :weight of its style "
                + "loss. Repeat per region, e.g. --region '#87ceeb=2' --region '#000000=1*0.7+2*0.3' --region 'white=none'.",
            valueName: "color=styles[:weight]"))
    var region: [String] = []
    @Option(help: "How widely neighbouring regions blend, as a fraction of the long side (default 0.01).")
    var regionFeather: Float?
    @Option(help: "Pooling: max (default) or average.") var pooling: Pool2x2.Kind?

    @Option(help: "Initialisation of an untiled render: content (default), noise, or an image path.")
    var initialisation: String?
    @Option(help: "Noise mixed into an image initialisation, 0...1 (default 0).") var initNoise: Float?
    @Option(help: "Random seed (noise initialisation, default 0).") var seed: UInt64?
    @Flag(help: "Keep the content's colours (luminance-only transfer).") var preserveColors = false

    /// The option that sets each field (the fields' dotted paths, `JobDescription.fieldPaths`).
    static let optionForField: [String: String] = [
        "output": "--output", "seed": "--seed", "initialisation": "--initialisation", "init-noise": "--init-noise",
        "preserve-colors": "--preserve-colors", "size.pixels": "--size", "size.width": "--width",
        "size.height": "--height",
        "size.print": "--print", "size.dpi": "--dpi", "size.bit-depth": "--bit-depth",
        "tiling.coarse-size": "--coarse-size",
        "tiling.tile": "--tile", "tiling.overlap": "--overlap", "tiling.margin": "--margin",
        "tiling.shift": "--no-shift",
        "tiling.shifted-fraction": "--shifted-fraction", "tiling.local-targets": "--global-tile-targets",
        "tiling.style-size": "--style-size",
        "levels.iterations": "--level-iterations", "optimizer.kind": "--optimizer",
        "optimizer.iterations": "--iterations",
        "optimizer.lbfgs-history": "--lbfgs-history", "optimizer.lr": "--lr", "optimizer.beta1": "--beta1",
        "optimizer.beta2": "--beta2",
        "optimizer.tolerance": "--tolerance", "loss.content-weight": "--content-weight",
        "loss.style-weight": "--style-weight",
        "loss.tv-weight": "--tv-weight", "loss.content-layer": "--content-layer", "loss.style-layers": "--style-layers",
        "loss.style-layer-weights": "--style-layer-weights", "loss.layer-weight-exponent": "--layer-weight-exponent",
        "loss.pooling": "--pooling", "loss.style-scale": "--style-scale", "name": "--name", "priority": "--priority",
        "color-match": "--color-match", "region-mask": "--region-mask", "region-feather": "--region-feather",
        "content": "CONTENT", "style": "STYLE"
    ]

    func validate() throws {
        do { try description(styles: [], perStyle: false).check() } catch let problem as JobProblem {
            throw Self.explain(problem)
        }
    }

    /// A problem in the options' terms: `--overlap: must be less than half of the tile size`.
    static func explain(_ problem: JobProblem) -> ValidationError {
        let field = problem.field.map { f -> String in
            if f.hasPrefix("region[") { return "--region" }
            guard f.hasPrefix("style[") else { return optionForField[f] ?? f }
            return f.hasSuffix(".scale")
                ? "--style-scale"
                : f.hasSuffix(".layers")
                    ? "--style-layers-for" : f.hasSuffix(".mask") ? "--style-mask" : "--style-blend"
        }
        return ValidationError((field.map { "\($0): " } ?? "") + problem.message)
    }

    /// The description these options give, for these style images (weighted by `--style-blend`). The per-style
    /// options need the style images here (`perStyle`: false only to check the rest before they are known).
    func description(styles: [String], perStyle checkPerStyle: Bool = true) throws -> JobDescription {
        var d = JobDescription()
        if checkPerStyle, styles.isEmpty,
            !styleLayersFor.isEmpty || !styleMask.isEmpty || styleScale?.contains(",") == true
        {
            throw ValidationError(
                "--style-layers-for, --style-mask and per-style --style-scale values need the style images on the command line"
            )
        }
        if !styles.isEmpty {
            let weights = try styleBlend.map { try Self.list($0, "--style-blend", Float.init) } ?? styles.map { _ in 1 }
            guard weights.count == styles.count else {
                throw ValidationError(
                    "--style-blend needs \(styles.count) comma-separated numbers, one per style image")
            }
            d.style = zip(styles, weights).map { JobDescription.Style(image: $0, weight: $1) }
            try perStyle(&d.style!)
        }
        d.colorMatch = colorMatch ? true : nil
        (d.regionMask, d.regionFeather) = (regionMask, regionFeather)
        d.region = region.isEmpty ? nil : try region.map(Self.region)
        d.seed = seed
        d.initialisation = initialisation
        d.initNoise = initNoise
        d.preserveColors = preserveColors ? true : nil
        d.size = try sizeSection()
        d.tiling = tilingSection()
        d.levels = JobDescription.Levels()
        d.levels?.iterations = try levelIterations.map { try Self.list($0, "--level-iterations", Int.init) }
        d.optimizer = optimizerSection()
        d.loss = try lossSection()
        return d
    }

    /// Comma-separated values.
    static func list<T>(_ text: String, _ option: String, _ parse: (String) -> T?) throws -> [T] {
        let values = text.split(separator: ",").map { parse($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(option): expected comma-separated values, got '\(text)'")
        }
        return values.compactMap { $0 }
    }
}

extension JobOptions {
    func sizeSection() throws -> JobDescription.Size {
        var s = JobDescription.Size()
        (s.pixels, s.width, s.height, s.print, s.dpi, s.bitDepth) = (size, width, height, printSize, dpi, bitDepth)
        return s
    }

    func tilingSection() -> JobDescription.Tiling {
        var t = JobDescription.Tiling()
        (t.coarseSize, t.tile, t.overlap, t.margin, t.styleSize, t.shiftedFraction) = (
            coarseSize, tile, overlap, margin, styleSize, shiftedFraction
        )
        t.shift = noShift ? false : nil
        t.localTargets = globalTileTargets ? false : nil
        return t
    }

    func optimizerSection() -> JobDescription.Optimizer {
        var o = JobDescription.Optimizer()
        (o.kind, o.iterations, o.lbfgsHistory, o.lr, o.beta1, o.beta2, o.tolerance) = (
            optimizer, iterations, lbfgsHistory, lr, beta1, beta2, tolerance
        )
        return o
    }

    func lossSection() throws -> JobDescription.Loss {
        var l = JobDescription.Loss()
        (l.contentWeight, l.styleWeight, l.tvWeight, l.contentLayer) = (
            contentWeight, styleWeight, tvWeight, contentLayer
        )
        (l.layerWeightExponent, l.pooling) = (layerWeightExponent, pooling)
        if let styleScale, !styleScale.contains(",") {
            l.styleScale = try Self.list(styleScale, "--style-scale", Float.init)[0]
        }
        l.styleLayers = try styleLayers.map { try Self.list($0, "--style-layers") { $0 } }
        l.styleLayerWeights = try styleLayerWeights.map { try Self.list($0, "--style-layer-weights", Float.init) }
        return l
    }
}

extension JobOptions {
    /// The per-style options (`--style-scale` with several values, `--style-layers-for`, `--style-mask`) on the styles.
    func perStyle(_ styles: inout [JobDescription.Style]) throws {
        if let styleScale, styleScale.contains(",") {
            let scales = try Self.list(styleScale, "--style-scale", Float.init)
            guard scales.count == styles.count else {
                throw ValidationError(
                    "--style-scale needs one number, or \(styles.count) comma-separated ones, one per style image")
            }
            for i in styles.indices { styles[i].scale = scales[i] }
        }
        for (option, values) in [("--style-layers-for", styleLayersFor), ("--style-mask", styleMask)] {
            for text in values {
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                // safe-int: a failable parse of text
                guard parts.count == 2, let n = Int(parts[0]), (1 ... styles.count).contains(n) else {
                    throw ValidationError(
                        "\(option): expected N=VALUE with N a style image's number (1…\(styles.count)), got '\(text)'")
                }
                if option == "--style-mask" {
                    styles[n - 1].mask = parts[1]
                } else {
                    styles[n - 1].layers = try Self.list(parts[1], option) { $0 }
                }
            }
        }
    }

    /// `--region COLOR=STYLES[:WEIGHT]`: `#87ceeb=2`, `0,0,0=1*0.7+2*0.3:2`, `255=none`.
    static func region(_ text: String) throws -> JobDescription.Region {
        let fail = ValidationError(
            "--region: expected COLOR=STYLES[:WEIGHT] (e.g. '#87ceeb=2', '0,0,0=1*0.7+2*0.3:2', 'white=none'), got '\(text)'"
        )
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw fail }
        let names = ["white": "255", "black": "0"]
        var rest = parts[1], weight: Float?
        if let colon = rest.lastIndex(of: ":") {
            guard let w = Float(rest[rest.index(after: colon)...]) else { throw fail }
            (weight, rest) = (w, String(rest[..<colon]))
        }
        var styles: [Int] = [], blend: [Float] = []
        if rest != "none" {
            for term in rest.split(separator: "+") {
                let factors = term.split(separator: "*").map { $0.trimmingCharacters(in: .whitespaces) }
                // safe-int: a failable parse of text
                guard (1 ... 2).contains(factors.count), let n = Int(factors[0]),
                    let w = factors.count == 2 ? Float(factors[1]) : 1
                else { throw fail }
                styles.append(n)
                blend.append(w)
            }
        }
        return JobDescription.Region(
            color: names[parts[0].lowercased()] ?? parts[0], styles: styles,
            blend: blend.allSatisfy { $0 == 1 } ? nil : blend, weight: weight)
    }
}
