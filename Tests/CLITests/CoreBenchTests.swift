import CoreBench
import Foundation
import StyleCore
import Testing

/// The benchmark's library parts that need no weights: what a child prints is read back as values, PyTorch's lines
/// as timings and errors, and a plan without the network has its levels but no time.
@Suite struct CoreBenchTests {
    @Test func aChildsLastJSONLineIsItsResult() throws {
        let row = LossRace.Result(
            iterations: 7, secondsPerIteration: 0.5, total: 6, content: 1, style: 2, tv: 3, peakRSSMiB: 9,
            kernel: "Haswell")
        let encoded = String(decoding: try JSONEncoder().encode(row), as: UTF8.self)
        let decoded = try ChildProcess.decode(LossRace.Result.self, from: "rendering…\n{\"ignored\": 1}\n" + encoded)
        #expect(decoded.iterations == 7 && decoded.kernel == "Haswell" && decoded.row.hasSuffix("  Haswell"))
        #expect(throws: BenchError.self) { try ChildProcess.decode(PassTiming.self, from: "no json at all") }
    }

    @Test func torchLinesAreTimingsErrorsOrIgnored() {
        let output = """
            {"error": "torch not installed"}
            not json
            {"size": 256, "threads": 2, "forward_s": 0.1, "fwdbwd_s": 0.4, "peak_rss_mib": 512}
            """
        let (timings, errors) = TorchTiming.parse(output)
        #expect(errors == ["pytorch: torch not installed"])
        #expect(timings.count == 1 && timings[0].size == 256 && timings[0].forwardBackward == 0.4)
        #expect(timings[0].row(ours: [("as is", 0.2)]).hasSuffix("stylefarm/pytorch = 0.50x (as is)"))
    }

    @Test func torchsRaceLineIsWeightedLikeOurs() throws {
        let line =
            #"{"final": true, "iterations": 40, "loss": 10.0, "sec_per_iter": 0.25, "content": 2.0, "style": 3000.0, "tv": 5.0}"#
        let result = try #require(LossRace.torchResult("progress\n" + line))
        #expect(result.iterations == 40 && result.kernel == nil && result.row.hasPrefix("pytorch"))
        #expect(
            result.content == Double(LossRace.weights.content) * 2
                && abs(result.style - Double(LossRace.weights.style) * 3000) < 1e-9)
        #expect(LossRace.torchResult(#"{"iterations": 1, "loss": 1}"#) == nil, "only the final line counts")
    }

    @Test func aPlanWithoutTheNetworkHasLevelsButNoTime() {
        var poster = PosterSettings(width: 1200, height: 800)
        poster.coarseSize = 300
        let plan = RenderPlan(poster, network: nil)
        #expect(plan.levels.count == poster.levels.count && plan.levels[0].grids.isEmpty)
        #expect(
            plan.levels.dropFirst().map(\.tiles)
                == poster.levels.dropFirst().map { $0.passes.map(\.tiles.count).reduce(0, +) })
        #expect(plan.levels.last?.shiftedIterations == poster.passIterations(poster.levels[poster.levels.count - 1], 1))
        #expect(
            plan.peakBytes == nil && plan.seconds == nil && plan.work == poster.estimatedWork(startsFromImage: false))
        let tiles: [Int] = poster.levels.flatMap { level in
            level.passes.map { $0.largestRender.width * $0.largestRender.height }
        }
        #expect(plan.largest.width * plan.largest.height == max(tiles.max() ?? 0, 300 * 200))
    }

    /// An output no larger than the coarse size is what `render` runs it as: one optimisation of `--iterations`,
    /// in the plan and in the stages a farm leases (a print's and a video frame's), whatever the levels' schedule.
    @Test func anUntiledPrintIsPlannedAtTheRendersIterations() {
        var poster = PosterSettings(width: 96, height: 96)
        poster.options.iterations = 77
        #expect(poster.iterations[0] != 77)
        for frame in [false, true] {
            let stages = poster.stages(startsFromImage: frame)
            #expect(stages.count == 1 && stages[0].iterations == 77 && stages[0].plan.tiles.count == 1)
        }
        let plan = RenderPlan(poster, network: nil)
        #expect(plan.levels.count == 1 && plan.levels[0].iterations == 77)
        #expect(plan.work == 96 * 96 * (77 + PosterSettings.setupIterations) * (1 - plan.stoppingSaving))
    }

    /// The stopping rule's measured saving comes off the estimate at the default tolerance only.
    @Test func theStoppingRulesSavingAppliesAtItsDefaultOnly() {
        var poster = PosterSettings(width: 1200, height: 800)
        #expect(poster.options.relativeTolerance == RenderOptions.defaultTolerance)
        #expect(RenderPlan(poster, network: nil).stoppingSaving == StoppingRule.measuredSaving)
        for other in [0, RenderOptions.defaultTolerance * 2] {
            poster.options.relativeTolerance = other
            let plan = RenderPlan(poster, network: nil)
            #expect(plan.stoppingSaving == 0 && plan.work == poster.estimatedWork(startsFromImage: false))
        }
    }
}
