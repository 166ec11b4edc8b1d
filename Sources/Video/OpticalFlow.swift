import Imaging

/// Dense optical flow by coarse-to-fine Lucas–Kanade (Bouguet's pyramidal scheme, applied at every pixel).
///
/// Both frames are reduced to luma and built into Gaussian pyramids. From the coarsest level down, the flow
/// of the level above is doubled and upsampled, then refined `iterations` times: the other frame is warped by
/// the current flow, and at every pixel the 2×2 Lucas–Kanade system over a window (a box of `windowRadius`,
/// applied twice: close to a Gaussian) gives the update,
///
///     [Σ Ix²   Σ IxIy] [du]     [Σ Ix·It]
///     [Σ IxIy  Σ Iy² ] [dv] = − [Σ Iy·It],   It = other(x + flow) − reference(x),
///
/// with `regularisation` added to the diagonal so flat regions (no texture, no information) keep the flow
/// they inherited instead of dividing by zero. A 3×3 median removes outliers after each level.
public struct OpticalFlow: DenseFlow {
    /// Pyramid levels at most (fewer when the frame gets smaller than `minimumLevelSize`).
    public var levels = 5
    public var minimumLevelSize = 16
    /// Refinements per level.
    public var iterations = 5
    /// Radius of the Lucas–Kanade window (each of its two box passes).
    public var windowRadius = 3
    /// Added to the structure tensor's diagonal (luma in 0...1, gradients per pixel, window means).
    public var regularisation: Float = 1e-5
    /// Largest update of one refinement, pixels of the level (a safety net in textureless regions).
    public var maximumStep: Float = 2

    public init() {}

    /// The flow from `reference` to `other` (same size): `reference(x) ≈ other(x + flow(x))`.
    public func flow(from reference: PlanarImage, to other: PlanarImage) -> FlowField {
        let (pyramid0, pyramid1) = Plane.pyramids(reference, other, levels: levels, minimumSize: minimumLevelSize)
        var flow: FlowField?
        for level in (0 ..< pyramid0.count).reversed() {
            let (i0, w, h) = pyramid0[level], i1 = pyramid1[level].plane
            var f = flow?.resized(width: w, height: h) ?? FlowField(width: w, height: h)
            refine(&f, reference: i0, other: i1)
            f.u = Plane.median3x3(f.u, width: w, height: h)
            f.v = Plane.median3x3(f.v, width: w, height: h)
            flow = f
        }
        return flow!
    }

    /// Lucas–Kanade refinements of `flow` at one pyramid level.
    func refine(_ flow: inout FlowField, reference i0: [Float], other i1: [Float]) {
        let w = flow.width, h = flow.height, n = w * h
        let (gx0, gy0) = Plane.gradients(i0, width: w, height: h)
        let other = PlanarImage(width: w, height: h, channels: 1, pixels: i1)
        func window(_ p: [Float]) -> [Float] { Plane.window(p, width: w, height: h, radius: windowRadius) }
        for _ in 0 ..< iterations {
            let warped = flow.warp(other).pixels
            let (gx1, gy1) = Plane.gradients(warped, width: w, height: h)
            var xx = [Float](repeating: 0, count: n), xy = xx, yy = xx, xt = xx, yt = xx
            for i in 0 ..< n {
                // Gradients of both frames, averaged: symmetric, and robust to which one has the texture.
                let ix = 0.5 * (gx0[i] + gx1[i]), iy = 0.5 * (gy0[i] + gy1[i]), it = warped[i] - i0[i]
                xx[i] = ix * ix
                xy[i] = ix * iy
                yy[i] = iy * iy
                xt[i] = ix * it
                yt[i] = iy * it
            }
            let (a, b, c, p, q) = (window(xx), window(xy), window(yy), window(xt), window(yt))
            for i in 0 ..< n {
                let a11 = a[i] + regularisation, a22 = c[i] + regularisation, a12 = b[i]
                let det = a11 * a22 - a12 * a12
                guard det > 0 else { continue }
                let du = -(a22 * p[i] - a12 * q[i]) / det
                let dv = -(a11 * q[i] - a12 * p[i]) / det
                flow.u[i] += min(max(du, -maximumStep), maximumStep)
                flow.v[i] += min(max(dv, -maximumStep), maximumStep)
            }
        }
    }
}
