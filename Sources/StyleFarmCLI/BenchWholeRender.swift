import FarmProtocol
import Foundation

/// `stylefarm bench --poster A4`: a whole tiled render of a print size, its wall time against what `stylefarm plan`
/// predicts for the same settings (both run as a user runs them, as child processes).
extension BenchCommand {
    func wholeRender(print size: String, threads: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-poster-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let settings = ["--print", size, "--dpi", "\(posterDpi)", "--threads", "\(threads)"]
            + (posterLevelIterations.map { ["--level-iterations", $0] } ?? []) + (weights.map { ["--weights", $0] } ?? [])
        let plan = try childOutput(["plan", "--content", raceContent] + settings)
        let estimate = plan.split(separator: "\n").first { $0.hasPrefix("estimated time") }.map(String.init) ?? ""
        let predicted = estimate.range(of: #"\((\d+) s;"#, options: .regularExpression).flatMap {
            Double(estimate[$0].dropFirst().prefix { $0.isNumber })
        }
        print("\nwhole render: \(size) at \(Int(saturating: posterDpi)) DPI, \(threads) threads, content \(raceContent), style \(raceStyle)")
        for line in plan.split(separator: "\n") where line.hasPrefix("output") || line.hasPrefix("level") { print("  plan: \(line)") }
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try runProcess([CommandLine.arguments[0], "render", raceContent, raceStyle, "-o", dir.appendingPathComponent("poster.png").path]
                           + settings)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let written = FileManager.default.fileExists(atPath: dir.appendingPathComponent("poster.png").path)
        print(String(format: "  render: %.0f s wall (output %@), plan predicted %@ s: actual/predicted = %@", seconds,
                     written ? "written" : "MISSING", predicted.map { String(format: "%.0f", $0) } ?? "?",
                     predicted.map { String(format: "%.2f", seconds / $0) } ?? "?"))
    }
}
