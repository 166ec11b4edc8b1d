import ArgumentParser
import Foundation
import Imaging
import StyleCore

/// The job a `render` or `submit` describes: images, size, tiling, loss, optimizer, output.
struct RenderArguments: ParsableArguments {
    @Argument(help: "Content image (PNG or JPEG).")
    var content: String
    @Argument(help: "One or more style images.")
    var styles: [String]
    @Option(name: .shortAndLong, help: "Output image (.png, .tif).")
    var output: String

    @Option(help: "Long side of the output, in pixels (default 512 unless --width, --height or --print is given).")
    var size: Int?
    @Option(help: "Output width in pixels (with --height: exact size, the content is centre-cropped to its aspect).")
    var width: Int?
    @Option(help: "Output height in pixels.")
    var height: Int?
    @Option(name: .customLong("print"), help: ArgumentHelp("Print size: a preset from Configs/print-presets.toml (A0…A6, poster-large, …, add -landscape) or WxHin, WxHcm, WxHmm; pixels = size × --dpi (default 300).", valueName: "size"))
    var printSize: String?
    @OptionGroup(title: "Tiled levels (outputs larger than --coarse-size)") var tiling: TilingOptions
    @Option(help: "Maximum iterations.")
    var iterations = 300
    @Option(help: "Optimizer: lbfgs or adam.")
    var optimizer = "lbfgs"
    @Option(help: "L-BFGS history size (correction pairs).")
    var lbfgsHistory = 10
    @Option(help: "Learning rate (L-BFGS step scale, default 1; Adam, default 2).")
    var lr: Float?
    @Option(help: "Adam beta1.") var beta1: Float = 0.9
    @Option(help: "Adam beta2.") var beta2: Float = 0.999
    @Option(help: "Stop when the relative loss change falls below this (0: never).")
    var tolerance = 0.0

    @Option(help: "Content loss weight.") var contentWeight: Float = LossConfig.recommended.contentWeight
    @Option(help: "Style loss weight.") var styleWeight: Float = LossConfig.recommended.styleWeight
    @Option(help: "Total-variation weight.") var tvWeight: Float = LossConfig.recommended.tvWeight
    @Option(help: "Content layer.") var contentLayer = "relu4_2"
    @Option(help: "Comma-separated style layers.") var styleLayers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
    @Option(help: "Comma-separated relative weights of the style layers (default: all 1).")
    var styleLayerWeights: String?
    @Option(help: "Style layer weights are multiplied by channels^(-exponent), then normalised.")
    var layerWeightExponent: Float = 0
    @Option(help: "Comma-separated blend weights of the style images (default: equal).")
    var styleBlend: String?
    @Option(help: "Style images are resized to this times the output's long side.")
    var styleScale: Float = 1

    @Option(help: "Initialisation: content, noise, or an image path.")
    var initialisation = "content"
    @Option(help: "Noise mixed into an image initialisation, 0...1.")
    var initNoise: Float = 0
    @Option(help: "Random seed (noise initialisation).") var seed: UInt64 = 0
    @Flag(help: "Keep the content's colours (luminance-only transfer).") var preserveColors = false
    @Option(help: "Pooling: max or average.") var pooling = "max"
    @Option(help: "Save the best image so far every N iterations (0: never), as OUT with the iteration number.")
    var checkpointEvery = 0
    @Option(help: "Output bit depth for PNG: 8 or 16.") var bitDepth = 16
    @Option(help: "Resolution written into the file, dots per inch.") var dpi: Double?

    func validate() throws {
        for (name, v) in [("--size", size), ("--width", width), ("--height", height)] {
            if let v, !(16 ... 100_000).contains(v) { throw ValidationError("\(name) must be between 16 and 100000 pixels") }
        }
        if let printSize { _ = try PrintSize.parse(printSize) }
        if let dpi, !(dpi > 0 && dpi <= 10_000) { throw ValidationError("--dpi must be between 0 and 10000") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard ["lbfgs", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be lbfgs or adam") }
        guard lbfgsHistory >= 1 else { throw ValidationError("--lbfgs-history must be at least 1") }
        guard [8, 16].contains(bitDepth) else { throw ValidationError("--bit-depth must be 8 or 16") }
        guard Pool2x2.Kind(rawValue: pooling == "avg" ? "average" : pooling) != nil else {
            throw ValidationError("--pooling must be max or average")
        }
        guard (0 ... 1).contains(initNoise) else { throw ValidationError("--init-noise must be between 0 and 1") }
        guard styleScale > 0 else { throw ValidationError("--style-scale must be positive") }
        guard contentWeight >= 0, styleWeight >= 0, tvWeight >= 0 else { throw ValidationError("weights must be non-negative") }
        _ = try lossConfig()
        if let b = styleBlend { _ = try Self.floats(b, count: styles.count, name: "--style-blend") }
    }

    static func floats(_ text: String, count: Int, name: String) throws -> [Float] {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == count, values.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw ValidationError("\(name) needs \(count) non-negative comma-separated numbers, got '\(text)'")
        }
        return values.map { $0! }
    }

    func lossConfig() throws -> LossConfig {
        var config = LossConfig()
        let layers = styleLayers.split(separator: ",").map { String($0) }
        for name in layers + [contentLayer] where !VGG19.layerNames.contains(name) {
            throw ValidationError("unknown layer '\(name)'; layers are \(VGG19.layerNames.joined(separator: ", "))")
        }
        let weights = try styleLayerWeights.map { try Self.floats($0, count: layers.count, name: "--style-layer-weights") }
            ?? layers.map { _ in 1 }
        config.styleLayers = Array(zip(layers, weights)).map { (name: $0.0, weight: $0.1) }
        config.contentLayer = contentLayer
        config.contentWeight = contentWeight
        config.styleWeight = styleWeight
        config.tvWeight = tvWeight
        config.styleLayerExponent = layerWeightExponent
        return config
    }

    /// Renders in this process.
    func render(compute: ComputeOptions) throws {
        let contentImage = try ImageIO.read(URL(fileURLWithPath: content)).image
        let styleImages = try styles.map { try ImageIO.read(URL(fileURLWithPath: $0)).image }
        let blend = try styleBlend.map { try Self.floats($0, count: styles.count, name: "--style-blend") }
            ?? styles.map { _ in 1 }
        // Check the output before spending minutes of compute.
        let outURL = URL(fileURLWithPath: output)
        guard FileManager.default.fileExists(atPath: outURL.deletingLastPathComponent().path) else {
            throw ValidationError("output directory \(outURL.deletingLastPathComponent().path) does not exist")
        }
        let network = try compute.loadNetwork(pooling: poolingKind)
        let styleInputs = Array(zip(styleImages, blend)).map { (image: $0.0, weight: $0.1) }
        let target = try outputSize(content: contentImage)
        let fitted = target.crop ? CenterCrop.toAspect(contentImage, width: target.width, height: target.height) : contentImage
        if max(target.width, target.height) > tiling.coarseSize {
            return try renderTiled(content: fitted, styles: styleInputs, width: target.width, height: target.height,
                                   network: network, outURL: outURL, dpi: target.dpi, threads: compute.threads)
        }
        var job = StyleJob(content: fitted, styles: styleInputs, size: max(target.width, target.height))
        job.exactSize = (target.width, target.height)
        job.styleScale = styleScale
        job.seed = seed
        job.pooling = poolingKind
        job.preserveColors = preserveColors
        job.options.iterations = iterations
        job.options.relativeTolerance = tolerance
        job.options.loss = try lossConfig()
        job.options.optimizer = optimizerKind
        switch initialisation {
        case "content": job.initialisation = .content
        case "noise": job.initialisation = .noise
        default: job.initialisation = .image(try ImageIO.read(URL(fileURLWithPath: initialisation)).image, noise: initNoise)
        }

        let (w, h) = job.outputSize
        printError("rendering \(w)x\(h), \(iterations) iterations, \(optimizer), \(compute.threads) threads, OpenBLAS \(BLAS.coreName)")
        let bar = ProgressBar(total: iterations, label: "render")
        let result = job.render(network: network, checkpointEvery: checkpointEvery, checkpoint: { it, img in
            let url = Self.checkpointURL(outURL, iteration: it)
            try? ImageIO.write(img, to: url, bitDepth: bitDepth, dpi: target.dpi)
        }) { p in
            bar.update(p.iteration, status: String(format: "loss %.4g", p.loss), elapsed: p.elapsed)
        }
        bar.finish()
        try ImageIO.write(result.image, to: outURL, bitDepth: bitDepth, dpi: target.dpi)
        print("wrote \(output) (\(w)x\(h), best loss \(String(format: "%.6g", result.loss)), \(result.iterations) iterations)")
    }

    /// The optimizer the options describe.
    var optimizerKind: OptimizerKind {
        optimizer == "adam" ? .adam(learningRate: lr ?? 2, beta1: beta1, beta2: beta2)
            : .lbfgs(history: lbfgsHistory, learningRate: lr ?? 1)
    }

    /// The pooling the options describe (`--pooling max`, `average` or `avg`).
    var poolingKind: Pool2x2.Kind { pooling == "max" ? .max : .average }

    /// The output size in pixels, whether the content must be cropped to its aspect, and the DPI to record.
    func outputSize(content: PlanarImage) throws -> (width: Int, height: Int, crop: Bool, dpi: Double?) {
        if let printSize {
            let d = dpi ?? 300
            let px = try PrintSize.parse(printSize).pixels(dpi: d)
            return (px.width, px.height, true, d)
        }
        switch (width, height) {
        case let (w?, h?): return (w, h, true, dpi)
        case let (w?, nil):
            return (w, max(1, Int((Double(content.height) * Double(w) / Double(content.width)).rounded())), false, dpi)
        case let (nil, h?):
            return (max(1, Int((Double(content.width) * Double(h) / Double(content.height)).rounded())), h, false, dpi)
        default:
            let s = Resampler.scaledSize(width: content.width, height: content.height, longSide: size ?? 512)
            return (s.width, s.height, false, dpi)
        }
    }

    /// `out.png` → `out.iter0100.png`.
    static func checkpointURL(_ url: URL, iteration: Int) -> URL {
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(String(format: "%@.iter%04d.%@", stem, iteration, ext))
    }
}
