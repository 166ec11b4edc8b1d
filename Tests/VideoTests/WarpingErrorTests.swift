import Foundation
import Imaging
import Testing
import Video

@Suite struct FarnebackFlowTests {
    /// The expansion of a quadratic is the quadratic itself, away from the edges (where clamping bends it).
    @Test func theExpansionOfAQuadraticIsExact() {
        let w = 24, h = 20
        // f = 0.2 + 0.01x − 0.02y + 0.003x² + 0.001y² − 0.002xy in absolute coordinates; around (x0, y0) its
        // local coefficients are b = (0.01 + 0.006x0 − 0.002y0, −0.02 + 0.002y0 − 0.002x0), A's unchanged.
        func f(_ x: Double, _ y: Double) -> Double {
            0.2 + 0.01 * x - 0.02 * y + 0.003 * x * x + 0.001 * y * y - 0.002 * x * y
        }
        let plane = (0 ..< w * h).map { Float(f(Double($0 % w), Double($0 / w))) }
        let r = PolynomialExpansion(radius: 3, sigma: 1.5).coefficients(plane, width: w, height: h)
        for y in 3 ..< h - 3 {
            for x in 3 ..< w - 3 {
                let i = y * w + x
                let bx = 0.01 + 0.006 * Double(x) - 0.002 * Double(y),
                    by = -0.02 + 0.002 * Double(y) - 0.002 * Double(x)
                #expect(abs(Double(r.x[i]) - bx) < 1e-4 && abs(Double(r.y[i]) - by) < 1e-4, "b at (\(x), \(y))")
                #expect(abs(r.xx[i] - 0.003) < 1e-5 && abs(r.yy[i] - 0.001) < 1e-5 && abs(r.xy[i] + 0.002) < 1e-5)
            }
        }
    }

    @Test(arguments: [(Float(0.6), Float(-0.3)), (2.4, -1.3), (7.5, 5.0), (-11.0, 3.25)])
    func recoversATranslation(shift: (Float, Float)) {
        _ = OpticalFlowTests.checkTranslation(seed: 11, shift: shift) { FarnebackFlow().flow(from: $0, to: $1) }
    }
}

@Suite struct WarpingErrorTests {
    /// A "stylisation" that is a fixed function of its input frame (channels swapped, contrast changed), and one
    /// that adds a different pattern to every frame (flicker).
    static func steady(_ image: PlanarImage) -> PlanarImage {
        let n = image.width * image.height
        let p = (0 ..< 3 * n).map { i in 0.2 + 0.6 * image.pixels[((i / n + 1) % 3) * n + i % n] }
        return PlanarImage(width: image.width, height: image.height, channels: 3, pixels: p)
    }

    static func flickering(_ image: PlanarImage, frame: Int) -> PlanarImage {
        var out = steady(image)
        let w = image.width
        for i in out.pixels.indices {
            let x = Float(i % w), y = Float((i / w) % image.height)
            out.pixels[i] += 0.05 * sin(0.7 * x + 1.3 * y + 2.1 * Float(frame))
        }
        return out
    }

    /// On a panning texture: a stylisation that follows its input scores near zero, a flickering one far above,
    /// and the identity of the flow (the inputs') is what makes the first small: the outputs alone move too.
    @Test func steadyOutputsScoreNearZeroAndFlickeringOnesDoNot() {
        let texture = Texture(seed: 5)
        let inputs = (0 ..< 3).map { texture.frame(width: 96, height: 72, dx: 1.5 * Float($0), dy: -0.5 * Float($0)) }
        var steadyErrors: [Double] = [], flickerErrors: [Double] = [], unwarped: [Double] = []
        for t in 1 ..< inputs.count {
            let steadyPair = WarpingError.pair(
                previousInput: inputs[t - 1], currentInput: inputs[t], previousOutput: Self.steady(inputs[t - 1]),
                currentOutput: Self.steady(inputs[t]))
            let flickerPair = WarpingError.pair(
                previousInput: inputs[t - 1], currentInput: inputs[t],
                previousOutput: Self.flickering(inputs[t - 1], frame: t - 1),
                currentOutput: Self.flickering(inputs[t], frame: t))
            // With a still "flow" (the same input twice) the moving outputs are compared unwarped.
            let still = WarpingError.pair(
                previousInput: inputs[t - 1], currentInput: inputs[t - 1], previousOutput: Self.steady(inputs[t - 1]),
                currentOutput: Self.steady(inputs[t]))
            #expect(steadyPair.coverage > 0.8 && flickerPair.coverage > 0.8)
            steadyErrors.append(steadyPair.error)
            flickerErrors.append(flickerPair.error)
            unwarped.append(still.error)
        }
        print("warping error: steady \(steadyErrors), flickering \(flickerErrors), unwarped \(unwarped)")
        for t in steadyErrors.indices {
            #expect(steadyErrors[t] < 2e-5)
            #expect(flickerErrors[t] > 50 * steadyErrors[t] && unwarped[t] > 50 * steadyErrors[t])
        }
    }

    /// The sequence measure reads files, fits the inputs to the outputs' size, and refuses what it cannot pair.
    @Test func aSequenceIsMeasuredPairByPairFromFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let texture = Texture(seed: 9)
        var inputs: [URL] = [], outputs: [URL] = []
        for t in 0 ..< 3 {
            // Inputs at twice the outputs' size: the measure resizes them.
            let input = texture.frame(width: 192, height: 144, dx: 2 * Float(t))
            let output = Self.steady(Resampler.resize(input, width: 96, height: 72))
            inputs.append(dir.appendingPathComponent("in_\(t).png"))
            outputs.append(dir.appendingPathComponent("out_\(t).png"))
            try ImageIO.write(input, to: inputs[t])
            try ImageIO.write(output, to: outputs[t])
        }
        var read: [Int] = []
        let pairs = try SequenceConsistency.measure(inputs: inputs, outputs: outputs) { read.append($0) }
        #expect(pairs.map(\.number) == [2, 3] && read == [1, 2, 3])
        for pair in pairs { #expect(pair.warping.error < 5e-5 && pair.flicker < 1.5 && pair.warping.coverage > 0.8) }
        #expect(throws: SequenceConsistency.MeasureError.self) {
            try SequenceConsistency.measure(inputs: Array(inputs.prefix(2)), outputs: outputs)
        }
        // A frame of another size: refused, not compared (decoded frames are always RGB).
        try ImageIO.write(PlanarImage(width: 50, height: 50, channels: 3, fill: 0.5), to: outputs[2])
        #expect(throws: SequenceConsistency.MeasureError.self) {
            try SequenceConsistency.measure(inputs: inputs, outputs: outputs)
        }
    }
}

@Suite struct LongTermConsistencyTests {
    /// Each pixel takes the nearest earlier frame whose mask keeps it; the mask is their union.
    @Test func eachPixelIsHeldByTheNearestFrameThatKeepsIt() throws {
        func image(_ value: Float) -> PlanarImage { PlanarImage(width: 4, height: 1, channels: 3, fill: value) }
        func mask(_ bits: [Float]) -> PlanarImage { PlanarImage(width: 4, height: 1, channels: 1, pixels: bits) }
        let composed = try #require(
            LongTermConsistency.compose([
                (image(0.1), mask([1, 0, 0, 0])), (image(0.2), mask([1, 1, 0, 0])), (image(0.4), mask([0, 1, 1, 0]))
            ]))
        #expect(composed.mask.pixels == [1, 1, 1, 0])
        for c in 0 ..< 3 { #expect((0 ..< 3).map { composed.image[c, 0, $0] } == [0.1, 0.2, 0.4]) }
        #expect(LongTermConsistency.compose([]) == nil)
        let one = try #require(LongTermConsistency.compose([(image(0.3), mask([0, 1, 0, 1]))]))
        #expect(one.image == image(0.3) && one.mask == mask([0, 1, 0, 1]))
    }
}

extension LongTermConsistencyTests {
    /// A region the previous frame's mask rejects (an occluder passed in front) is held by the frame two back,
    /// which showed it, through that frame's own flow and mask; with the previous frame alone it is free.
    @Test func aRegionHiddenInThePreviousFrameIsHeldByAnEarlierOne() throws {
        let texture = Texture(seed: 21)
        let w = 64, h = 48
        let frames = (0 ..< 3).map { texture.frame(width: w, height: h, dx: Float($0)) }
        let outputs = frames.map(WarpingErrorTests.steady)
        var hidden = PlanarImage(width: w, height: h, channels: 1, fill: 1)
        for y in 16 ..< 32 { for x in 24 ..< 40 { hidden.pixels[y * w + x] = 0 } }
        let occluded = PlanarImage(width: w, height: h, channels: 3, fill: 0.5)  // what the previous frame showed
        let history = [(content: frames[0], output: outputs[0]), (content: frames[1], output: occluded)]
        let previous = (warped: occluded, mask: hidden)
        let onlyPrevious = try #require(
            LongTermConsistency.target(content: frames[2], history: history, back: [1], previous: previous))
        #expect(onlyPrevious.mask == hidden)
        let longTerm = try #require(
            LongTermConsistency.target(content: frames[2], history: history, back: [1, 2, 4], previous: previous))
        // Inside the hidden square: held, to the frame two back warped onto this one (its output moved by 2 px).
        var inside = 0.0
        for y in 20 ..< 28 {
            for x in 28 ..< 36 {
                #expect(longTerm.mask[0, y, x] == 1)
                for c in 0 ..< 3 { inside += Double(abs(longTerm.image[c, y, x] - outputs[2][c, y, x])) }
            }
        }
        #expect(inside / Double(3 * 64) < 0.01, "mean difference \(inside / 192) from the current frame's own output")
        // Outside it, the previous frame's target is kept as it was.
        #expect(longTerm.image[0, 5, 5] == occluded[0, 5, 5] && longTerm.mask[0, 5, 5] == 1)
    }
}

@Suite struct MultiPassTests {
    @Test func passesAlternateForwardAndBackward() {
        #expect(MultiPass.order([3, 4, 5], pass: 1) == [3, 4, 5] && MultiPass.order([3, 4, 5], pass: 2) == [5, 4, 3])
        #expect(MultiPass.order([3, 4, 5], pass: 3) == [3, 4, 5])
    }

    /// δ·c·w + (1 − δ·c)·x: the neighbour's share where the mask keeps it, the frame's own result elsewhere.
    @Test func aLaterPassStartsFromTheBlendWhereTheFlowsAgree() {
        let own = PlanarImage(width: 2, height: 1, channels: 3, fill: 0.2)
        let warped = PlanarImage(width: 2, height: 1, channels: 3, fill: 0.6)
        let mask = PlanarImage(width: 2, height: 1, channels: 1, pixels: [1, 0])
        let start = MultiPass.start(own: own, warped: warped, mask: mask, blend: 0.25)
        for c in 0 ..< 3 {
            #expect(abs(start[c, 0, 0] - (0.25 * 0.6 + 0.75 * 0.2)) < 1e-6 && start[c, 0, 1] == 0.2)
        }
        #expect(MultiPass.start(own: own, warped: warped, mask: mask, blend: 0) == own)
    }
}
