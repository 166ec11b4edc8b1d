import Foundation

/// `stylefarm bench --poster A4`: a whole tiled render of a print size, run as a user runs it (`stylefarm render` in a
/// child process), its wall time against the plan's prediction for the same settings (`RenderPlan`).
public struct PosterBench: Sendable {
    /// What the render took, and what the plan predicted.
    public struct Result: Sendable {
        public var seconds: Double
        public var predicted: Double?
        public var written: Bool

        public var line: String {
            String(
                format: "  render: %.0f s wall (output %@), plan predicted %@ s: actual/predicted = %@", seconds,
                written ? "written" : "MISSING", predicted.map { String(format: "%.0f", $0) } ?? "?",
                predicted.map { String(format: "%.2f", seconds / $0) } ?? "?")
        }
    }

    /// `render`'s arguments besides the images and output: the print size, DPI, threads, level iterations, weights.
    public var settings: [String]
    public var content: String, style: String

    public init(settings: [String], content: String, style: String) {
        (self.settings, self.content, self.style) = (settings, content, style)
    }

    /// Renders with `executable` (this program) into a temporary directory, removed afterwards.
    public func run(executable: String, predicted: Double?) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-poster-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("poster.png")
        let seconds = try Stopwatch.seconds {
            _ = try ChildProcess.output([executable, "render", content, style, "-o", output.path] + settings)
        }
        return Result(
            seconds: seconds, predicted: predicted, written: FileManager.default.fileExists(atPath: output.path))
    }
}
