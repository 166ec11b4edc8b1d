import ArgumentParser
import CoreBench
import Foundation
import Imaging
import JobModel
import StyleCore
import VGGWeights

/// `bench --loss-seconds` (`LossRace`) and `bench --poster` (`PosterBench`): parsing and printing.
extension BenchCommand {
    func race(settings: [(label: String, unset: [String])], threads: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-race-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try LossRace.prepare(
            content: URL(fileURLWithPath: raceContent), style: URL(fileURLWithPath: raceStyle), size: raceSize, in: dir)
        print(
            String(
                format: "\nloss after %.0f s of wall time, %dx%d, %d threads (content %@, style %@):", lossSeconds,
                raceSize, raceSize,
                threads, raceContent, raceStyle))
        print(LossRace.Result.header)
        for setting in settings {
            let output = try ChildProcess.output(
                [
                    CommandLine.arguments[0], "bench", "--race-one-dir", dir.path, "--loss-seconds", "\(lossSeconds)",
                    "--threads", "\(threads)"
                ] + weightsArguments, unset: setting.unset)
            print(try ChildProcess.decode(LossRace.Result.self, from: output).row + "  " + setting.label)
        }
        let script = URL(fileURLWithPath: torchScript).deletingLastPathComponent().appendingPathComponent(
            "render_torch.py"
        ).path
        guard !torchScript.isEmpty, FileManager.default.fileExists(atPath: script) else { return }
        let w = LossRace.weights
        let output =
            (try? ChildProcess.output([
                "python3", script, "--content", dir.appendingPathComponent("content.png").path,
                "--style", dir.appendingPathComponent("style.png").path, "--size", "\(raceSize)",
                "--style-size", "\(raceSize)", "--seconds", "\(lossSeconds)", "--threads", "\(threads)",
                "--weights", Self.wheel, "--content-weight", "\(w.content)", "--style-weight", "\(w.style)",
                "--tv-weight", "\(w.tv)", "--rss"
            ])) ?? ""
        print(
            LossRace.torchResult(output)?.row
                ?? "pytorch: no result (needs python3 with torch and pillow; see Tests/Reference/render_torch.py)")
    }

    /// One side of the race, in this process (a child of `race`): prints its result as JSON.
    func raceOne(_ dir: String) throws {
        Compute.configure(threads: threadList.last ?? 2)
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve(explicit: weights)))
        try ChildProcess.emit(
            try LossRace.run(network: network, directory: URL(fileURLWithPath: dir), seconds: lossSeconds))
    }

    func wholeRender(print size: String, threads: Int) throws {
        // The plan reads the same render settings the child `render` is given, through the same options.
        let renderArguments =
            ["--print", size, "--dpi", "\(posterDpi)"]
            + (posterLevelIterations.map { ["--level-iterations", $0] } ?? [])
        let description = try JobOptions.parse(renderArguments).description(styles: [])
        let content = try ImageIO.read(URL(fileURLWithPath: raceContent)).image
        let poster: PosterSettings
        do {
            poster = try description.settings(contentWidth: content.width, contentHeight: content.height).poster
        } catch let p as JobProblem {
            throw JobOptions.explain(p)
        }
        Compute.configure(threads: threads)
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve(explicit: weights)))
        let plan = RenderPlan(poster, network: network)
        print(
            "\nwhole render: \(size) at \(Int(saturating: posterDpi)) DPI, \(threads) threads, content \(raceContent), style \(raceStyle)"
        )
        print(
            "  plan: output \(plan.width)x\(plan.height), \(plan.levels.count) levels, \(plan.levels.map(\.tiles).reduce(0, +)) tiles"
        )
        let settings = renderArguments + ["--threads", "\(threads)"] + weightsArguments
        let result = try PosterBench(settings: settings, content: raceContent, style: raceStyle, poster: poster)
            .run(executable: CommandLine.arguments[0], plan: plan, network: network)
        print(result.line)
        print(result.guardLine)
    }
}
