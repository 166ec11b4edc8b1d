import RenderSettings

extension JobSpec {
    /// The bounds of every field a job may carry, named once with their reason (Docs/security.md, "Limits"). The
    /// coordinator checks them before a job is journaled and again when it loads one; a worker checks a tile's
    /// settings with them before computing.
    public enum Limits {
        /// Output sides: a 24x36 in poster at 1200 DPI is 28,800 x 43,200.
        public static let side = 16 ... 100_000
        /// Output pixels: 2^30 (a gigapixel) is what the canvas on disk is sized and tested for.
        public static let pixels = 1 << 30
        /// Tiles in one pass, estimated as the output's area over the tile's: beyond this the scheduler's per-tile
        /// state, not the compute, would be what a farm spends its time on.
        public static let tilesPerPass = 100_000
        public static let coarseSize = 16 ... 4096
        /// Tile side: large enough for the deepest style layer to see a 2x2 map, small enough for one worker.
        public static let tileSize = 32 ... 4096
        public static let margin = 0 ... 512
        /// Levels with their own iteration count (more levels repeat the last).
        public static let levelCount = 1 ... 16
        public static let iterations = 1 ... 100_000
        /// L-BFGS history: at least one correction pair; a thousand is 12 KiB per pixel of a tile already.
        public static let lbfgsHistory = 1 ... 1000
        public static let styleSize = 16 ... 8192
        /// Style images are resized to styleSize x styleScale: at most 8x (65,536 px on the long side).
        public static let styleScale: ClosedRange<Float> = 0.01 ... 8
        public static let styles = 1 ... 6
        /// Loss weights and learning rates: finite and non-negative, at most 1e12 (a float's product with a
        /// loss still fits).
        public static let weight: ClosedRange<Float> = 0 ... 1e12
        public static let layerWeightExponent: ClosedRange<Float> = -16 ... 16
        public static let dpi = 1.0 ... 10_000
        /// Higher runs first; 50 when not given.
        public static let priority = 0 ... 100
        public static let nameLength = 256
        /// The decoded inputs of one job together (content, styles, masks; float32 RGB, after each is read reduced to
        /// what the job uses): a 2^28-pixel content (the largest image read) is 3 GiB, and the rest is room for styles.
        public static let decodedInputBytes = 4 << 30
        /// Bytes a decoded pixel takes (three float32 planes).
        public static let bytesPerDecodedPixel = 12
    }

    /// Checks every field against `Limits` with arithmetic that cannot overflow; throws `malformedBody` naming the
    /// field and its limit.
    public func validate() throws {
        let p = poster
        try check(name.utf8.count <= Limits.nameLength, "name", "at most \(Limits.nameLength) bytes")
        try check(Limits.priority.contains(priority), "priority", "must be \(Limits.priority)")
        try check(
            Limits.side.contains(p.width) && Limits.side.contains(p.height), "poster.width/height",
            "each must be \(Limits.side)")
        let (area, overflow) = p.width.multipliedReportingOverflow(by: p.height)
        try check(
            !overflow && area <= Limits.pixels, "poster.width/height",
            "\(p.width)x\(p.height) is above \(Limits.pixels) pixels")
        try check(Limits.coarseSize.contains(p.coarseSize), "poster.coarseSize", "must be \(Limits.coarseSize)")
        try check(Limits.tileSize.contains(p.tileSize), "poster.tileSize", "must be \(Limits.tileSize)")
        // tileSize >= 2 * overlap + 2, written so that no overlap can overflow it (the schema fuzzer sent Int.max).
        try check(
            p.overlap >= 0 && p.overlap <= (p.tileSize - 2) / 2, "poster.overlap",
            "must be less than half of the tile size")
        try check(Limits.margin.contains(p.margin), "poster.margin", "must be \(Limits.margin)")
        try check(
            area / (p.tileSize * p.tileSize) <= Limits.tilesPerPass, "poster.tileSize",
            "\(p.width)x\(p.height) in tiles of \(p.tileSize) is more than \(Limits.tilesPerPass) tiles per pass")
        try check(
            Limits.levelCount.contains(p.iterations.count) && p.iterations.allSatisfy(Limits.iterations.contains),
            "poster.iterations", "1 to \(Limits.levelCount.upperBound) counts, each \(Limits.iterations)")
        try check(
            p.shiftedPassFraction > 0 && p.shiftedPassFraction <= 10, "poster.shiftedPassFraction", "must be in (0, 10]"
        )
        try check(Limits.styleSize.contains(p.styleSize), "poster.styleSize", "must be \(Limits.styleSize)")
        try check(Limits.styleScale.contains(p.styleScale), "poster.styleScale", "must be \(Limits.styleScale)")
        try p.options.validate(hasTemporalMask: frame?.temporalMask == true)
        try check(
            frame?.temporalImage != true || frame?.temporalMask == true, "frame.temporalImage",
            "needs frame.temporalMask: the target image is the temporal loss's")
        try check(
            Limits.styles.contains(styleWeights.count) && styleWeights.allSatisfy(Limits.weight.contains)
                && styleWeights.reduce(0, +) > 0, "styleWeights",
            "1 to 6 finite non-negative weights with a positive sum")
        try check([8, 16].contains(bitDepth), "bitDepth", "must be 8 or 16")
        try check(dpi.map(Limits.dpi.contains) ?? true, "dpi", "must be \(Limits.dpi)")
        try check(["png", "tiff"].contains(format), "format", "must be png or tiff")
        try check(
            inputCount <= FarmProtocol.Limits.maxPayloadFrames, "inputs",
            "\(inputCount) image files (content, styles, masks) but a message carries at most \(FarmProtocol.Limits.maxPayloadFrames)"
        )
        if let control = p.control { try validate(control) }
    }

    /// Checks perceptual control's settings against the job's styles and `Limits`.
    func validate(_ control: StyleControl) throws {
        let p = poster
        try check(
            control.regions.count <= RegionTargetsCodec.maxRegions, "poster.control.regions",
            "at most \(RegionTargetsCodec.maxRegions)")
        try check(
            control.styles.count <= styleWeights.count, "poster.control.styles", "one entry per style image at most"
        )
        if let problem = control.problems(
            styleCount: styleWeights.count, layers: p.options.loss.styleLayers.map(\.name)
        ).first {
            try check(false, "poster.control.\(problem.field)", problem.message)
        }
        // Scales are finite and in (0, 8] here; their product with the style size has the bound styleScale has alone.
        let largest = Float(p.styleSize) * p.styleScale * (control.styles.map(\.scale).max() ?? 1)
        let bound = Float(Limits.styleSize.upperBound) * Limits.styleScale.upperBound
        try check(
            largest <= bound, "poster.control.styles",
            "a style scaled to \(Int(saturating: Double(largest))) px on its long side is above \(Int(saturating: Double(bound)))"
        )
    }

}

/// Throws `malformedBody` naming a job spec's `field` and why, unless `ok`.
private func check(_ ok: Bool, _ field: String, _ why: String) throws {
    if !ok { throw ProtocolError.malformedBody("job spec: \(field): \(why)") }
}

extension RenderOptions {
    /// Checks the optimizer and the loss against `JobSpec.Limits` (a tile's settings, as a worker receives them).
    public func validate(hasTemporalMask: Bool = true) throws {
        typealias Limits = JobSpec.Limits
        func check(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw ProtocolError.malformedBody("job spec: options.\(field): \(why)") }
        }
        try check(Limits.iterations.contains(iterations), "iterations", "must be \(Limits.iterations)")
        try check(
            relativeTolerance.isFinite && relativeTolerance >= 0, "relativeTolerance", "must be finite and non-negative"
        )
        switch optimizer {
        case let .lbfgs(history, lr):
            try check(
                Limits.lbfgsHistory.contains(history), "optimizer.lbfgs.history", "must be \(Limits.lbfgsHistory)")
            try check(
                lr > 0 && Limits.weight.contains(lr), "optimizer.lbfgs.learningRate",
                "must be positive and at most 1e12")
        case let .adam(lr, beta1, beta2):
            try check(
                lr > 0 && Limits.weight.contains(lr), "optimizer.adam.learningRate", "must be positive and at most 1e12"
            )
            try check(
                (0 ..< 1).contains(beta1) && (0 ..< 1).contains(beta2), "optimizer.adam.beta", "must be in [0, 1)")
        }
        let known = VGG19Layers.names
        try check(known.contains(loss.contentLayer), "loss.contentLayer", "unknown layer")
        try check(
            (1 ... known.count).contains(loss.styleLayers.count)
                && loss.styleLayers.allSatisfy { known.contains($0.name) && Limits.weight.contains($0.weight) },
            "loss.styleLayers", "1 to \(known.count) known layers with finite non-negative weights")
        try check(
            Limits.layerWeightExponent.contains(loss.styleLayerExponent), "loss.styleLayerExponent",
            "must be \(Limits.layerWeightExponent)")
        try check(
            [loss.contentWeight, loss.styleWeight, loss.tvWeight, loss.temporalWeight].allSatisfy(
                Limits.weight.contains),
            "loss weights", "must be finite, non-negative and at most 1e12")
        try check(
            loss.temporalWeight == 0 || hasTemporalMask, "loss.temporalWeight", "needs a frame with a temporal mask")
    }
}

extension AssignBody {
    /// Checks a tile's settings as a worker receives them: the options against `JobSpec.Limits`, the iterations,
    /// and a tile whose core lies inside a render rectangle no larger than a tile with its margins.
    public func validate() throws {
        typealias Limits = JobSpec.Limits
        try options.validate()
        let r = task.tile.render, c = task.tile.core,
            largest = Limits.tileSize.upperBound + 2 * Limits.margin.upperBound
        let position = 0 ... Limits.side.upperBound  // checked first: the sums below cannot overflow
        guard Limits.iterations.contains(task.iterations), (1 ... largest).contains(r.width),
            (1 ... largest).contains(r.height),
            position.contains(r.x), position.contains(r.y), (1 ... largest).contains(c.width),
            (1 ... largest).contains(c.height),
            position.contains(c.x), position.contains(c.y), c.x >= r.x, c.y >= r.y, c.maxX <= r.maxX, c.maxY <= r.maxY,
            leaseSeconds.isFinite, leaseSeconds > 0
        else {
            throw ProtocolError.malformedBody(
                "assign: a tile of \(r.width)x\(r.height) (core \(c.width)x\(c.height)) and "
                    + "\(task.iterations) iterations is outside the limits")
        }
    }
}
