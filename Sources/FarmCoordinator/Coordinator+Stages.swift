import FarmProtocol
import Foundation
import StyleCore

/// A stage's long work on the `work` queue (preparing it, blending it, writing the output), and what the loop does
/// with each outcome (`Completion.prepared`, `.blended`, `.written`). Work that fails for a full disk is deferred
/// (`deferForSpace`) and tried again.
extension Coordinator {
    func prepare(_ id: JobID, stage: Int) {
        guard let spec = core.jobs[id]?.spec, let files = inputs[id] else {
            return feed(.workFailed(job: id, reason: "not in the journal", now: now))
        }
        let journal = self.journal, network = self.network, memory = config.canvasMemory
        offload(
            work,
            {
                try StageWork.prepareJob(
                    id: id, spec: spec, inputs: files, stage: stage, journal: journal, network: network, memory: memory)
            }, as: { .prepared(job: id, stage: stage, $0) })
    }

    func finishedPreparing(job id: JobID, stage: Int, _ r: Result<PreparedStage, Error>) {
        switch r {
        case let .success(p):
            if !p.forgotten.isEmpty {
                logger.warning(
                    "torn tile records \(p.forgotten) of stage \(stage) forgotten; they will be rendered again",
                    metadata: ["job": "\(id)"])
            }
            storageWritable()
            assets[id] = JobAssets(poster: p.poster, prep: p.prep)
            let sha = ContentHash.sha256(p.targets)
            targets[sha] = p.targets
            feed(
                .prepared(
                    job: id, stage: stage, targets: sha, reference: p.prep.reference.map(register), done: p.done,
                    now: now))
        case let .failure(e) where StorageFull.matches(e):
            deferForSpace(.prepare(job: id, stage: stage), e)
        case let .failure(e):
            feed(.workFailed(job: id, reason: "\(e)", now: now))
        }
    }

    /// Makes bytes fetchable by their SHA-256; returns it.
    func register(_ bytes: [UInt8]) -> String {
        let sha = ContentHash.sha256(bytes)
        targets[sha] = bytes
        return sha
    }

    func blend(_ id: JobID, stage: Int) {
        guard let a = assets[id], let start = a.start else {
            return feed(
                .workFailed(job: id, reason: "finishing stage \(stage): the stage's canvas is not loaded", now: now))
        }
        let poster = a.poster, journal = self.journal, network = self.network, memory = config.canvasMemory
        offload(
            work,
            {
                try StageWork.blend(
                    job: id, poster: poster, stage: stage, start: start, journal: journal, network: network,
                    memory: memory)
            }, as: { .blended(job: id, stage: stage, $0) })
    }

    func finishedBlending(job id: JobID, stage: Int, _ r: Result<StagePrep?, Error>) {
        switch r {
        case let .success(prep):
            var next: CoordinatorCore.Prepared?
            if let prep, let a = assets[id], let sha = core.jobs[id]?.targets {
                a.install(prep)
                next = .init(targets: sha, reference: prep.reference.map(register))
            }
            storageWritable()
            feed(.blended(job: id, stage: stage, next: next, now: now))
        case let .failure(e) where StorageFull.matches(e):
            deferForSpace(.blend(job: id, stage: stage), e)
        case let .failure(e):
            feed(.workFailed(job: id, reason: "finishing stage \(stage): \(e)", now: now))
        }
    }

    func write(_ id: JobID) {
        guard let a = assets[id], let spec = core.jobs[id]?.spec else {
            return feed(.workFailed(job: id, reason: "writing the output: the job's images are not loaded", now: now))
        }
        let poster = a.poster, journal = self.journal, clock = self.clock, offset = core.config.wallClockOffset
        offload(
            work,
            {
                try StageWork.writeOutput(job: id, poster: poster, spec: spec, journal: journal) {
                    offset + clock.elapsedSeconds
                }
            }, as: { .written(job: id, spec: spec, $0) })
    }

    func finishedWriting(job id: JobID, spec: JobSpec, _ r: Result<Void, Error>) {
        switch r {
        case .success:
            logger.info(
                "output written: \(journal.outputURL(job: id, format: spec.format).path)", metadata: ["job": "\(id)"])
            storageWritable()
            feed(.written(job: id, now: now))
        case let .failure(e) where StorageFull.matches(e):
            deferForSpace(.write(job: id), e)
        case let .failure(e):
            feed(.workFailed(job: id, reason: "writing the output: \(e)", now: now))
        }
    }
}
