import FarmMonitor
import FarmProtocol
import Foundation
import Imaging
import StyleCore
import Tiling

/// The mailbox: how finished work and the dashboard's questions reach the loop thread.
extension Coordinator {
    /// What the loop is handed through `mailbox`: work a queue finished, with its outcome and what it was for, or a
    /// question from the dashboard, with the `Once` that answers it. `handle` deals with each on the loop thread, one
    /// method per kind of work, so nothing that runs off the loop reads or writes the loop's state.
    enum Completion: Sendable {
        /// A submitted job stored in the journal (`admit`), or not.
        case admitted(replyTo: String, Result<Journal.StoredJob, Error>)
        /// A stage's canvases and targets computed (`prepare`).
        case prepared(job: JobID, stage: Int, Result<PreparedStage, Error>)
        /// An assignment's crops cut (`assign`).
        case cropped(peer: String, AssignBody, Result<[[UInt8]], Error>)
        /// A batch of tiles written to the journal, with their preview and overview pieces (`storePendingTiles`).
        case tilesStored([Journal.FinishedTile], places: [TilePlace?], Result<[StageWork.LandedPieces?], Error>)
        /// A stage's tiles blended into its canvas, and the next stage prepared if there is one (`blend`).
        case blended(job: JobID, stage: Int, Result<StagePrep?, Error>)
        /// A job's output written (`write`).
        case written(job: JobID, spec: JobSpec, Result<Void, Error>)
        /// A chunk of an output read, as the message that carries it (`sendOutput`).
        case outputRead(peer: String, budget: String, Result<Message, Error>)
        /// The dashboard's questions and controls.
        case control(ControlBody, caller: Caller, Once<Result<ControlledBody, ControlRefusal>>)
        case jobDetail(job: JobID, stage: Int?, Once<JobDetail?>)
        case tileDetail(job: JobID, stage: Int, tile: Int, Once<TileDetail?>)
        case canvasView(job: JobID, Once<CanvasView?>)
        case inputFile(job: JobID, index: Int, Once<URL?>)
    }

    /// What `StageWork.prepareJob` computes for a stage.
    typealias PreparedStage = (poster: PosterJob, targets: [UInt8], prep: StagePrep, done: Set<Int>, forgotten: [Int])
    /// Where a stored tile's pieces go: its core in the stage, and the preview's and overview's sizes when it was queued.
    typealias TilePlace = (rect: PixelRect, stage: PosterStage, preview: (Int, Int), overview: (Int, Int))

    func drainMailbox() {
        mailbox.take().forEach(handle)
    }

    /// One item from the mailbox, on the loop thread (or, once the loop has ended, a question on the asking thread).
    func handle(_ item: Completion) {
        switch item {
        case let .admitted(replyTo, r): finishedAdmitting(replyTo: replyTo, r)
        case let .prepared(job, stage, r): finishedPreparing(job: job, stage: stage, r)
        case let .cropped(peer, body, r): finishedCropping(peer: peer, body, r)
        case let .tilesStored(batch, places, r): finishedStoring(batch, places: places, r)
        case let .blended(job, stage, r): finishedBlending(job: job, stage: stage, r)
        case let .written(job, spec, r): finishedWriting(job: job, spec: spec, r)
        case let .outputRead(peer, budget, r): finishedReading(peer: peer, budget: budget, r)
        case let .control(body, caller, once):
            feed(.control(body, caller: caller, reply: .init { once.resume($0) }, now: now))
        case let .jobDetail(job, stage, once): once.resume(core.detail(job: job, stage: stage, now: now))
        case let .tileDetail(job, stage, tile, once):
            once.resume(core.tileDetail(job: job, stage: stage, tile: tile, now: now))
        case let .canvasView(job, once): once.resume(canvasView(job))
        case let .inputFile(job, index, once):
            once.resume(inputs[job].flatMap { $0.indices.contains(index) ? $0[index] : nil })
        }
    }

    /// Runs `body` on `queue` and posts its result, made a completion by `completion`, to the loop.
    func offload<T: Sendable>(
        _ queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T,
        as completion: @escaping @Sendable (Result<T, Error>) -> Completion
    ) {
        let mailbox = self.mailbox
        queue.async { mailbox.post(completion(Result { try body() })) }
    }

    /// Asks the loop `question` and waits for the answer; once the loop has ended, answers it on this thread.
    func ask<T: Sendable>(_ question: (Once<T>) -> Completion) async -> T {
        await withCheckedContinuation { continuation in
            let item = question(Once(continuation))
            if !mailbox.post(item) { handle(item) }
        }
    }
}

/// The dashboard's questions and controls, answered on the loop thread.
extension Coordinator: FarmConsole {
    public func control(_ body: ControlBody, as caller: Caller) async -> Result<ControlledBody, ControlRefusal> {
        await ask { .control(body, caller: caller, $0) }
    }

    public func jobDetail(_ id: JobID, stage: Int?) async -> JobDetail? {
        await ask { .jobDetail(job: id, stage: stage, $0) }
    }

    public func tileDetail(job: JobID, stage: Int, tile: Int) async -> TileDetail? {
        await ask { .tileDetail(job: job, stage: stage, tile: tile, $0) }
    }

    public func jobInputFile(job: JobID, index: Int) async -> URL? {
        await ask { .inputFile(job: job, index: index, $0) }
    }
}
