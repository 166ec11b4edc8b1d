import Foundation
import Imaging
import StyleCore
import Tiling

/// `stylefarm bench --poster A6`: a whole render of a print size, run as a user runs it (`stylefarm render` in a
/// child process), its wall time against the plan's prediction for the same settings (`RenderPlan`), and the quality
/// guard of Docs/performance.md: the seam score of the output on its last level's tile grid (`SeamMetric`) and its
/// content, style and total-variation losses evaluated on the untiled network (`LossEvaluation`).
public struct PosterBench: Sendable {
    /// What the render took, what the plan predicted, and how good the picture is.
    public struct Result: Sendable {
        public var seconds: Double
        public var predicted: Double?
        /// Pixel-iterations the plan counts (set-up included).
        public var work: Double
        /// The output's seam score on the last level's grid (nil: the render was untiled, or wrote nothing).
        public var seams: Double?
        /// The output's losses on the untiled network (nil: nothing written).
        public var loss: LossBreakdown?

        public var line: String {
            String(
                format: "  render: %.0f s wall (output %@), plan predicted %@ s: actual/predicted = %@", seconds,
                loss == nil ? "MISSING" : "written", predicted.map { String(format: "%.0f", $0) } ?? "?",
                predicted.map { String(format: "%.2f", seconds / $0) } ?? "?")
        }

        /// The quality guard's numbers.
        public var guardLine: String {
            guard let loss else { return "  guard: no output" }
            return String(
                format:
                    "  guard: %.4g pixel-iterations, seam score %@, losses total %.6g  content %.6g  style %.6g  tv %.6g",
                work, seams.map { String(format: "%.4f", $0) } ?? "- (untiled)", loss.total, loss.content, loss.style,
                loss.tv)
        }
    }

    /// `render`'s arguments besides the images and output: the print size, DPI, threads, level iterations, weights.
    public var settings: [String]
    public var content: String, style: String
    /// The render's settings as the plan reads them (the guard's seam grid and style size).
    public var poster: PosterSettings

    public init(settings: [String], content: String, style: String, poster: PosterSettings) {
        (self.settings, self.content, self.style, self.poster) = (settings, content, style, poster)
    }

    /// Renders with `executable` (this program) into a temporary directory, removed afterwards, then measures the
    /// output with `network`.
    public func run(executable: String, plan: RenderPlan, network: VGG19) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-poster-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("poster.png")
        let seconds = try Stopwatch.seconds {
            _ = try ChildProcess.output([executable, "render", content, style, "-o", output.path] + settings)
        }
        var result = Result(seconds: seconds, predicted: plan.seconds, work: plan.work)
        guard FileManager.default.fileExists(atPath: output.path) else { return result }
        let image = try ImageIO.read(output).image
        if let grid = poster.levels.last?.passes.first, grid.canvasWidth == image.width,
            grid.canvasHeight == image.height
        {
            result.seams = SeamMetric.score(image, plan: grid)
        }
        result.loss = LossEvaluation.evaluate(
            network: network, image: image, content: try ImageIO.read(URL(fileURLWithPath: content)).image,
            styles: [try ImageIO.read(URL(fileURLWithPath: style)).image], config: poster.options.loss,
            styleSize: styleLongSide)
        return result
    }

    /// The long side the render computes its style targets at: the guard evaluates at the same.
    var styleLongSide: Int? {
        if case let .longSide(side) = poster.styleNeed(style: 0).size { side } else { nil }
    }
}
