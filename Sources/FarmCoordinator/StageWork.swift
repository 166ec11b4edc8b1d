import FarmProtocol
import Foundation
import Imaging
import StyleCore
import Tiling

/// A job's images and canvases as the shell holds them (loop thread only): what tiles are cut from. The core
/// knows none of this; it knows the job's plan and blobs' SHA-256s.
final class JobAssets {
    var poster: PosterJob
    /// The level's content and the stage's start canvas: in memory, or read per region from disk.
    var content: ImageRegionSource?
    var start: ImageRegionSource?
    /// The current stage's temporal target (video frames with a temporal loss).
    var temporal: TemporalTarget?
    /// The current stage's region guides (spatial control), read per tile.
    var guides: ImageRegionSource?
    /// The dashboard's low-resolution copy of the current stage's canvas, tiles pasted as they land.
    var preview: PlanarImage
    var previewDirty = true
    /// The same at `StageWork.overviewSize`: the deep-zoom viewer's zoomed-out tiles are cut from it.
    var overview: PlanarImage

    init(poster: PosterJob, prep: StagePrep) {
        self.poster = poster
        preview = prep.preview
        overview = prep.overview
        install(prep)
    }

    /// Pastes a landed tile's pieces (`StageWork.landedPieces`) into the preview and the overview.
    func paste(_ pieces: StageWork.LandedPieces) {
        StageWork.paste(pieces.preview, into: &preview)
        StageWork.paste(pieces.overview, into: &overview)
        previewDirty = true
    }

    /// Installs a prepared stage.
    func install(_ prep: StagePrep) {
        if let content = prep.content { self.content = content }
        start = prep.start
        temporal = prep.temporal
        guides = prep.guides
        preview = prep.preview
        overview = prep.overview
        previewDirty = true
    }
}

/// What a stage needs before its tiles go out, computed off the loop thread.
struct StagePrep {
    /// The level's content (nil when the level did not change).
    var content: ImageRegionSource?
    var start: ImageRegionSource
    /// The stage's reference Grams, encoded (computed here, once, for all of the stage's tiles).
    var reference: [UInt8]?
    var temporal: TemporalTarget?
    var guides: ImageRegionSource?
    var preview: PlanarImage
    var overview: PlanarImage
}

/// The coordinator's heavy work, as functions of their inputs: run on its work queues, never on the loop thread.
enum StageWork {
    /// Long side of a job's dashboard preview.
    static let previewSize = 384
    /// Long side of a stage's overview (about 34 MB of a 2:3 poster's float RGB): the deep-zoom viewer's zoomed-out
    /// tiles are cut from it in memory, the landed tiles pasted in as they land, so no tile's file is opened for them
    /// however many have landed (`CanvasTiles`).
    static let overviewSize = 2048
    /// Bytes of one strip of a canvas when a stage is blended or written.
    static let stripBytes = 64 << 20

    /// The network with the job's pooling (the same object when it already has it).
    static func pooled(_ network: VGG19, _ pooling: Pool2x2.Kind) -> VGG19 {
        network.pooling == pooling ? network : network.with(pooling: pooling)
    }

    /// A job's images decoded, its Gram targets (encoded) and its first stage to run prepared, with the tiles of
    /// that stage the journal already holds pasted into the preview.
    static func prepareJob(
        id: JobID, spec: JobSpec, inputs: [URL], stage index: Int, journal: Journal, network: VGG19, memory: Int
    )
        throws -> (poster: PosterJob, targets: [UInt8], prep: StagePrep, done: Set<Int>, forgotten: [Int])
    {
        try journal.preparationBegan(job: id)
        defer { try? journal.preparationEnded(job: id) }  // a throw is an end too; only a death leaves it counted
        let images = try spec.readInputs(inputs)
        let poster = try spec.posterJob(images: images)
        let network = pooled(network, poster.pooling)
        let targets =
            poster.regionTargets(network: network).map(RegionTargetsCodec.encode)
            ?? TargetsCodec.encode(poster.gramTargets(network: network))
        let previous = index > 0 ? try journal.canvas(job: id, stage: index - 1) : nil
        let stage = poster.stages[index]
        var prep = try prepare(poster, stage, previous: previous, network: network, memory: memory)
        let finished = try journal.finishedTiles(job: id, stage: index) { t, core in
            // A tile read back but not pasted only leaves the dashboard's copies without it until the next stage.
            guard
                let pieces = try? landedPieces(
                    core, at: stage.plan.tiles[t].core, of: stage, preview: (prep.preview.width, prep.preview.height),
                    overview: (prep.overview.width, prep.overview.height))
            else { return }
            paste(pieces.preview, into: &prep.preview)
            paste(pieces.overview, into: &prep.overview)
        }
        return (poster, targets, prep, finished.done, finished.forgotten)
    }

    /// `previous`: the canvas the last stage left. Content and start are held in memory when each takes at most
    /// `memory` bytes; otherwise they stay sources read per region (the start resized from `previous` on disk).
    static func prepare(
        _ poster: PosterJob, _ stage: PosterStage, previous: DiskImage?, network: VGG19,
        levelChanged: Bool = true, memory: Int
    ) throws -> StagePrep {
        let content =
            levelChanged || previous == nil ? try poster.contentSource(for: stage).materialized(limit: memory) : nil
        guard let base = content ?? previous else {
            throw JournalError.corrupt("stage \(stage.index) has no content and no canvas")
        }
        let start = try poster.startSource(for: stage, previous: previous, content: base).materialized(limit: memory)
        let network = pooled(network, poster.pooling)
        let guides = poster.guides(for: stage)
        let reference =
            guides == nil
            ? try poster.stageReference(stage, start: start, network: network).map(TargetsCodec.encode)
            : try poster.stageRegionReference(stage, start: start, network: network)
                .map { RegionTargetsCodec.encode(RegionTargets(regions: $0, weights: $0.map { _ in 1 })) }
        let overview = try start.boxDownscaled(longSide: overviewSize).clamped()
        let preview = try overview.boxDownscaled(longSide: previewSize).clamped()
        return StagePrep(
            content: content, start: start, reference: reference, temporal: poster.temporal(for: stage), guides: guides,
            preview: preview, overview: overview)
    }

    /// Blends a finished stage strip by strip from the journal's tiles into the stage's canvas file, then
    /// prepares the next stage (nil after the last).
    static func blend(
        job id: JobID, poster: PosterJob, stage index: Int, start: ImageRegionSource, journal: Journal,
        network: VGG19, memory: Int
    ) throws -> StagePrep? {
        let stages = poster.stages, s = stages[index]
        let canvas = try journal.stageFinished(job: id, stage: index, width: s.width, height: s.height) { file in
            try PosterJob.finish(
                s, start: start, stripRows: start.stripRows(bytes: stripBytes),
                core: { t, rows in
                    let tile = try journal.tile(job: id, stage: index, tile: t)
                    return try tile.region(x: 0, y: rows.lowerBound, width: tile.width, height: rows.count)
                }, emit: { y, pixels in try file.write(pixels, y: y) })
        }
        guard index + 1 < stages.count else { return nil }
        let next = stages[index + 1]
        return try prepare(
            poster, next, previous: canvas, network: network, levelChanged: next.level != s.level, memory: memory)
    }

    /// Writes the output from the last stage's canvas (strip by strip) and records the job done at `wall()` (Unix
    /// seconds on the core's clock, read once the output is written).
    static func writeOutput(job id: JobID, poster: PosterJob, spec: JobSpec, journal: Journal, wall: () -> Double)
        throws
    {
        let last = poster.stages.count - 1
        let canvas = try journal.canvas(job: id, stage: last)
        let out: ImageRegionSource =
            spec.preserveColors
            ? ColorPreserved(styled: canvas, original: poster.contentSource(for: poster.stages[last])) : canvas
        try ImageIO.write(
            out, to: journal.outputURL(job: id, format: spec.format), bitDepth: spec.bitDepth, dpi: spec.dpi,
            stripRows: canvas.stripRows(bytes: stripBytes))
        try journal.setState(job: id, .done, at: wall())
    }

    /// The frames of an assignment (`AssignCrops`): the tile's render rectangle of the content and the start canvas,
    /// and of the temporal target and its mask, and of the region guides.
    static func crops(
        _ r: PixelRect, content: ImageRegionSource, start: ImageRegionSource, temporal: TemporalTarget?,
        guides: ImageRegionSource? = nil
    ) throws -> [[UInt8]] {
        let cropped = temporal?.cropped(x: r.x, y: r.y, width: r.width, height: r.height)
        return AssignCrops(
            content: try content.region(x: r.x, y: r.y, width: r.width, height: r.height),
            canvas: try start.region(x: r.x, y: r.y, width: r.width, height: r.height),
            temporal: cropped.map { ($0.image, $0.mask) },
            guides: try guides?.region(x: r.x, y: r.y, width: r.width, height: r.height)
        ).frames
    }

    /// A tile's core, at `rect` of a stage's canvas, resized to its place in a preview of that canvas.
    /// Box averages (`boxDownscaled`), serially: a landed tile's pieces are small and made for every tile, and the
    /// parallel Lanczos resize cost the coordinator more in waking threads than it computed (`bench-farm --scale 1000`).
    static func previewPiece(
        _ core: PlanarImage, at rect: PixelRect, of stage: PosterStage, previewWidth pw: Int, previewHeight ph: Int
    )
        throws -> Piece
    {
        let sx = Double(pw) / Double(stage.width), sy = Double(ph) / Double(stage.height)
        let x0 = min(pw - 1, Int(saturating: Double(rect.x) * sx)),
            y0 = min(ph - 1, Int(saturating: Double(rect.y) * sy))
        let w = max(1, min(pw - x0, Int(saturating: (Double(rect.width) * sx).rounded())))
        let h = max(1, min(ph - y0, Int(saturating: (Double(rect.height) * sy).rounded())))
        return (try core.boxDownscaled(width: min(w, core.width), height: min(h, core.height)), x0, y0)
    }

    typealias Piece = (image: PlanarImage, x: Int, y: Int)
    /// A landed tile's core resized to its places in the preview and the overview.
    typealias LandedPieces = (preview: Piece, overview: Piece)

    static func landedPieces(
        _ core: PlanarImage, at rect: PixelRect, of stage: PosterStage, preview: (width: Int, height: Int),
        overview: (width: Int, height: Int)
    ) throws -> LandedPieces {
        (
            try previewPiece(core, at: rect, of: stage, previewWidth: preview.width, previewHeight: preview.height),
            try previewPiece(core, at: rect, of: stage, previewWidth: overview.width, previewHeight: overview.height)
        )
    }

    /// Pastes a preview piece (clamped to 0…1).
    static func paste(_ piece: (image: PlanarImage, x: Int, y: Int), into preview: inout PlanarImage) {
        let small = piece.image, w = small.width, h = small.height, n = preview.width * preview.height
        for c in 0 ..< 3 {
            for y in 0 ..< h {
                for x in 0 ..< w {
                    preview.pixels[c * n + (piece.y + y) * preview.width + piece.x + x] = min(
                        1, max(0, small.pixels[(c * h + y) * w + x]))
                }
            }
        }
    }
}
