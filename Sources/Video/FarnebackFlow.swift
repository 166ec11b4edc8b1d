import Foundation
import Imaging

/// Dense optical flow by Farnebäck's polynomial expansion (Farnebäck 2003, "Two-frame motion estimation based on
/// polynomial expansion"): the measuring flow of `WarpingError`, a different algorithm from the renderer's
/// Lucas–Kanade (`OpticalFlow`), so that a measure of temporal consistency does not reward the temporal loss for
/// matching the flow it was built on.
///
/// Each frame's luma is modelled around every pixel by a quadratic polynomial, fitted by weighted least squares
/// with a Gaussian applicability of radius `polyRadius` and deviation `polySigma`:
///
///     f(p) ≈ pᵀ A p + bᵀ p + c,   p = (x, y) relative to the pixel.
///
/// A frame moved by d has A₂ = A₁ and b₂ = b₁ − 2 A₁ d, so d follows from the coefficients. With a prior flow d̃
/// (coarse-to-fine, refined `iterations` times per level), at every pixel
///
///     A = (A₁(x) + A₂(x + d̃)) / 2,   Δb = −(b₂(x + d̃) − b₁(x)) / 2 + A d̃,
///
/// and d solves A d = Δb in the least-squares sense over a window (a box of `windowRadius`, applied twice):
/// d = d̃ + (Σ AᵀA + λI)⁻¹ Σ Aᵀ(Δb − A d̃), so that a flat window (no information) keeps the prior.
public struct FarnebackFlow: DenseFlow {
    /// Pyramid levels at most (fewer when the frame gets smaller than `minimumLevelSize`).
    public var levels = 5
    public var minimumLevelSize = 16
    /// Refinements per level.
    public var iterations = 3
    /// Radius and deviation of the polynomial fit's Gaussian applicability (Farnebäck's 7-pixel neighbourhood).
    public var polyRadius = 3
    public var polySigma: Double = 1.5
    /// Radius of each of the window's two box passes.
    public var windowRadius = 4
    /// Added to the window's normal matrix (luma in 0...1, so its entries are squared curvatures, about 1e-6).
    public var regularisation: Float = 1e-10

    public init() {}

    /// The flow from `reference` to `other` (same size): `reference(x) ≈ other(x + flow(x))`.
    public func flow(from reference: PlanarImage, to other: PlanarImage) -> FlowField {
        let (pyramid0, pyramid1) = Plane.pyramids(reference, other, levels: levels, minimumSize: minimumLevelSize)
        let expansion = PolynomialExpansion(radius: polyRadius, sigma: polySigma)
        var flow = FlowField(width: reference.width, height: reference.height)
        for level in (0 ..< pyramid0.count).reversed() {
            let (i0, w, h) = pyramid0[level]
            let first = level == pyramid0.count - 1
            var f = first ? FlowField(width: w, height: h) : flow.resized(width: w, height: h)
            let r0 = expansion.coefficients(i0, width: w, height: h)
            let r1 = expansion.coefficients(pyramid1[level].plane, width: w, height: h)
            for _ in 0 ..< iterations { refine(&f, r0, r1) }
            flow = f
        }
        return flow
    }

    /// One refinement of `flow` at a level, from both frames' coefficients.
    func refine(_ flow: inout FlowField, _ r0: PolynomialExpansion.Coefficients, _ r1: PolynomialExpansion.Coefficients)
    {
        let w = flow.width, h = flow.height, n = w * h
        var g11 = [Float](repeating: 0, count: n), g12 = g11, g22 = g11, h1 = g11, h2 = g11
        for y in 0 ..< h {
            for x in 0 ..< w {
                let i = y * w + x, u = flow.u[i], v = flow.v[i]
                let at = r1.sample(x: Float(x) + u, y: Float(y) + v)
                let a11 = (r0.xx[i] + at.xx) / 2, a22 = (r0.yy[i] + at.yy) / 2, a12 = (r0.xy[i] + at.xy) / 4
                // The residual of A d = Δb at the prior: Δb − A d̃ = −(b₂ − b₁) / 2.
                let e1 = -(at.x - r0.x[i]) / 2, e2 = -(at.y - r0.y[i]) / 2
                g11[i] = a11 * a11 + a12 * a12
                g12[i] = a12 * (a11 + a22)
                g22[i] = a12 * a12 + a22 * a22
                h1[i] = a11 * e1 + a12 * e2
                h2[i] = a12 * e1 + a22 * e2
            }
        }
        func window(_ p: [Float]) -> [Float] { Plane.window(p, width: w, height: h, radius: windowRadius) }
        let (a, b, c, p, q) = (window(g11), window(g12), window(g22), window(h1), window(h2))
        for i in 0 ..< n {
            let a11 = a[i] + regularisation, a22 = c[i] + regularisation, a12 = b[i]
            let det = a11 * a22 - a12 * a12
            guard det > 0, det.isFinite else { continue }
            let du = (a22 * p[i] - a12 * q[i]) / det, dv = (a11 * q[i] - a12 * p[i]) / det
            guard du.isFinite, dv.isFinite else { continue }
            flow.u[i] += du
            flow.v[i] += dv
        }
    }
}

/// The quadratic polynomial fitted around every pixel of a plane (Farnebäck's polynomial expansion with full
/// certainty): separable correlations with the Gaussian applicability g(k) and its moments k·g(k), k²·g(k), then
/// the 6x6 normal equations of the basis (1, x, y, x², y², xy), the same at every pixel, solved once.
public struct PolynomialExpansion: Sendable {
    /// Per pixel: b = (x, y) and A = [[xx, xy/2], [xy/2, yy]] (the coefficients of x, y, x², y², xy).
    public struct Coefficients: Sendable {
        public var width: Int, height: Int
        public var x: [Float], y: [Float], xx: [Float], yy: [Float], xy: [Float]

        /// The five coefficients at a fractional position (bilinear, edges clamped).
        func sample(x px: Float, y py: Float) -> (x: Float, y: Float, xx: Float, yy: Float, xy: Float) {
            func at(_ plane: [Float]) -> Float {
                plane.withUnsafeBufferPointer { Plane.sample($0, width: width, height: height, x: px, y: py) }
            }
            return (at(x), at(y), at(xx), at(yy), at(xy))
        }
    }

    let radius: Int
    /// g, k·g and k²·g for k in −radius...radius.
    let g: [Float], xg: [Float], xxg: [Float]
    /// The inverse of the normal matrix, rows for x, y, x², y², xy (the constant's row is not needed): 5 x 6.
    let inverse: [Float]

    /// The expansion with a Gaussian applicability of `radius` pixels each side and deviation `sigma`.
    public init(radius: Int, sigma: Double) {
        self.radius = radius
        let ks = (-radius ... radius).map(Double.init)
        let raw = ks.map { exp($0 * $0 / (-2 * sigma * sigma)) }
        let total = raw.reduce(0, +), gd = raw.map { $0 / total }
        g = gd.map(Float.init)
        xg = zip(ks, gd).map { Float($0 * $1) }
        xxg = zip(ks, gd).map { Float($0 * $0 * $1) }
        // G = Σ a(p) β(p) β(p)ᵀ over the neighbourhood, β = (1, x, y, x², y², xy), a(x, y) = g(x) g(y).
        var normal = [[Double]](repeating: [Double](repeating: 0, count: 6), count: 6)
        for (j, y) in ks.enumerated() {
            for (i, x) in ks.enumerated() {
                let basis = [1, x, y, x * x, y * y, x * y], weight = gd[i] * gd[j]
                for r in 0 ..< 6 { for c in 0 ..< 6 { normal[r][c] += weight * basis[r] * basis[c] } }
            }
        }
        inverse = Self.invert(normal).dropFirst().flatMap { $0.map(Float.init) }
    }

    /// Gauss–Jordan inverse with partial pivoting of a small positive definite matrix.
    static func invert(_ m: [[Double]]) -> [[Double]] {
        let n = m.count
        var a = m.enumerated().map { i, row in row + (0 ..< n).map { $0 == i ? 1.0 : 0.0 } }
        for col in 0 ..< n {
            let pivot = (col ..< n).max { abs(a[$0][col]) < abs(a[$1][col]) } ?? col
            a.swapAt(col, pivot)
            let d = a[col][col]
            a[col] = a[col].map { $0 / d }
            for r in 0 ..< n where r != col {
                let f = a[r][col]
                if f != 0 { a[r] = zip(a[r], a[col]).map { $0 - f * $1 } }
            }
        }
        return a.map { Array($0[n...]) }
    }

    /// The coefficients of every pixel of a (height, width) plane, edges clamped.
    public func coefficients(_ p: [Float], width w: Int, height h: Int) -> Coefficients {
        let n = w * h, taps = 2 * radius + 1
        // Along rows: R0 = Σ g·p, R1 = Σ k·g·p, R2 = Σ k²·g·p.
        var r0 = [Float](repeating: 0, count: n), r1 = r0, r2 = r0
        for y in 0 ..< h {
            for x in 0 ..< w {
                var s0: Float = 0, s1: Float = 0, s2: Float = 0
                for t in 0 ..< taps {
                    let v = p[y * w + min(max(x + t - radius, 0), w - 1)]
                    s0 += g[t] * v
                    s1 += xg[t] * v
                    s2 += xxg[t] * v
                }
                (r0[y * w + x], r1[y * w + x], r2[y * w + x]) = (s0, s1, s2)
            }
        }
        // Down columns: the six correlations with (1, x, y, x², y², xy)·a, then r = G⁻¹ c.
        var out = Coefficients(width: w, height: h, x: r0, y: r0, xx: r0, yy: r0, xy: r0)
        for y in 0 ..< h {
            for x in 0 ..< w {
                var c0: Float = 0, c1: Float = 0, c2: Float = 0, c3: Float = 0, c4: Float = 0, c5: Float = 0
                for t in 0 ..< taps {
                    let j = min(max(y + t - radius, 0), h - 1) * w + x
                    c0 += g[t] * r0[j]
                    c1 += g[t] * r1[j]
                    c2 += xg[t] * r0[j]
                    c3 += g[t] * r2[j]
                    c4 += xxg[t] * r0[j]
                    c5 += xg[t] * r1[j]
                }
                func solve(_ row: Int) -> Float {
                    let m = inverse[row * 6 ..< row * 6 + 6], b = m.startIndex
                    return m[b] * c0 + m[b + 1] * c1 + m[b + 2] * c2 + m[b + 3] * c3 + m[b + 4] * c4 + m[b + 5] * c5
                }
                let i = y * w + x
                (out.x[i], out.y[i], out.xx[i], out.yy[i], out.xy[i]) = (
                    solve(0), solve(1), solve(2), solve(3), solve(4)
                )
            }
        }
        return out
    }
}
