/// When an optimisation stops before its iteration count: when its best loss fell by less than `relativeDecrease`
/// (a fraction of the loss `window` iterations ago) over the last `window` iterations. It reads the run's own losses
/// only, so a tile stops at the same iteration on any worker, at any thread count and whatever the farm's size: the
/// output stays byte-identical to `render --threads 1` (Docs/performance.md, "No wasted iterations").
///
/// The best loss, not the last: L-BFGS without a line search oscillates, and a restart after a divergence
/// (`StyleOptimization.divergenceFactor`) repeats losses; the best never rises, so one noisy step cannot stop a run
/// that is still improving, nor keep alive one that is not.
public struct StoppingRule: Sendable, Equatable {
    /// Iterations the decrease is measured over: long enough that a few iterations of little progress between
    /// L-BFGS's large steps do not decide, a fifth of a tiled level's 100 iterations. The measured
    /// curves (Docs/performance.md) are read over the same window.
    public static let window = 20

    /// The share of a default render's iterations the rule at `RenderOptions.defaultTolerance` saved on measured loss
    /// curves (every tile of `bench --poster 2x2in --poster-dpi 384`, Docs/performance.md, "No wasted iterations"):
    /// none, as every tile there was still improving at its last iteration. `RenderPlan` takes it off its estimate.
    public static let measuredSaving = 0.0

    /// The relative decrease below which a run stops (0: never stops early).
    public var relativeDecrease: Double
    /// The best loss after each of the last `window + 1` iterations, oldest first.
    var recent: [Double] = []

    public init(relativeDecrease: Double) {
        self.relativeDecrease = relativeDecrease
        recent.reserveCapacity(Self.window + 1)
    }

    /// Records the best loss after an iteration; true when the run should stop now.
    public mutating func stop(afterBest best: Double) -> Bool {
        guard relativeDecrease > 0 else { return false }
        if recent.count == Self.window + 1 { recent.removeFirst() }
        recent.append(best)
        guard recent.count == Self.window + 1, let old = recent.first, old.isFinite, best.isFinite, old > 0 else {
            return false
        }
        return (old - best) / old < relativeDecrease
    }

    /// Forgets the history: after a restart the optimizer's steps start small again.
    public mutating func restart() { recent.removeAll(keepingCapacity: true) }
}
