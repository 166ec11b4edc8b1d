import FarmProtocol
import Foundation
import RenderSettings
import TOMLKit

/// A farm job written back as a job file (the dashboard's "download job file"): every setting explicit, the images
/// named by the caller (the farm keeps their bytes, not their paths). `stylefarm submit FILE.toml` with those images
/// beside it renders the same job.
extension JobDescription {
    /// - regionMask, styleMasks: the names of the perceptual-control images the job carries (`JobSpec.inputNames`).
    public init(
        spec: JobSpec, content: String, styles: [String], output: String, regionMask: String? = nil,
        styleMasks: [String?] = []
    ) {
        self.init()
        let p = spec.poster, o = p.options
        (name, priority, self.content, self.output, preserveColors) = (
            spec.name, spec.priority, content, output, spec.preserveColors
        )
        style = zip(styles, spec.styleWeights).enumerated().map { i, s in
            let options = p.control?.styles.indices.contains(i) == true ? p.control?.styles[i] : nil
            return Style(
                image: s.0, weight: s.1, scale: options?.scale, layers: options?.layers,
                mask: i < styleMasks.count ? styleMasks[i] : nil)
        }
        if let control = p.control {
            colorMatch = control.colorMatch ? true : nil
            if !control.regions.isEmpty {
                (self.regionMask, regionFeather) = (regionMask, control.feather)
                region = control.regions.map { r in
                    Region(
                        color: String(format: "#%02x%02x%02x", r.rgb[0], r.rgb[1], r.rgb[2]),
                        styles: r.styles.map { $0 + 1 },
                        blend: r.blend, weight: r.weight)
                }
            }
        }
        var size = Size()
        // Both sides crop to the output's aspect; one side keeps the content's (the other is derived as it was).
        (size.width, size.height) = (p.width, spec.crop ? p.height : nil)
        (size.dpi, size.bitDepth) = (spec.dpi, spec.bitDepth)
        self.size = size
        var tiling = Tiling()
        (tiling.coarseSize, tiling.tile, tiling.overlap, tiling.margin) = (
            p.coarseSize, p.tileSize, p.overlap, p.margin
        )
        (tiling.shift, tiling.shiftedFraction, tiling.localTargets, tiling.styleSize) = (
            p.shiftedPass, p.shiftedPassFraction, p.localTargets, p.styleSize
        )
        self.tiling = tiling
        var levels = Levels()
        levels.iterations = p.iterations
        self.levels = levels
        var optimizer = Optimizer()
        (optimizer.iterations, optimizer.tolerance) = (o.iterations, o.relativeTolerance)
        switch o.optimizer {
        case let .lbfgs(history, lr): (optimizer.kind, optimizer.lbfgsHistory, optimizer.lr) = (.lbfgs, history, lr)
        case let .adam(lr, beta1, beta2):
            (optimizer.kind, optimizer.lr, optimizer.beta1, optimizer.beta2) = (.adam, lr, beta1, beta2)
        }
        self.optimizer = optimizer
        var loss = Loss()
        (loss.contentWeight, loss.styleWeight, loss.tvWeight, loss.contentLayer) = (
            o.loss.contentWeight, o.loss.styleWeight, o.loss.tvWeight, o.loss.contentLayer
        )
        (loss.styleLayers, loss.styleLayerWeights) = (o.loss.styleLayers.map(\.name), o.loss.styleLayers.map(\.weight))
        (loss.layerWeightExponent, loss.pooling, loss.styleScale) = (o.loss.styleLayerExponent, p.pooling, p.styleScale)
        self.loss = loss
    }

    /// The description as a TOML job file, keys in kebab case (what `JobDescription.decode(toml:)` reads).
    public func tomlText() throws -> String {
        func kebab(_ table: TOMLTable) -> TOMLTable {
            let out = TOMLTable()
            for (key, value) in table {
                if let sub = value.table {
                    out[kebabCase(key)] = kebab(sub)
                } else if let items = value.array, items.contains(where: { $0.table != nil }) {
                    out[kebabCase(key)] = TOMLArray(items.compactMap { $0.table.map(kebab) })
                } else {
                    out[kebabCase(key)] = value
                }
            }
            return out
        }
        let table: TOMLTable = try TOMLEncoder().encode(self)
        return kebab(table).convert(to: .toml)
    }
}
