import FarmMonitor
import FarmProtocol
import Foundation
import Imaging
import Synchronization
import Tiling

/// A job's canvas as the deep-zoom viewer sees it at one moment (Docs/dashboard.md, "Looking inside the poster"): the
/// stage's canvas (its start, in memory or on disk; or a finished stage's canvas file) with the tiles that have landed
/// since pasted over it, core by core, as the preview does.
public struct CanvasView: Sendable {
    public var job: JobID
    public var info: CanvasInfo
    public var base: ImageRegionSource
    /// The current stage's landed tiles: their core rectangles and the journal's files of their pixels.
    public var landed: [(rect: PixelRect, file: URL)]
    /// The stage's overview (`StageWork.overviewSize` on its long side) with the landed tiles already in it; nil for a
    /// finished canvas, which has no tiles to paste.
    public var overview: PlanarImage?

    public init(
        job: JobID, info: CanvasInfo, base: ImageRegionSource, landed: [(rect: PixelRect, file: URL)],
        overview: PlanarImage? = nil
    ) {
        (self.job, self.info, self.base, self.landed, self.overview) = (job, info, base, landed, overview)
    }
}

/// Cutting and caching the viewer's tiles. A tile at zoom `z` covers `256·2^(maxZoom−z)` canvas pixels a side; each of
/// its rows is one canvas row (the middle of the rows it stands for) averaged over `2^(maxZoom−z)` columns, so a tile
/// reads 256 rows of the canvas however far out it is: a gigapixel canvas on disk is never read whole. A tile far enough
/// out that each of its pixels covers at least one of the overview's is cut from the overview in memory: no landed
/// tile's file is opened for it, however many have landed (only the few tiles under a tile near 1:1 are).
public enum CanvasTiles {
    /// The grey beyond the canvas's edge (edge tiles are padded to full size, as the viewer expects).
    static let background: Float = 0.133

    public static func render(_ view: CanvasView, zoom z: Int, x: Int, y: Int) throws -> [UInt8]? {
        let size = CanvasInfo.tileSize, info = view.info
        guard (0 ... info.maxZoom).contains(z), x >= 0, y >= 0 else { return nil }
        let f = 1 << (info.maxZoom - z)
        let (sx, sy) = (x.multipliedReportingOverflow(by: size * f), y.multipliedReportingOverflow(by: size * f))
        guard !sx.overflow, !sy.overflow, sx.partialValue < info.width, sy.partialValue < info.height else {
            return nil
        }
        let x0 = sx.partialValue, y0 = sy.partialValue
        let span = min(size * f, info.width - x0)
        let outWidth = (span + f - 1) / f, outHeight = min(size, (info.height - y0 + f - 1) / f)
        if let o = view.overview, f * o.width >= info.width, f * o.height >= info.height {
            return try ImageIO.encodePNG(
                fromOverview(o, info: info, f: f, x0: x0, y0: y0, outWidth: outWidth, outHeight: outHeight), bitDepth: 8
            )
        }
        let overlays = try view.landed.filter { r in
            r.rect.x < x0 + span && r.rect.x + r.rect.width > x0 && r.rect.y < y0 + size * f
                && r.rect.y + r.rect.height > y0
        }.map { (rect: $0.rect, image: try DiskImage(opening: $0.file)) }
        var out = PlanarImage(
            width: size, height: size, channels: 3,
            pixels: [Float](repeating: background, count: 3 * size * size))
        var row = [Float](repeating: 0, count: 3 * span)
        for j in 0 ..< outHeight {
            let cy = min(info.height - 1, y0 + j * f + f / 2)
            let base = try view.base.region(x: x0, y: cy, width: span, height: 1)
            for c in 0 ..< 3 { for i in 0 ..< span { row[c * span + i] = base.pixels[c * span + i] } }
            for o in overlays where o.rect.y <= cy && cy < o.rect.y + o.rect.height {
                let a = max(x0, o.rect.x), b = min(x0 + span, o.rect.x + o.rect.width)
                let piece = try o.image.region(x: a - o.rect.x, y: cy - o.rect.y, width: b - a, height: 1)
                for c in 0 ..< 3 { for i in 0 ..< b - a { row[c * span + a - x0 + i] = piece.pixels[c * (b - a) + i] } }
            }
            for c in 0 ..< 3 {
                for i in 0 ..< outWidth {
                    let lo = i * f, hi = min(span, lo + f)
                    var sum: Float = 0
                    for k in lo ..< hi { sum += row[c * span + k] }
                    out.pixels[(c * size + j) * size + i] = sum / Float(hi - lo)
                }
            }
        }
        return try ImageIO.encodePNG(out.clamped(), bitDepth: 8)
    }

    /// A zoomed-out tile from the overview: each pixel the overview's pixel at the middle of the canvas block it stands for.
    static func fromOverview(
        _ o: PlanarImage, info: CanvasInfo, f: Int, x0: Int, y0: Int, outWidth: Int, outHeight: Int
    ) -> PlanarImage {
        let size = CanvasInfo.tileSize, n = o.width * o.height
        var out = PlanarImage(
            width: size, height: size, channels: 3, pixels: [Float](repeating: background, count: 3 * size * size))
        for j in 0 ..< outHeight {
            let cy = min(info.height - 1, y0 + j * f + f / 2), oy = min(o.height - 1, cy * o.height / info.height)
            for i in 0 ..< outWidth {
                let cx = min(info.width - 1, x0 + i * f + f / 2), ox = min(o.width - 1, cx * o.width / info.width)
                for c in 0 ..< 3 { out.pixels[(c * size + j) * size + i] = o.pixels[c * n + oy * o.width + ox] }
            }
        }
        return out
    }
}

/// Encoded viewer tiles by job, canvas version and position, up to `limit` bytes (the oldest go first).
final class CanvasTileCache: Sendable {
    private struct State {
        var tiles: [String: [UInt8]] = [:]
        var order: [String] = []
        var bytes = 0
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int = 64 << 20) { self.limit = limit }

    func tile(_ key: String, make: () throws -> [UInt8]?) rethrows -> [UInt8]? {
        if let hit = state.withLock({ $0.tiles[key] }) { return hit }
        guard let made = try make() else { return nil }
        let limit = self.limit
        state.withLock { s in
            if s.tiles[key] == nil {
                s.tiles[key] = made
                s.order.append(key)
                s.bytes += made.count
            }
            while s.bytes > limit, !s.order.isEmpty {
                s.bytes -= s.tiles.removeValue(forKey: s.order.removeFirst())?.count ?? 0
            }
        }
        return made
    }

    /// Drops a pruned job's tiles.
    func forget(job: JobID) {
        let prefix = job.rawValue + "/"
        state.withLock { s in
            for key in s.order where key.hasPrefix(prefix) { s.bytes -= s.tiles.removeValue(forKey: key)?.count ?? 0 }
            s.order.removeAll { $0.hasPrefix(prefix) }
        }
    }
}
