import StyleCore
import Testing

/// The stopping rule, iteration by iteration: what it decides for each best loss it is told.
@Suite struct StoppingRuleTests {
    /// The first iteration (1-based) at which `rule` says stop for `losses`, or nil.
    static func stopsAt(_ losses: [Double], _ rule: StoppingRule) -> Int? {
        var rule = rule
        return losses.indices.first { rule.stop(afterBest: losses[$0]) }.map { $0 + 1 }
    }

    @Test func offNeverStops() {
        #expect(Self.stopsAt(Array(repeating: 1.0, count: 200), StoppingRule(relativeDecrease: 0)) == nil)
    }

    @Test func aFlatRunStopsOnceItHasAWholeWindow() {
        let w = StoppingRule.window
        #expect(Self.stopsAt(Array(repeating: 5.0, count: 3 * w), StoppingRule(relativeDecrease: 1e-3)) == w + 1)
    }

    @Test func aRunStopsAtTheFirstWindowWhoseDecreaseIsBelowTheThreshold() {
        // 5% less per iteration for 40 iterations, then 0.01% per iteration: over a window the late decrease is
        // about 0.2%, under a 1% threshold, and the window first lies wholly in the slow part at 40 + window.
        let w = StoppingRule.window
        var losses: [Double] = [100]
        for i in 1 ..< 200 { losses.append(losses[i - 1] * (i <= 40 ? 0.95 : 0.9999)) }
        let at = Self.stopsAt(losses, StoppingRule(relativeDecrease: 0.01))
        let expected = losses.indices.first { i in
            i >= w && (losses[i - w] - losses[i]) / losses[i - w] < 0.01
        }.map { $0 + 1 }
        #expect(at == expected && at != nil)
        #expect(at.map { $0 > 40 && $0 <= 40 + w + 1 } == true, "stopped at \(String(describing: at))")
        #expect(Self.stopsAt(losses, StoppingRule(relativeDecrease: 1e-5)) == nil, "0.2% per window is above 1e-5")
    }

    @Test func aRestartForgetsTheWindow() {
        let w = StoppingRule.window
        var rule = StoppingRule(relativeDecrease: 1e-3)
        for _ in 0 ..< w {
            let stop = rule.stop(afterBest: 2)
            #expect(!stop)
        }
        rule.restart()
        for _ in 0 ..< w {
            let stop = rule.stop(afterBest: 2)
            #expect(!stop, "a fresh window after the restart")
        }
        let stop = rule.stop(afterBest: 2)
        #expect(stop)
    }

    @Test func noLossYetOrANonPositiveOneNeverStops() {
        let w = StoppingRule.window
        let rule = StoppingRule(relativeDecrease: 0.5)
        #expect(Self.stopsAt(Array(repeating: .infinity, count: 3 * w), rule) == nil)
        #expect(Self.stopsAt(Array(repeating: 0, count: 3 * w), rule) == nil)
        #expect(Self.stopsAt([.nan] + Array(repeating: 1, count: w), rule) == nil, "the oldest is not finite")
    }
}
