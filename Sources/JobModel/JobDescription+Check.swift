import FarmProtocol
import RenderSettings

extension JobDescription {
    /// Checks every given field on its own and against the others; throws the first `JobProblem`, naming the field.
    /// The bounds are the farm's own (`JobSpec.Limits`), so a description that passes here is not refused for them on
    /// a farm; tile and margin sizes are bounded there alone.
    public func check() throws {
        func require(_ ok: Bool, _ field: String, _ message: String) throws {
            if !ok { throw JobProblem(field: field, message: message) }
        }
        try require(
            priority.map(JobSpec.Limits.priority.contains) ?? true, "priority", "must be \(JobSpec.Limits.priority)")
        try require((initNoise ?? 0) >= 0 && (initNoise ?? 0) <= 1, "init-noise", "must be between 0 and 1")
        for (i, s) in (style ?? []).enumerated() {
            try require(
                (s.weight ?? 1) >= 0 && (s.weight ?? 1).isFinite, "style[\(i + 1)].weight",
                "must be a non-negative number")
        }
        if let size { try size.check(require) }
        if let tiling { try tiling.check(require) }
        if let its = levels?.iterations {
            try require(
                !its.isEmpty && its.allSatisfy { $0 >= 1 }, "levels.iterations",
                "must be a non-empty list of positive integers")
        }
        if let optimizer { try optimizer.check(require) }
        if let loss { try loss.check(require) }
        try checkControl(require)
    }

    /// Perceptual control: regions need a region mask and the other way round, colours must parse, and the
    /// rest is `StyleControl.problems` (styles named, scales, layers, blends, feather).
    func checkControl(_ require: Requirement) throws {
        let regions = region ?? []
        try require(
            regions.isEmpty || regionMask != nil, "region-mask",
            "[[region]] tables need a region-mask image naming them")
        try require(
            regionMask == nil || !regions.isEmpty, "region",
            "a region-mask needs [[region]] tables saying what each colour gets")
        for (i, r) in regions.enumerated() {
            try require(
                r.rgb != nil, "region[\(i + 1)].color",
                "expected #rrggbb, R,G,B or a gray level 0…255, got \"\(r.color)\"")
        }
        // The styles may come later (a command line's, merged over a job file's): what needs them is checked then.
        guard let control else { return }
        let layers = loss?.styleLayers ?? LossConfig.recommended.styleLayers.map(\.name)
        if let problem = control.problems(styleCount: style?.count ?? .max, layers: layers).first {
            throw JobProblem(field: problem.field, message: problem.message)
        }
    }
}

typealias Requirement = (Bool, String, String) throws -> Void

extension JobDescription.Size {
    func check(_ require: Requirement) throws {
        for (name, v) in [("size.pixels", pixels), ("size.width", width), ("size.height", height)] {
            let side = JobSpec.Limits.side
            try require(
                v.map(side.contains) ?? true, name, "must be between \(side.lowerBound) and \(side.upperBound) pixels")
        }
        if let print { _ = try PrintSize.parse(print) }
        let dpiLimit = JobSpec.Limits.dpi
        try require(
            dpi.map(dpiLimit.contains) ?? true, "size.dpi",
            "must be between \(Int(saturating: dpiLimit.lowerBound)) and \(Int(saturating: dpiLimit.upperBound))")
        try require([8, 16].contains(bitDepth ?? 16), "size.bit-depth", "must be 8 or 16")
    }
}

extension JobDescription.Tiling {
    func check(_ require: Requirement) throws {
        let defaults = PosterSettings(width: 1, height: 1)
        let tile = self.tile ?? defaults.tileSize, overlap = self.overlap ?? defaults.overlap
        try require((coarseSize ?? 16) >= 16, "tiling.coarse-size", "must be at least 16")
        try require(tile >= 32, "tiling.tile", "must be at least 32")
        try require(
            overlap >= 0 && tile >= 2 * overlap + 2, "tiling.overlap",
            "must be less than half of the tile size (\(tile))")
        try require((margin ?? 0) >= 0, "tiling.margin", "must be non-negative")
        try require((shiftedFraction ?? 1) > 0, "tiling.shifted-fraction", "must be positive")
        try require((styleSize ?? 16) >= 16, "tiling.style-size", "must be at least 16")
    }
}

extension JobDescription.Optimizer {
    func check(_ require: Requirement) throws {
        try require((iterations ?? 1) >= 1, "optimizer.iterations", "must be at least 1")
        try require(
            lbfgsHistory.map(JobSpec.Limits.lbfgsHistory.contains) ?? true, "optimizer.lbfgs-history",
            "must be 1...1000 correction pairs")
        try require(lr.map { $0 > 0 && $0.isFinite } ?? true, "optimizer.lr", "must be a positive number")
        for (name, beta) in [("optimizer.beta1", beta1), ("optimizer.beta2", beta2)] {
            try require(beta.map { $0 >= 0 && $0 < 1 } ?? true, name, "must be in [0, 1)")
        }
        try require((tolerance ?? 0) >= 0, "optimizer.tolerance", "must be non-negative")
    }
}

extension JobDescription.Loss {
    func check(_ require: Requirement) throws {
        for (name, w) in [
            ("loss.content-weight", contentWeight), ("loss.style-weight", styleWeight), ("loss.tv-weight", tvWeight)
        ] {
            try require(w.map { $0 >= 0 && $0.isFinite } ?? true, name, "must be a non-negative number")
        }
        let known = VGG19Layers.names
        for layer in styleLayers ?? [] {
            try require(
                known.contains(layer), "loss.style-layers",
                "unknown layer '\(layer)'; layers are \(known.joined(separator: ", "))")
        }
        if let contentLayer {
            try require(
                known.contains(contentLayer), "loss.content-layer",
                "unknown layer '\(contentLayer)'; layers are \(known.joined(separator: ", "))")
        }
        try require(styleLayers.map { !$0.isEmpty } ?? true, "loss.style-layers", "must name at least one layer")
        if let weights = styleLayerWeights {
            let count = (styleLayers ?? LossConfig.recommended.styleLayers.map(\.name)).count
            try require(
                weights.count == count && weights.allSatisfy { $0 >= 0 && $0.isFinite }, "loss.style-layer-weights",
                "needs \(count) non-negative numbers, one per style layer")
        }
        try require(
            layerWeightExponent.map(\.isFinite) ?? true, "loss.layer-weight-exponent", "must be a finite number")
        try require(styleScale.map { $0 > 0 && $0.isFinite } ?? true, "loss.style-scale", "must be positive")
    }
}
