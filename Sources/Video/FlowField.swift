import Imaging

/// A dense displacement field between two frames of the same size.
///
/// Pixel `(x, y)` of the *reference* frame shows what pixel `(x + u, y + v)` of the *other* frame shows, so
/// `warp(other)` brings the other frame onto the reference one. `u` and `v` are (H, W), row-major, in pixels.
public struct FlowField: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Horizontal displacement, (H, W).
    public var u: [Float]
    /// Vertical displacement, (H, W).
    public var v: [Float]

    /// A zero field.
    public init(width: Int, height: Int) {
        self.init(
            width: width, height: height, u: [Float](repeating: 0, count: width * height),
            v: [Float](repeating: 0, count: width * height))
    }

    public init(width: Int, height: Int, u: [Float], v: [Float]) {
        precondition(u.count == width * height && v.count == width * height, "flow planes must be width × height")
        self.width = width
        self.height = height
        self.u = u
        self.v = v
    }

    /// The other frame resampled onto the reference frame: `out(c, y, x) = image(c, y + v, x + u)`, bilinear,
    /// edges clamped. `image` must have the field's size (any channel count).
    public func warp(_ image: PlanarImage) -> PlanarImage {
        precondition(
            image.width == width && image.height == height,
            "warp: image \(image.width)x\(image.height), flow \(width)x\(height)")
        var out = [Float](repeating: 0, count: image.pixels.count)
        let n = width * height
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0 ..< image.channels {
                    let plane = UnsafeBufferPointer(rebasing: src[c * n ..< (c + 1) * n])
                    for y in 0 ..< height {
                        for x in 0 ..< width {
                            let i = y * width + x
                            dst[c * n + i] = Plane.sample(
                                plane, width: width, height: height, x: Float(x) + u[i], y: Float(y) + v[i])
                        }
                    }
                }
            }
        }
        return PlanarImage(width: width, height: height, channels: image.channels, pixels: out)
    }

    /// The displacement at a fractional position (bilinear, edges clamped).
    public func sample(x: Float, y: Float) -> (u: Float, v: Float) {
        let su = u.withUnsafeBufferPointer { Plane.sample($0, width: width, height: height, x: x, y: y) }
        let sv = v.withUnsafeBufferPointer { Plane.sample($0, width: width, height: height, x: x, y: y) }
        return (su, sv)
    }

    /// The field resampled to another size, displacements scaled with it (coarse-to-fine refinement).
    public func resized(width w: Int, height h: Int) -> FlowField {
        let sx = Float(width) / Float(w), sy = Float(height) / Float(h)
        var out = FlowField(width: w, height: h)
        for y in 0 ..< h {
            for x in 0 ..< w {
                // Pixel centres: x_src = (x + 0.5)·sx − 0.5.
                let d = sample(x: (Float(x) + 0.5) * sx - 0.5, y: (Float(y) + 0.5) * sy - 0.5)
                out.u[y * w + x] = d.u / sx
                out.v[y * w + x] = d.v / sy
            }
        }
        return out
    }

    /// Mean displacement length in pixels.
    public var meanMagnitude: Double {
        zip(u, v).reduce(0.0) { $0 + Double(($1.0 * $1.0 + $1.1 * $1.1).squareRoot()) } / Double(max(1, u.count))
    }
}

/// Single-channel (H, W) float planes: sampling, filtering, gradients. Internal helpers of the flow code.
enum Plane {
    /// Bilinear sample at (x, y), clamping coordinates to the plane.
    @inline(__always)
    static func sample(_ p: UnsafeBufferPointer<Float>, width w: Int, height h: Int, x: Float, y: Float) -> Float {
        let cx = min(max(x, 0), Float(w - 1)), cy = min(max(y, 0), Float(h - 1))
        let x0 = Int(cx), y0 = Int(cy)
        let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
        let fx = cx - Float(x0), fy = cy - Float(y0)
        let top = p[y0 * w + x0] * (1 - fx) + p[y0 * w + x1] * fx
        let bottom = p[y1 * w + x0] * (1 - fx) + p[y1 * w + x1] * fx
        return top * (1 - fy) + bottom * fy
    }

    /// Luma (Rec. 601) of an RGB image, or the only channel of a gray one.
    static func luma(_ image: PlanarImage) -> [Float] {
        let n = image.width * image.height
        guard image.channels >= 3 else { return Array(image.pixels[0 ..< n]) }
        return (0 ..< n).map {
            0.299 * image.pixels[$0] + 0.587 * image.pixels[n + $0] + 0.114 * image.pixels[2 * n + $0]
        }
    }

    /// Box filter of radius r (mean over a (2r+1)² window, clipped at the edges), separable, O(1) per pixel.
    static func boxBlur(_ p: [Float], width w: Int, height h: Int, radius r: Int) -> [Float] {
        guard r > 0 else { return p }
        var tmp = [Float](repeating: 0, count: p.count), out = tmp
        for y in 0 ..< h {
            var sum: Float = 0
            let row = y * w
            for x in 0 ... min(r, w - 1) { sum += p[row + x] }
            for x in 0 ..< w {
                let lo = max(0, x - r), hi = min(w - 1, x + r)
                tmp[row + x] = sum / Float(hi - lo + 1)
                if x + r + 1 < w { sum += p[row + x + r + 1] }
                if x - r >= 0 { sum -= p[row + x - r] }
            }
        }
        for x in 0 ..< w {
            var sum: Float = 0
            for y in 0 ... min(r, h - 1) { sum += tmp[y * w + x] }
            for y in 0 ..< h {
                let lo = max(0, y - r), hi = min(h - 1, y + r)
                out[y * w + x] = sum / Float(hi - lo + 1)
                if y + r + 1 < h { sum += tmp[(y + r + 1) * w + x] }
                if y - r >= 0 { sum -= tmp[(y - r) * w + x] }
            }
        }
        return out
    }

    /// A window average close to a Gaussian: the box of `radius` applied twice (both flows' local systems).
    static func window(_ p: [Float], width w: Int, height h: Int, radius r: Int) -> [Float] {
        boxBlur(boxBlur(p, width: w, height: h, radius: r), width: w, height: h, radius: r)
    }

    /// Central-difference gradients (one-sided at the edges).
    static func gradients(_ p: [Float], width w: Int, height h: Int) -> (gx: [Float], gy: [Float]) {
        var gx = [Float](repeating: 0, count: p.count), gy = gx
        for y in 0 ..< h {
            for x in 0 ..< w {
                let l = max(0, x - 1), r = min(w - 1, x + 1), t = max(0, y - 1), b = min(h - 1, y + 1)
                gx[y * w + x] = r > l ? (p[y * w + r] - p[y * w + l]) / Float(r - l) : 0
                gy[y * w + x] = b > t ? (p[b * w + x] - p[t * w + x]) / Float(b - t) : 0
            }
        }
        return (gx, gy)
    }

    /// The luma pyramids of two frames of one size (a precondition: the video code fits every frame to the output
    /// size first), finest first: at most `levels`, halving while the short side stays at or above `minimumSize`.
    static func pyramids(_ a: PlanarImage, _ b: PlanarImage, levels: Int, minimumSize: Int) -> (
        [(plane: [Float], width: Int, height: Int)], [(plane: [Float], width: Int, height: Int)]
    ) {
        precondition(a.width == b.width && a.height == b.height, "frames must have the same size")
        var pa = [(plane: luma(a), width: a.width, height: a.height)]
        var pb = [(plane: luma(b), width: b.width, height: b.height)]
        while pa.count < levels, let x = pa.last, let y = pb.last, min(x.width, x.height) / 2 >= minimumSize {
            pa.append(downsample(x.plane, width: x.width, height: x.height))
            pb.append(downsample(y.plane, width: y.width, height: y.height))
        }
        return (pa, pb)
    }

    /// Half-size plane: a [1 4 6 4 1]/16 blur, then every second sample.
    static func downsample(_ p: [Float], width w: Int, height h: Int) -> (plane: [Float], width: Int, height: Int) {
        let k: [Float] = [1, 4, 6, 4, 1].map { $0 / 16 }
        var tmp = [Float](repeating: 0, count: p.count)
        for y in 0 ..< h {
            for x in 0 ..< w {
                var s: Float = 0
                for j in -2 ... 2 { s += k[j + 2] * p[y * w + min(max(x + j, 0), w - 1)] }
                tmp[y * w + x] = s
            }
        }
        let w2 = (w + 1) / 2, h2 = (h + 1) / 2
        var out = [Float](repeating: 0, count: w2 * h2)
        for y in 0 ..< h2 {
            for x in 0 ..< w2 {
                var s: Float = 0
                for j in -2 ... 2 { s += k[j + 2] * tmp[min(max(2 * y + j, 0), h - 1) * w + 2 * x] }
                out[y * w2 + x] = s
            }
        }
        return (out, w2, h2)
    }

    /// 3×3 median (edges clamped): removes isolated outliers of a flow component.
    static func median3x3(_ p: [Float], width w: Int, height h: Int) -> [Float] {
        var out = p
        var window = [Float](repeating: 0, count: 9)
        for y in 0 ..< h {
            for x in 0 ..< w {
                var k = 0
                for dy in -1 ... 1 {
                    for dx in -1 ... 1 {
                        window[k] = p[min(max(y + dy, 0), h - 1) * w + min(max(x + dx, 0), w - 1)]
                        k += 1
                    }
                }
                window.sort()
                out[y * w + x] = window[4]
            }
        }
        return out
    }
}
