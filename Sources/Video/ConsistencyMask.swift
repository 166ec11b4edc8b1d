import Imaging

/// Where a warped previous frame can be trusted: the forward–backward consistency check of Ruder et al. (2016).
///
/// For a pixel x of the current frame, the backward flow b (current → previous) points to x + b(x) in the
/// previous frame, and the forward flow f (previous → current) should point back: f(x + b(x)) ≈ −b(x).
/// The pixel is kept (1) unless
/// - |b + f̃|² > 0.01·(|b|² + |f̃|²) + 0.5, with f̃ = f(x + b(x)): the flows disagree (disocclusion);
/// - |∇bu|² + |∇bv|² > 0.01·|b|² + 0.002: a motion boundary, where the warp smears;
/// - x + b(x) lies outside the previous frame.
public enum ConsistencyMask {
    /// A 1-channel mask (1 kept, 0 rejected) at the flows' size.
    public static func compute(backward b: FlowField, forward f: FlowField) -> PlanarImage {
        precondition(b.width == f.width && b.height == f.height, "flows must have the same size")
        let w = b.width, h = b.height
        let (bux, buy) = Plane.gradients(b.u, width: w, height: h)
        let (bvx, bvy) = Plane.gradients(b.v, width: w, height: h)
        var mask = [Float](repeating: 0, count: w * h)
        for y in 0 ..< h {
            for x in 0 ..< w {
                let i = y * w + x
                let px = Float(x) + b.u[i], py = Float(y) + b.v[i]
                guard px >= 0, py >= 0, px <= Float(w - 1), py <= Float(h - 1) else { continue }
                let fb = f.sample(x: px, y: py)
                let du = b.u[i] + fb.u, dv = b.v[i] + fb.v
                let bb = b.u[i] * b.u[i] + b.v[i] * b.v[i], ff = fb.u * fb.u + fb.v * fb.v
                guard du * du + dv * dv <= 0.01 * (bb + ff) + 0.5 else { continue }
                let g = bux[i] * bux[i] + buy[i] * buy[i] + bvx[i] * bvx[i] + bvy[i] * bvy[i]
                guard g <= 0.01 * bb + 0.002 else { continue }
                mask[i] = 1
            }
        }
        return PlanarImage(width: w, height: h, channels: 1, pixels: mask)
    }

    /// Fraction of pixels kept.
    public static func coverage(_ mask: PlanarImage) -> Double {
        Double(mask.pixels.reduce(0, +)) / Double(max(1, mask.pixels.count))
    }
}
