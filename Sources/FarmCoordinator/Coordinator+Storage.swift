import FarmProtocol
import Foundation
import Imaging
import StyleCore

/// Storing finished tiles in the journal a batch at a time (on the store queue), and a full disk: what failed for
/// it waits, with the tiles not yet stored, and is tried again every `storageRetrySeconds`.
extension Coordinator {
    /// Queues a tile for the journal; tiles that arrive while a batch is being written go together in the next.
    func storeTile(_ id: JobID, stage: Int, tile: Int, pixels: PlanarImage, worker: WorkerID, seconds: Double) {
        pendingTiles.append(
            Journal.FinishedTile(
                job: id, stage: stage, tile: tile, pixels: pixels, worker: worker.rawValue, seconds: seconds))
        if !storingTiles && !core.storagePaused { storePendingTiles() }
    }

    /// Work that failed because the disk is full is kept, the core stops leasing (`storageFull`: its `storagePaused`),
    /// and the write is tried again every `storageRetrySeconds`; nothing is lost and no job fails for it.
    func deferForSpace(_ work: Deferred?, _ error: Error) {
        if let work { deferred.append(work) }
        if !core.storagePaused { logger.error("disk full under \(config.stateDirectory.path): \(error)") }
        feed(.storageFull(reason: "\(error)", now: now))
    }

    /// A write succeeded: if the disk was full, it is not any more.
    func storageWritable() {
        if core.storagePaused { feed(.storageRecovered(now: now)) }
    }

    func retryStorage() {
        guard core.storagePaused, now - lastStorageRetry >= Self.storageRetrySeconds else { return }
        lastStorageRetry = now
        let work = deferred
        deferred = []
        for w in work {
            switch w {
            case let .prepare(job, stage): prepare(job, stage: stage)
            case let .blend(job, stage): blend(job, stage: stage)
            case let .write(job): write(job)
            }
        }
        if !storingTiles { storePendingTiles() }
    }

    /// Writes the queued tiles and their preview and overview pieces on the store queue, then reports each one stored
    /// (`finishedStoring`).
    func storePendingTiles() {
        let batch = pendingTiles, journal = self.journal
        guard !batch.isEmpty else { return }
        pendingTiles = []
        storingTiles = true
        let places = batch.map { t -> TilePlace? in
            guard let s = core.jobs[t.job]?.stages[t.stage], let a = assets[t.job] else { return nil }
            return (
                s.plan.tiles[t.tile].core, s, (a.preview.width, a.preview.height), (a.overview.width, a.overview.height)
            )
        }
        offload(
            store,
            { () -> [StageWork.LandedPieces?] in
                try journal.tilesFinished(batch)
                return try zip(batch, places).map { t, p in
                    try p.map {
                        try StageWork.landedPieces(
                            t.pixels, at: $0.rect, of: $0.stage, preview: $0.preview, overview: $0.overview)
                    }
                }
            }, as: { .tilesStored(batch, places: places, $0) })
    }

    func finishedStoring(
        _ batch: [Journal.FinishedTile], places: [TilePlace?],
        _ r: Result<[StageWork.LandedPieces?], Error>
    ) {
        storingTiles = false
        if case let .failure(e) = r, StorageFull.matches(e) {
            pendingTiles = batch + pendingTiles
            return deferForSpace(nil, e)
        }
        if case .success = r { storageWritable() }
        for (i, t) in batch.enumerated() {
            switch r {
            case let .success(landed):
                // Sizes as planned: a stage installed meanwhile has its own preview and overview.
                if let pieces = landed[i], let a = assets[t.job], core.phase(of: t.job) == .running(stage: t.stage),
                    let p = places[i], (a.preview.width, a.preview.height) == p.preview,
                    (a.overview.width, a.overview.height) == p.overview
                {
                    a.paste(pieces)
                }
                count { $0.rawTileBytes += 6 * t.pixels.width * t.pixels.height }
                feed(.tileStored(job: t.job, stage: t.stage, tile: t.tile, now: now))
            case let .failure(e):
                feed(.workFailed(job: t.job, reason: "cannot write the journal: \(e)", now: now))
            }
        }
        storePendingTiles()
    }
}
