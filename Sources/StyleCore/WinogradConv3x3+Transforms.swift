// The transforms of `WinogradConv3x3` (Bᵀ d B for the input, Aᵀ m A for the output), each beside its adjoint.

extension WinogradConv3x3 {
    // MARK: - Transforms (each with its adjoint)
    //
    // Each works on one channel at a time (channels in parallel) and on 8 consecutive tiles at once, one tile
    // per SIMD lane: V and M are (channels, 36, P), so a position's 8 tiles are 8 consecutive floats and load
    // or store as one vector, and a channel's 36 positions lie in one block of 36·P floats (each position's sgemm
    // matrix has row stride 36·P). Within a tile row the 8 tiles' pixels are 32 consecutive columns, read and
    // written as vectors (through a staging row at the image's edges); only groups across two tile rows go lane
    // by lane with bounds checks.

    typealias Lanes = SIMD8<Float>
    static let lanes = 8

    /// Where tile `index` starts (its 4x4 output block's top-left pixel).
    @inline(__always)
    static func origin(_ index: Int, across: Int) -> (y: Int, x: Int) { ((index / across) * 4, (index % across) * 4) }

    /// Whether tiles `first ..< first + 8` lie in one tile row and their `extent`-pixel patches, starting `pad`
    /// pixels before each tile's block, stay inside the image.
    @inline(__always)
    static func interior(_ first: Int, across: Int, h: Int, w: Int, pad: Int, extent: Int) -> Bool {
        let (y0, x0) = origin(first, across: across)
        return first % across + lanes <= across && y0 - pad >= 0 && x0 - pad >= 0 && y0 - pad + extent <= h
            && x0 - pad + 4 * (lanes - 1) + extent <= w
    }

    /// Floats of staging a transform needs beside its vectors: `patch` rows of `stagingRow` floats.
    static let stagingRow = 40, stagingFloats = 6 * 40

    /// The `size`×`size` patches of `lanes` consecutive tiles, each starting `pad` pixels before its tile's block,
    /// into `x` (size², one tile per lane); pixels outside the plane and missing lanes are zero. Tiles of one tile
    /// row read 32 (or 34) pixels per row as vectors: straight from the image inside it, through `staging`
    /// (`stagingFloats`, zero-padded) at its edges. Tiles across two tile rows go lane by lane.
    @inline(__always)
    static func gatherPatches(
        _ x: UnsafeMutablePointer<Lanes>, from plane: UnsafePointer<Float>, size: Int, pad: Int, firstTile: Int,
        lanes n: Int, across: Int, height h: Int, width w: Int, staging: UnsafeMutablePointer<Float>
    ) {
        let (y0, x0) = origin(firstTile, across: across)
        if n == lanes, interior(firstTile, across: across, h: h, w: w, pad: pad, extent: size) {
            for r in 0 ..< size {
                pickLanes(UnsafeRawPointer(plane + (y0 - pad + r) * w + x0 - pad), into: x + r * size, size: size)
            }
            return
        }
        if firstTile % across + n <= across {
            let xs = x0 - pad, span = 4 * (n - 1) + size
            let lo = max(0, xs), hi = min(w, xs + span)
            for r in 0 ..< size {
                let row = staging + r * stagingRow, y = y0 - pad + r
                row.update(repeating: 0, count: stagingRow)
                if y >= 0, y < h, lo < hi { (row + lo - xs).update(from: plane + y * w + lo, count: hi - lo) }
                pickLanes(UnsafeRawPointer(row), into: x + r * size, size: size)
            }
            return
        }
        for i in 0 ..< size * size { x[i] = .zero }
        for lane in 0 ..< n {
            let (ty, tx) = origin(firstTile + lane, across: across)
            for r in 0 ..< size where ty - pad + r >= 0 && ty - pad + r < h {
                for q in 0 ..< size where tx - pad + q >= 0 && tx - pad + q < w {
                    x[r * size + q][lane] = plane[(ty - pad + r) * w + tx - pad + q]
                }
            }
        }
    }

    /// One patch row of 8 tiles: `row` holds 32 (size 4) or 34 (size 6) pixels, tile i's starting at 4i; loaded as
    /// four vectors (and a pair), each position's stride-4 lanes are picked from them in registers.
    @inline(__always)
    static func pickLanes(_ row: UnsafeRawPointer, into line: UnsafeMutablePointer<Lanes>, size: Int) {
        let c0 = row.loadUnaligned(as: Lanes.self), c1 = row.loadUnaligned(fromByteOffset: 32, as: Lanes.self)
        let c2 = row.loadUnaligned(fromByteOffset: 64, as: Lanes.self),
            c3 = row.loadUnaligned(fromByteOffset: 96, as: Lanes.self)
        line[0] = Lanes(c0[0], c0[4], c1[0], c1[4], c2[0], c2[4], c3[0], c3[4])
        line[1] = Lanes(c0[1], c0[5], c1[1], c1[5], c2[1], c2[5], c3[1], c3[5])
        line[2] = Lanes(c0[2], c0[6], c1[2], c1[6], c2[2], c2[6], c3[2], c3[6])
        line[3] = Lanes(c0[3], c0[7], c1[3], c1[7], c2[3], c2[7], c3[3], c3[7])
        if size == 6 {
            let c4 = row.loadUnaligned(fromByteOffset: 128, as: SIMD2<Float>.self)
            line[4] = Lanes(c0[4], c1[0], c1[4], c2[0], c2[4], c3[0], c3[4], c4[0])
            line[5] = Lanes(c0[5], c1[1], c1[5], c2[1], c2[5], c3[1], c3[5], c4[1])
        }
    }

    /// The inverse of `pickLanes` for output rows: 4 positions' lanes (8 tiles) interleaved into 32 pixels.
    @inline(__always)
    static func interleave(_ q0: Lanes, _ q1: Lanes, _ q2: Lanes, _ q3: Lanes, to row: UnsafeMutableRawPointer) {
        row.storeBytes(of: Lanes(q0[0], q1[0], q2[0], q3[0], q0[1], q1[1], q2[1], q3[1]), as: Lanes.self)
        row.storeBytes(
            of: Lanes(q0[2], q1[2], q2[2], q3[2], q0[3], q1[3], q2[3], q3[3]), toByteOffset: 32, as: Lanes.self)
        row.storeBytes(
            of: Lanes(q0[4], q1[4], q2[4], q3[4], q0[5], q1[5], q2[5], q3[5]), toByteOffset: 64, as: Lanes.self)
        row.storeBytes(
            of: Lanes(q0[6], q1[6], q2[6], q3[6], q0[7], q1[7], q2[7], q3[7]), toByteOffset: 96, as: Lanes.self)
    }

    /// The 36 positions of `lanes` consecutive tiles from a (channels, 36, P) buffer (`base` at the channel's
    /// first tile of the group, positions `stride` apart); missing lanes are zero.
    @inline(__always)
    static func loadPositions(
        _ x: UnsafeMutablePointer<Lanes>, from base: UnsafePointer<Float>, stride: Int, lanes n: Int
    ) {
        for xi in 0 ..< 36 {
            if n == lanes {
                x[xi] = UnsafeRawPointer(base + xi * stride).loadUnaligned(as: Lanes.self)
            } else {
                x[xi] = .zero
                for lane in 0 ..< n { x[xi][lane] = base[xi * stride + lane] }
            }
        }
    }

    /// The inverse of `loadPositions`: writes the first `lanes` lanes of the 36 positions.
    @inline(__always)
    static func storePositions(
        _ x: UnsafeMutablePointer<Lanes>, to base: UnsafeMutablePointer<Float>, stride: Int, lanes n: Int
    ) {
        for xi in 0 ..< 36 {
            if n == lanes {
                UnsafeMutableRawPointer(base + xi * stride).storeBytes(of: x[xi], as: Lanes.self)
            } else {
                for lane in 0 ..< n { base[xi * stride + lane] = x[xi][lane] }
            }
        }
    }

    /// v (C, 36, P): Bᵀ d B for each channel and tile; d is the 6x6 patch at (4ty − 1, 4tx − 1), zero outside.
    static func inputTransform(
        v: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, channels c: Int, height h: Int,
        width w: Int, firstTile p0: Int, tiles p: Int, across: Int
    ) {
        let stride = p
        Parallel.forEach(c) { range in
            let d = UnsafeMutablePointer<Lanes>.allocate(capacity: 72), t = d + 36
            let staging = UnsafeMutablePointer<Float>.allocate(capacity: stagingFloats)
            defer { d.deallocate(); staging.deallocate() }
            for ch in range {
                let plane = input + ch * h * w
                for j0 in Swift.stride(from: 0, to: p, by: lanes) {
                    let n = min(lanes, p - j0)
                    gatherPatches(
                        d, from: plane, size: 6, pad: 1, firstTile: p0 + j0, lanes: n, across: across, height: h,
                        width: w,
                        staging: staging)
                    for q in 0 ..< 6 { bt(d + q, 6, t + q, 6) }  // t = Bᵀ d
                    for r in 0 ..< 6 { bt(t + r * 6, 1, d + r * 6, 1) }  // d = (Bᵀ d) B
                    storePositions(d, to: v + ch * positions * p + j0, stride: stride, lanes: n)
                }
            }
        }
    }

    /// Adjoint of `inputTransform`: B v Bᵀ per tile, scattered (added) into dInput; patches overlap by 2.
    static func inputTransformAdjoint(
        dInput: UnsafeMutablePointer<Float>, v: UnsafePointer<Float>, channels c: Int,
        height h: Int, width w: Int, firstTile p0: Int, tiles p: Int, across: Int
    ) {
        let stride = p
        Parallel.forEach(c) { range in
            let d = UnsafeMutablePointer<Lanes>.allocate(capacity: 72), t = d + 36
            let staging = UnsafeMutablePointer<Float>.allocate(capacity: stagingFloats)
            defer { d.deallocate(); staging.deallocate() }
            for ch in range {
                let plane = dInput + ch * h * w
                for j0 in Swift.stride(from: 0, to: p, by: lanes) {
                    let n = min(lanes, p - j0)
                    loadPositions(d, from: v + ch * positions * p + j0, stride: stride, lanes: n)
                    for q in 0 ..< 6 { b(d + q, 6, t + q, 6) }  // t = B v
                    for r in 0 ..< 6 { b(t + r * 6, 1, d + r * 6, 1) }  // d = t Bᵀ
                    if (p0 + j0) % across + n <= across {
                        // Tiles of one tile row: a patch row of the 8 tiles is 34 pixels, tile i's at 4i, neighbours
                        // overlapping by 2. Positions 0-3 interleave into pixels 0..<32, positions 4-5 (zero-padded)
                        // into 4..<36; the sum is added to the image row, clipped to the image.
                        let (y0, x0) = origin(p0 + j0, across: across)
                        let xs = x0 - 1, lo = max(0, xs), hi = min(w, xs + 4 * (n - 1) + 6)
                        let raw = UnsafeMutableRawPointer(staging)
                        for r in 0 ..< 6 {
                            let y = y0 - 1 + r
                            guard y >= 0, y < h, lo < hi else { continue }
                            let line = d + r * 6
                            interleave(line[0], line[1], line[2], line[3], to: raw)
                            (staging + 32).update(repeating: 0, count: stagingRow - 32)
                            for i in 0 ..< 4 {
                                let at = 16 + 32 * i
                                let sum =
                                    raw.loadUnaligned(fromByteOffset: at, as: Lanes.self)
                                    + Lanes(
                                        line[4][2 * i], line[5][2 * i], 0, 0, line[4][2 * i + 1], line[5][2 * i + 1], 0,
                                        0)
                                raw.storeBytes(of: sum, toByteOffset: at, as: Lanes.self)
                            }
                            let src = staging + (lo - xs), dst = plane + y * w + lo
                            for i in 0 ..< hi - lo { dst[i] += src[i] }
                        }
                        continue
                    }
                    // Tiles across two tile rows: lane by lane.
                    for lane in 0 ..< n {
                        let (ty, tx) = origin(p0 + j0 + lane, across: across)
                        for r in 0 ..< 6 where ty - 1 + r >= 0 && ty - 1 + r < h {
                            let row = plane + (ty - 1 + r) * w + tx - 1
                            for q in 0 ..< 6 where tx - 1 + q >= 0 && tx - 1 + q < w { row[q] += d[r * 6 + q][lane] }
                        }
                    }
                }
            }
        }
    }

    /// out tile (4x4) = Aᵀ m A + bias, for each output channel and tile, cropped at the edges.
    static func outputTransform(
        out: UnsafeMutablePointer<Float>, m: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        channels k: Int, height h: Int, width w: Int, firstTile p0: Int, tiles p: Int, across: Int
    ) {
        let stride = p
        Parallel.forEach(k) { range in
            let s = UnsafeMutablePointer<Lanes>.allocate(capacity: 36 + 24 + 16), t = s + 36, y = t + 24
            let staging = UnsafeMutablePointer<Float>.allocate(capacity: stagingFloats)
            defer { s.deallocate(); staging.deallocate() }
            for ch in range {
                let bv = bias?[ch] ?? 0, plane = out + ch * h * w
                for j0 in Swift.stride(from: 0, to: p, by: lanes) {
                    let n = min(lanes, p - j0)
                    loadPositions(s, from: m + ch * positions * p + j0, stride: stride, lanes: n)
                    for q in 0 ..< 6 { at(s + q, 6, t + q, 6) }  // t (4, 6) = Aᵀ m
                    for r in 0 ..< 4 { at(t + r * 6, 1, y + r * 4, 1) }  // y (4, 4) = t A
                    let (ty, tx) = origin(p0 + j0, across: across)
                    if (p0 + j0) % across + n <= across {
                        // Tiles of one tile row: each output row is 32 pixels, the four positions' lanes interleaved
                        // in registers; stored straight into the image inside it, through staging at its edges.
                        let whole = n == lanes && ty + 4 <= h && tx + 4 * lanes <= w
                        let columns = min(4 * n, w - tx)
                        for r in 0 ..< min(4, h - ty) {
                            let row = plane + (ty + r) * w + tx
                            interleave(
                                y[r * 4] + bv, y[r * 4 + 1] + bv, y[r * 4 + 2] + bv, y[r * 4 + 3] + bv,
                                to: UnsafeMutableRawPointer(whole ? row : staging))
                            if !whole { row.update(from: staging, count: columns) }
                        }
                        continue
                    }
                    for lane in 0 ..< n {
                        let (ty, tx) = origin(p0 + j0 + lane, across: across)
                        for r in 0 ..< min(4, h - ty) {
                            let row = plane + (ty + r) * w + tx
                            for q in 0 ..< min(4, w - tx) { row[q] = y[r * 4 + q][lane] + bv }
                        }
                    }
                }
            }
        }
    }

    /// Adjoint of `outputTransform` (without bias): m = A g Aᵀ for each 4x4 gradient tile (zero past the edges).
    static func outputTransformAdjoint(
        m: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, channels k: Int,
        height h: Int, width w: Int, firstTile p0: Int, tiles p: Int, across: Int
    ) {
        let stride = p
        Parallel.forEach(k) { range in
            let s = UnsafeMutablePointer<Lanes>.allocate(capacity: 16 + 24 + 36), t = s + 16, out = t + 24
            let staging = UnsafeMutablePointer<Float>.allocate(capacity: stagingFloats)
            defer { s.deallocate(); staging.deallocate() }
            for ch in range {
                let plane = dOut + ch * h * w
                for j0 in Swift.stride(from: 0, to: p, by: lanes) {
                    let n = min(lanes, p - j0)
                    gatherPatches(
                        s, from: plane, size: 4, pad: 0, firstTile: p0 + j0, lanes: n, across: across, height: h,
                        width: w,
                        staging: staging)
                    for q in 0 ..< 4 { a(s + q, 4, t + q, 4) }  // t (6, 4) = A g
                    for r in 0 ..< 6 { a(t + r * 4, 1, out + r * 6, 1) }  // (A g) Aᵀ
                    storePositions(out, to: m + ch * positions * p + j0, stride: stride, lanes: n)
                }
            }
        }
    }

    // MARK: - 1-D transforms on 8 tiles at once: read a line of 6 (or 4) at s[i·ss], write d[i·ds].

    /// Bᵀ (6x6).
    @inline(__always)
    static func bt(_ s: UnsafeMutablePointer<Lanes>, _ ss: Int, _ d: UnsafeMutablePointer<Lanes>, _ ds: Int) {
        let d0 = s[0], d1 = s[ss], d2 = s[2 * ss], d3 = s[3 * ss], d4 = s[4 * ss], d5 = s[5 * ss]
        d[0] = 4 * d0 - 5 * d2 + d4
        d[ds] = -4 * (d1 + d2) + d3 + d4
        d[2 * ds] = 4 * (d1 - d2) - d3 + d4
        d[3 * ds] = 2 * (d3 - d1) - d2 + d4
        d[4 * ds] = 2 * (d1 - d3) - d2 + d4
        d[5 * ds] = 4 * d1 - 5 * d3 + d5
    }

    /// B (6x6), the transpose of Bᵀ.
    @inline(__always)
    static func b(_ s: UnsafeMutablePointer<Lanes>, _ ss: Int, _ d: UnsafeMutablePointer<Lanes>, _ ds: Int) {
        let v0 = s[0], v1 = s[ss], v2 = s[2 * ss], v3 = s[3 * ss], v4 = s[4 * ss], v5 = s[5 * ss]
        d[0] = 4 * v0
        d[ds] = 4 * (v2 - v1) + 2 * (v4 - v3) + 4 * v5
        d[2 * ds] = -5 * v0 - 4 * (v1 + v2) - v3 - v4
        d[3 * ds] = v1 - v2 + 2 * (v3 - v4) - 5 * v5
        d[4 * ds] = v0 + v1 + v2 + v3 + v4
        d[5 * ds] = v5
    }

    /// Aᵀ (4x6): a line of 6 to 4.
    @inline(__always)
    static func at(_ s: UnsafeMutablePointer<Lanes>, _ ss: Int, _ d: UnsafeMutablePointer<Lanes>, _ ds: Int) {
        let m0 = s[0], m1 = s[ss], m2 = s[2 * ss], m3 = s[3 * ss], m4 = s[4 * ss], m5 = s[5 * ss]
        d[0] = m0 + m1 + m2 + m3 + m4
        d[ds] = m1 - m2 + 2 * (m3 - m4)
        d[2 * ds] = m1 + m2 + 4 * (m3 + m4)
        d[3 * ds] = m1 - m2 + 8 * (m3 - m4) + m5
    }

    /// A (6x4): a line of 4 to 6.
    @inline(__always)
    static func a(_ s: UnsafeMutablePointer<Lanes>, _ ss: Int, _ d: UnsafeMutablePointer<Lanes>, _ ds: Int) {
        let g0 = s[0], g1 = s[ss], g2 = s[2 * ss], g3 = s[3 * ss]
        d[0] = g0
        d[ds] = g0 + g1 + g2 + g3
        d[2 * ds] = g0 - g1 + g2 - g3
        d[3 * ds] = g0 + 2 * g1 + 4 * g2 + 8 * g3
        d[4 * ds] = g0 - 2 * g1 + 4 * g2 - 8 * g3
        d[5 * ds] = g3
    }
}
