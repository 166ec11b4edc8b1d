import Foundation
import Imaging
import StyleCore

/// `stylefarm bench --loss-seconds S`: the loss a whole L-BFGS render reaches in S seconds of wall time, against
/// PyTorch's (Tests/Reference/render_torch.py) on the same content, style, weights and loss.
///
/// Both sides read the same 8-bit PNGs, written once at the race size (so neither resamples), use StyleCore's
/// loss definitions with content weight 1, style weight 1e-3 (0.2 per layer) and TV weight 1, start from the
/// content, and exclude setup (weights, targets) from the clock. Each side keeps its own optimizer settings:
/// ours is `--optimizer lbfgs` as `render` runs it (history 10); PyTorch's is torch.optim.LBFGS with history 100.
public enum LossRace {
    public static let weights = (content: Float(1), style: Float(1e-3), tv: Float(1))

    /// Where one side of the race reached.
    public struct Result: Codable, Sendable {
        public var iterations: Int, secondsPerIteration: Double
        public var total: Double, content: Double, style: Double, tv: Double
        public var peakRSSMiB: Double
        /// The OpenBLAS kernel (ours), or nil (PyTorch's).
        public var kernel: String?

        public init(
            iterations: Int, secondsPerIteration: Double, total: Double, content: Double, style: Double, tv: Double,
            peakRSSMiB: Double, kernel: String?
        ) {
            (self.iterations, self.secondsPerIteration, self.total) = (iterations, secondsPerIteration, total)
            (self.content, self.style, self.tv, self.peakRSSMiB, self.kernel) = (content, style, tv, peakRSSMiB, kernel)
        }

        public var row: String {
            String(
                format: "%@ %10d %7.3f %11.4g %11.4g %11.4g %11.4g %13.0f", kernel == nil ? "pytorch  " : "stylefarm",
                iterations,
                secondsPerIteration, total, content, style, tv, peakRSSMiB) + (kernel.map { "  " + $0 } ?? "")
        }
        public static let header =
            "impl       iterations  s/iter        loss     content       style          tv  peak_rss_MiB  openblas_core  setting"
    }

    /// Writes the race's content and style, `size` on a side (the style's long side), as 8-bit PNGs in `directory`.
    public static func prepare(content: URL, style: URL, size: Int, in directory: URL) throws {
        let c = try ImageIO.read(content).image, s = try ImageIO.read(style).image
        try ImageIO.write(
            Resampler.resize(c, width: size, height: size).clamped(),
            to: directory.appendingPathComponent("content.png"), bitDepth: 8)
        try ImageIO.write(
            Resampler.resize(s, longSide: size).clamped(), to: directory.appendingPathComponent("style.png"),
            bitDepth: 8)
    }

    /// Our side, in this process, on the threads `Compute.configure` set.
    public static func run(network: VGG19, directory: URL, seconds: Double) throws -> Result {
        let content = CaffeImage(try ImageIO.read(directory.appendingPathComponent("content.png")).image)
        let style = CaffeImage(try ImageIO.read(directory.appendingPathComponent("style.png")).image)
        var options = RenderOptions()
        options.iterations = 1 << 30
        (options.loss.contentWeight, options.loss.styleWeight, options.loss.tvWeight) = (
            weights.content, weights.style, weights.tv
        )
        let targets = GramTargets.compute(network: network, image: style, layers: options.loss.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: options.loss, content: content, targets: targets)
        var result = (image: content, loss: Double.nan, iterations: 0)
        let wall = Stopwatch.seconds {
            result = StyleOptimization.run(objective: objective, start: content, options: options, seconds: seconds)
        }
        let parts = result.image.pixels.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil) }
        return Result(
            iterations: result.iterations, secondsPerIteration: wall / Double(max(1, result.iterations)),
            total: parts.total,
            content: parts.content, style: parts.style, tv: parts.tv, peakRSSMiB: Stopwatch.peakRSSMiB(),
            kernel: BLAS.coreName)
    }

    /// PyTorch's side from render_torch.py's last line of output (its losses unweighted: weighted here), or nil.
    public static func torchResult(_ output: String) -> Result? {
        struct Line: Decodable {
            var final: Bool?, iterations: Int, loss: Double, sec_per_iter: Double?
            var content: Double?, style: Double?, tv: Double?, peak_rss_mib: Double?
        }
        guard let last = output.split(separator: "\n").last,
            let line = try? JSONDecoder().decode(Line.self, from: Data(last.utf8)), line.final != nil
        else { return nil }
        return Result(
            iterations: line.iterations, secondsPerIteration: line.sec_per_iter ?? .nan, total: line.loss,
            content: Double(weights.content) * (line.content ?? .nan),
            style: Double(weights.style) * (line.style ?? .nan),
            tv: Double(weights.tv) * (line.tv ?? .nan), peakRSSMiB: line.peak_rss_mib ?? .nan, kernel: nil)
    }
}
