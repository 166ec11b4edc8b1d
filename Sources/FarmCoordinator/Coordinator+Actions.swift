import FarmMonitor
import FarmProtocol
import FarmScheduler
import Foundation
import Imaging
import StyleCore
import Tiling

/// Performing the core's actions: with `Coordinator+Stages` and `Coordinator+Storage`, the only place the coordinator
/// touches the socket, the journal and the queues. Work off the loop reports back through the mailbox (`Completion`).
extension Coordinator {
    func perform(_ actions: [CoordinatorCore.Action]) {
        for action in actions {
            switch action {
            case let .send(peer, m):
                monitor.countRefusal(answering: m)
                send(peer, m)
            case let .assign(peer, body, rect): assign(peer, body, rect: rect)
            case let .admit(spec, inputs, replyTo, owner, submitted):
                admit(spec, inputs: inputs, replyTo: replyTo, owner: owner, submitted: submitted)
            case let .prepare(job, stage): prepare(job, stage: stage)
            case let .storeTile(job, stage, tile, pixels, worker, seconds):
                storeTile(job, stage: stage, tile: tile, pixels: pixels, worker: worker, seconds: seconds)
            case let .blend(job, stage, _): blend(job, stage: stage)
            case let .write(job): write(job)
            case let .persistState(job, state, detail, at):
                let journal = self.journal, logger = self.logger
                store.async {
                    do { try journal.setState(job: job, state, detail: detail, at: at) } catch {
                        logger.error("cannot record job \(job) as \(state.rawValue): \(error)")
                    }
                }
            case let .persistControl(job, priority, paused):
                let journal = self.journal, logger = self.logger
                store.async {
                    do { try journal.setControl(job: job, priority: priority, paused: paused) } catch {
                        logger.error("cannot record job \(job)'s priority and pause: \(error)")
                    }
                }
            case let .answer(reply, outcome):
                if case let .failure(refusal) = outcome { monitor.countRefusal(refusal.code.rawValue) }
                reply.deliver(outcome)
            case let .sendBlob(peer, body):
                let bytes = body.kind == .weights ? weightsBytes : targets[body.sha256]
                if bytes == nil { monitor.countRefusal("fetch") }
                send(
                    peer,
                    bytes.map { Message(.blob, body, payload: [$0]) }
                        ?? Message(
                            .reject, RejectBody(lease: nil, reason: "no \(body.kind) with sha256 \(body.sha256)")))
            case let .sendOutput(peer, job, format, offset, budget):
                sendOutput(peer, job: job, format: format, offset: offset, budget: budget)
            case let .forget(job, blobs):
                blobs.forEach { targets[$0] = nil }
                if core.phase(of: job)?.isFinal ?? true { assets[job] = nil }
            case let .prune(job): prune(job)
            case let .publish(snapshot): publish(snapshot)
            case let .count(metric): count(metric)
            case let .log(level, text, metadata): logger.log(level: level, "\(text)", metadata: metadata)
            case let .notify(notice): notify(notice)
            }
        }
    }

    /// Hands a notice to the webhooks; a done job's with its output's path and size (read on the store queue).
    func notify(_ notice: FarmNotice) {
        guard let webhooks else { return }
        guard notice.event == .jobDone, let id = notice.job?.id, let format = core.jobs[id]?.spec.format else {
            return webhooks.post(notice)
        }
        let url = journal.outputURL(job: id, format: format)
        store.async {
            var notice = notice
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? NSNumber
            notice.job?.output = FarmNotice.Output(path: url.path, bytes: size?.intValue)
            webhooks.post(notice)
        }
    }

    /// Restores a job from the journal at start. One with a `problem` (a spec outside the limits, stored by an older
    /// version or written by hand; a coordinator that died preparing it) is admitted failed with its reason,
    /// unplanned: a restart never dies on what it finds.
    func restore(_ job: Journal.StoredJob) {
        inputs[job.id] = job.inputs
        if let problem = job.problem {
            var info = CoordinatorCore.StoredJobInfo(
                id: job.id, spec: job.spec, state: job.state, detail: job.detail, problem: problem)
            stamp(&info, from: job)
            return feed(.admitted(info, replyTo: nil, now: now))
        }
        feed(.admitted(info(job), replyTo: nil, now: now))
    }

    /// A journal row that cannot be read at all: recorded failed, and logged.
    func restore(_ unreadable: Journal.UnreadableJob) {
        logger.error("job \(unreadable.id) \(unreadable.reason); marked failed")
        try? journal.setState(job: unreadable.id, .failed, detail: unreadable.reason, at: wallNow)
    }

    /// The core's view of a stored job: its spec, where it is, and each tile's planned peak memory on a worker (so
    /// no worker gets a tile past its --max-memory).
    func info(_ job: Journal.StoredJob) -> CoordinatorCore.StoredJobInfo {
        let history = job.spec.poster.options.optimizer.lbfgsHistory
        var peak: [Int: Int] = [:]
        let stages = job.spec.stages
        let memory = stages.map { s in
            s.plan.tiles.map { t -> Int in
                let r = t.render, key = r.width << 32 | r.height
                if let known = peak[key] { return known }
                let bytes = ResourceEstimate.peakBytes(
                    network: network, width: r.width, height: r.height, lbfgsHistory: history,
                    regions: job.spec.poster.control?.regions.count ?? 0)
                peak[key] = bytes
                return bytes
            }
        }
        var info = CoordinatorCore.StoredJobInfo(
            id: job.id, spec: job.spec, state: job.state, detail: job.detail, stage: job.stage,
            memory: memory, stages: stages)
        stamp(&info, from: job)
        return info
    }

    /// What the journal keeps besides the spec: the owner (and the name the allowlist gives its key), the hand-set
    /// priority and pause, the times.
    func stamp(_ info: inout CoordinatorCore.StoredJobInfo, from job: Journal.StoredJob) {
        info.owner = job.owner
        info.ownerName = config.security.map { $0.allowlist.caller(key: job.owner)?.name ?? "" } ?? Caller.insecure.name
        (info.priority, info.paused) = (job.priority, job.paused)
        (info.submitted, info.started, info.finished) = (job.submitted, job.started, job.finished)
    }

    func admit(_ spec: JobSpec, inputs: [[UInt8]], replyTo: String, owner: String, submitted: Double) {
        let journal = self.journal
        offload(
            store,
            { () -> Journal.StoredJob in
                let id = JobID("j" + String(UInt64.random(in: 0 ... .max) % 1_000_000_000_000, radix: 36))
                return try journal.add(job: id, spec: spec, inputs: inputs, owner: owner, submitted: submitted)
            }, as: { .admitted(replyTo: replyTo, $0) })
    }

    func finishedAdmitting(replyTo: String, _ r: Result<Journal.StoredJob, Error>) {
        switch r {
        case let .success(job):
            inputs[job.id] = job.inputs
            feed(.admitted(info(job), replyTo: replyTo, now: now))
        case let .failure(e):
            feed(.admissionFailed(replyTo: replyTo, reason: "cannot store the job: \(e)"))
        }
    }

    /// Deletes an ended job past its retention: its rows, then its files.
    func prune(_ id: JobID) {
        inputs[id] = nil
        assets[id] = nil
        monitor.forget(job: id)
        canvasTiles.forget(job: id)
        let journal = self.journal, logger = self.logger
        store.async {
            do { try journal.remove(job: id) } catch { logger.error("cannot prune job \(id): \(error)") }
        }
    }

    func assign(_ peer: String, _ body: AssignBody, rect: PixelRect) {
        guard let a = assets[body.job], let content = a.content, let start = a.start else { return }
        let (temporal, guides) = (a.temporal, a.guides)
        offload(
            crops, { try StageWork.crops(rect, content: content, start: start, temporal: temporal, guides: guides) },
            as: { .cropped(peer: peer, body, $0) })
    }

    func finishedCropping(peer: String, _ body: AssignBody, _ r: Result<[[UInt8]], Error>) {
        switch r {
        case let .success(payload):
            let message = Message(.assign, body, payload: payload)
            count { s in
                s.tileMessages += 1
                s.assigns += 1
                s.assignBytes += message.frames.reduce(0) { $0 + $1.count }
            }
            send(peer, message)
        case let .failure(e):
            feed(.workFailed(job: body.job, reason: "reading tile \(body.task.tile.index)'s canvas: \(e)", now: now))
        }
    }

    /// One chunk of a job's output, read from disk off the loop (`OutputBody.chunk` bytes from `offset`); the key's next
    /// chunk may be asked for once it is queued (`outputSent`).
    func sendOutput(_ peer: String, job: JobID, format: String, offset: Int, budget: String) {
        let url = journal.outputURL(job: job, format: format), chunkBytes = config.outputChunkBytes
        offload(
            store,
            { () -> Message in
                let file = try FileHandle(forReadingFrom: url)
                defer { try? file.close() }
                let size = Int(try file.seekToEnd())  // safe-int: a file's size, far below Int.max
                guard offset <= size else {
                    throw ProtocolError.malformedBody("offset \(offset) is past the output's \(size) bytes")
                }
                try file.seek(toOffset: UInt64(offset))  // safe-int: checked non-negative at decode
                let chunk = [UInt8](try file.read(upToCount: chunkBytes) ?? Data())
                return Message(
                    .output, OutputBody(job: job, file: url.lastPathComponent, offset: offset, size: size),
                    payload: [chunk])
            }, as: { .outputRead(peer: peer, budget: budget, $0) })
    }

    func finishedReading(peer: String, budget: String, _ r: Result<Message, Error>) {
        switch r {
        case let .success(m): send(peer, m)
        case let .failure(e):
            let e = e as? ProtocolError ?? .malformedBody("\(e)")
            send(peer, Message(.error, ErrorBody(code: e.code, message: e.description)))
        }
        feed(.outputSent(budget: budget))
    }

    /// Publishes the snapshot, and encodes (off the loop) the previews that changed since the last one.
    func publish(_ snapshot: FarmSnapshot) {
        var snapshot = snapshot
        snapshot.time = wallNow
        monitor.publish(snapshot)
        for (id, a) in assets where a.previewDirty {
            a.previewDirty = false
            let preview = a.preview, monitor = self.monitor
            store.async {
                if let png = try? ImageIO.encodePNG(preview, bitDepth: 8) { monitor.publish(preview: png, job: id) }
            }
        }
    }

    func count(_ metric: CoordinatorCore.Metric) {
        switch metric {
        case let .tileDone(seconds):
            monitor.tilesDone.increment()
            monitor.tileSeconds.record(seconds)
        case .tileFailed: monitor.tilesFailed.increment()
        case .tileRequeued: monitor.tilesRequeued.increment()
        case .copyRevoked: monitor.copiesRevoked.increment()
        case .messageDropped: monitor.messagesDropped.increment()
        case let .leaseFailed(cause): monitor.countLeaseFailure(cause.rawValue)
        }
    }
}
