import Foundation
import Imaging
import Testing
import Video

/// A smooth texture (a sum of sinusoids) as a function, so frames can be sampled at any sub-pixel shift.
struct Texture {
    var waves: [(fx: Float, fy: Float, phase: Float, amplitude: Float)]
    init(seed: UInt64) {
        var state = seed
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        waves = (0 ..< 12).map { _ in
            let period = 12 + 30 * next(), angle = 2 * Float.pi * next()
            return (
                cos(angle) * 2 * .pi / period, sin(angle) * 2 * .pi / period, 2 * .pi * next(), 0.04 + 0.04 * next()
            )
        }
    }

    /// The texture moved by (dx, dy): frame(x, y) = f(x − dx, y − dy), RGB with a different mix per channel.
    func frame(width: Int, height: Int, dx: Float = 0, dy: Float = 0) -> PlanarImage {
        var p = [Float](repeating: 0, count: 3 * width * height)
        for y in 0 ..< height {
            for x in 0 ..< width {
                let px = Float(x) - dx, py = Float(y) - dy
                for c in 0 ..< 3 {
                    var v: Float = 0.5
                    for (k, w) in waves.enumerated() {
                        v += w.amplitude * (k % 3 == c ? 1.3 : 0.7) * sin(w.fx * px + w.fy * py + w.phase)
                    }
                    p[(c * height + y) * width + x] = v
                }
            }
        }
        return PlanarImage(width: width, height: height, channels: 3, pixels: p)
    }
}

@Suite struct OpticalFlowTests {
    /// Mean end-point error of the flow against a constant displacement, over the interior (a margin of
    /// `margin` pixels, where the shifted frame has no counterpart, left out).
    static func endPointError(_ f: FlowField, u: Float, v: Float, margin: Int) -> Double {
        var sum = 0.0, n = 0.0
        for y in margin ..< f.height - margin {
            for x in margin ..< f.width - margin {
                let i = y * f.width + x
                sum += Double(((f.u[i] - u) * (f.u[i] - u) + (f.v[i] - v) * (f.v[i] - v)).squareRoot())
                n += 1
            }
        }
        return sum / n
    }

    /// Frames `a` and `b` of a texture moved by `shift`, and the flow `estimate` finds from a to b, checked: within
    /// 0.1 px plus 2% of the displacement (large shifts go through the pyramid's coarse, aliased levels).
    static func checkTranslation(
        seed: UInt64, shift: (Float, Float), _ estimate: (PlanarImage, PlanarImage) -> FlowField
    ) -> (a: PlanarImage, b: PlanarImage, flow: FlowField) {
        let texture = Texture(seed: seed)
        let a = texture.frame(width: 160, height: 120),
            b = texture.frame(width: 160, height: 120, dx: shift.0, dy: shift.1)
        // a(x) = b(x + d): the flow from a to b is the shift itself.
        let f = estimate(a, b)
        let epe = endPointError(f, u: shift.0, v: shift.1, margin: 16)
        let magnitude = Double((shift.0 * shift.0 + shift.1 * shift.1).squareRoot())
        #expect(epe < 0.1 + 0.02 * magnitude, "mean end-point error \(epe) px for shift \(shift)")
        return (a, b, f)
    }

    @Test(arguments: [(Float(0.6), Float(-0.3)), (2.4, -1.3), (7.5, 5.0), (-11.0, 3.25)])
    func recoversATranslation(shift: (Float, Float)) {
        let (a, b, f) = Self.checkTranslation(seed: 7, shift: shift) { OpticalFlow().flow(from: $0, to: $1) }
        // Warping b back by the flow reproduces a in the interior.
        let warped = f.warp(b)
        var diff = 0.0
        for c in 0 ..< 3 {
            for y in 16 ..< 104 { for x in 16 ..< 144 { diff += Double(abs(warped[c, y, x] - a[c, y, x])) } }
        }
        #expect(diff / Double(3 * 88 * 128) < 0.005)
    }

    @Test func warpShiftsARampExactly() {
        let w = 20, h = 10
        let ramp = PlanarImage(
            width: w, height: h, channels: 1, pixels: (0 ..< w * h).map { Float($0 % w) + 100 * Float($0 / w) })
        let flow = FlowField(
            width: w, height: h, u: Array(repeating: 2.5, count: w * h), v: Array(repeating: 1, count: w * h))
        let out = flow.warp(ramp)
        for y in 0 ..< h - 1 {
            for x in 0 ..< w - 3 { #expect(abs(out[0, y, x] - (Float(x) + 2.5 + 100 * Float(y + 1))) < 1e-3) }
        }
        // Past the edge, samples clamp to it.
        #expect(out[0, 0, w - 1] == ramp[0, 1, w - 1])
    }

    @Test func resizingScalesDisplacements() {
        let f = FlowField(
            width: 40, height: 20, u: Array(repeating: 3, count: 800), v: Array(repeating: -2, count: 800))
        let g = f.resized(width: 80, height: 40)
        #expect(g.u.allSatisfy { abs($0 - 6) < 1e-5 } && g.v.allSatisfy { abs($0 + 4) < 1e-5 })
    }

    /// Both flows: the renderer's Lucas–Kanade and the measuring Farnebäck.
    @Test func identicalFramesHaveZeroFlowEvenWithoutTexture() {
        let flows: [(PlanarImage, PlanarImage) -> FlowField] = [
            { OpticalFlow().flow(from: $0, to: $1) }, { FarnebackFlow().flow(from: $0, to: $1) }
        ]
        for estimate in flows {
            let flat = PlanarImage(width: 64, height: 48, channels: 3, fill: 0.5)
            let f = estimate(flat, flat)
            #expect(f.u.allSatisfy { $0 == 0 } && f.v.allSatisfy { $0 == 0 })
            let textured = Texture(seed: 3).frame(width: 64, height: 48)
            #expect(estimate(textured, textured).meanMagnitude < 1e-4)
        }
    }

    /// On the real clip, warping the previous frame by the estimated flow explains the current frame better
    /// than the previous frame as it is, where the consistency mask keeps pixels.
    @Test func flowExplainsRealMotion() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Assets/video/bbb_burrow")
        let frames = try FrameSequence(dir.path).files
        let a = try ImageIO.read(frames[0]).image, b = try ImageIO.read(frames[5]).image
        let motion = FrameMotion.estimate(previous: a, current: b)
        let everywhere = PlanarImage(width: b.width, height: b.height, channels: 1, fill: 1)
        let unwarped = Flicker.temporalError(current: b, warpedPrevious: a, mask: motion.mask)
        let warped = Flicker.temporalError(current: b, warpedPrevious: motion.warpPrevious(a), mask: motion.mask)
        let unwarpedAll = Flicker.temporalError(current: b, warpedPrevious: a, mask: everywhere)
        let warpedAll = Flicker.temporalError(current: b, warpedPrevious: motion.warpPrevious(a), mask: everywhere)
        print(
            "flow on frames 1→6: masked \(unwarped) → \(warped), all \(unwarpedAll) → \(warpedAll), coverage \(ConsistencyMask.coverage(motion.mask))"
        )
        #expect(warped < 0.7 * unwarped, "warped \(warped) against unwarped \(unwarped)")
        #expect(warpedAll < 0.7 * unwarpedAll, "warped \(warpedAll) against unwarped \(unwarpedAll), all pixels")
        #expect(ConsistencyMask.coverage(motion.mask) > 0.6)
        #expect(warpedAll > warped, "the mask should drop the worst pixels")
    }
}

@Suite struct ConsistencyMaskTests {
    @Test func translationIsConsistentExceptWhereItLeavesTheFrame() {
        let w = 30, h = 20, n = w * h
        let backward = FlowField(
            width: w, height: h, u: Array(repeating: -3, count: n), v: Array(repeating: 0, count: n))
        let forward = FlowField(width: w, height: h, u: Array(repeating: 3, count: n), v: Array(repeating: 0, count: n))
        let mask = ConsistencyMask.compute(backward: backward, forward: forward)
        for y in 0 ..< h { for x in 0 ..< w { #expect(mask[0, y, x] == (x >= 3 ? 1 : 0), "(\(x), \(y))") } }
    }

    @Test func disagreeingFlowsAndMotionBoundariesAreMasked() {
        let w = 40, h = 20, n = w * h
        var backward = FlowField(
            width: w, height: h, u: Array(repeating: -2, count: n), v: Array(repeating: 0, count: n))
        var forward = FlowField(width: w, height: h, u: Array(repeating: 2, count: n), v: Array(repeating: 0, count: n))
        // An occluded patch: the forward flow there does not come back.
        for y in 5 ..< 10 { for x in 20 ..< 26 { forward.u[y * w + x] = 6 } }
        // A motion boundary: the backward flow jumps at column 10 on the last rows.
        for y in 15 ..< 20 { for x in 10 ..< w { backward.u[y * w + x] = 4; forward.u[y * w + x] = -4 } }
        let mask = ConsistencyMask.compute(backward: backward, forward: forward)
        #expect(mask[0, 7, 24] == 0, "disocclusion kept")
        #expect(mask[0, 17, 10] == 0 && mask[0, 17, 9] == 0, "motion boundary kept")
        #expect(mask[0, 2, 30] == 1 && mask[0, 17, 20] == 1, "consistent pixels dropped")
    }
}

@Suite struct FlickerTests {
    @Test func measuresMaskedMeanAbsoluteDifferenceInLevels() {
        let a = PlanarImage(width: 4, height: 2, channels: 3, fill: 0.5)
        var b = a
        for c in 0 ..< 3 { for x in 0 ..< 4 { b[c, 0, x] = 0.5 + 10 / 255 } }  // row 0 differs by 10 levels
        for c in 0 ..< 3 { b[c, 1, 3] = 1 }  // an outlier in row 1, masked out below
        var mask = PlanarImage(width: 4, height: 2, channels: 1, fill: 1)
        mask[0, 1, 3] = 0
        #expect(abs(Flicker.temporalError(current: b, warpedPrevious: a, mask: mask) - 10 * 4 / 7) < 1e-3)
        #expect(Flicker.temporalError(current: a, warpedPrevious: a, mask: mask) == 0)
        #expect(
            Flicker.temporalError(
                current: b, warpedPrevious: a, mask: PlanarImage(width: 4, height: 2, channels: 1, fill: 0)) == 0)
    }
}
