import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Imaging
import JobModel
import StyleCore
import Video

/// One frame to render: its files, settings and poster job (with the previous frame's start and temporal target
/// when it has them).
public struct VideoFrame {
    public var inputs: JobInputs
    public var settings: JobSettings
    public var job: PosterJob
    /// The frame's content at the output size: what the next frame's motion is estimated from.
    var fittedContent: PlanarImage
    /// The motion from the previous frame (nil for the first).
    var motion: FrameMotion?

    public var output: URL { inputs.output }

    /// Its key in `video.json` and on a farm: the output's path under `directory` (a file name for the last
    /// pass, `.pass-K/NAME` for an earlier pass of the parallel schedule).
    public func key(in directory: URL) -> String { Self.key(output, in: directory) }

    static func key(_ output: URL, in directory: URL) -> String {
        let prefix = directory.standardizedFileURL.path + "/", path = output.standardizedFileURL.path
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : output.lastPathComponent
    }
}

/// A frame of a batch (`FrameBackend.render(batch:)`): its output, and how to prepare it when the backend takes it,
/// so that a pass of many frames is never held in memory at once.
public struct BatchFrame {
    public var output: URL
    public var prepare: () throws -> VideoFrame
    /// As `VideoFrame.key(in:)`.
    public func key(in directory: URL) -> String { VideoFrame.key(output, in: directory) }
}

/// Where frames are rendered: in this process, or on a farm (each frame's tiles spread over its workers).
public protocol FrameBackend {
    var name: String { get }
    /// Renders the frame and writes `frame.output` (atomically); `progress` gets the frame's fraction done.
    func render(
        _ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void
    ) throws
    /// Renders frames that do not depend on each other (a pass of the parallel schedule), all in flight at once
    /// where the backend can; `finished` is called with each frame's place in `batch` once its file is written,
    /// `shouldStop` asked before each frame starts, `progress` gets the batch's fraction done. By default one after
    /// another.
    func render(
        batch: [BatchFrame], manifest: inout VideoManifest, directory: URL, shouldStop: () -> Bool,
        finished: (Int, inout VideoManifest) throws -> Void, progress: @escaping (Double, String) -> Void
    ) throws
    /// Every frame is done: stop, and remove what only a resume would need.
    func finished(outDir: URL)
    /// Stop (idempotent).
    func close()
}

extension FrameBackend {
    public func render(
        batch: [BatchFrame], manifest: inout VideoManifest, directory: URL, shouldStop: () -> Bool,
        finished: (Int, inout VideoManifest) throws -> Void, progress: @escaping (Double, String) -> Void
    ) throws {
        for (i, next) in batch.enumerated() {
            guard !shouldStop() else { throw RenderFailure.interrupted }
            let frame = try next.prepare()
            try render(frame, manifest: &manifest, directory: directory) { fraction, status in
                progress((Double(i) + fraction) / Double(batch.count), frame.output.lastPathComponent + " " + status)
            }
            try finished(i, &manifest)
        }
    }
}

/// Frames rendered one after another in this process.
public final class InProcessFrames: FrameBackend {
    let network: VGG19
    let threads: Int
    /// The style's Gram targets, computed for the first frame and shared by the rest.
    var targets: GramTargets?
    public var name: String { "in this process, \(threads) threads" }

    public init(network: VGG19, threads: Int) {
        self.network = network
        self.threads = threads
    }

    public func render(
        _ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void
    ) throws {
        let net = network.pooling == frame.job.pooling ? network : network.with(pooling: frame.job.pooling)
        let targets = self.targets ?? frame.job.gramTargets(network: net)
        self.targets = targets
        var result = try frame.job.render(network: network, targets: targets) { p in
            progress(
                p.workFraction,
                String(format: "level %d/%d tile %d/%d loss %.4g", p.level + 1, p.levels, p.tile + 1, p.tiles, p.loss))
        }
        if frame.settings.preserveColors {
            result = ColorTransfer.preserveColors(styled: result, original: frame.fittedContent).clamped()
        }
        try ImageIO.write(result, to: frame.output, bitDepth: frame.settings.bitDepth, dpi: frame.settings.dpi)
    }

    public func finished(outDir: URL) {}
    public func close() {}
}

/// Frames submitted one at a time to a coordinator: the frames are sequential, each frame's tiles go to all
/// the farm's workers.
public final class FarmFrames: FrameBackend {
    let client: FarmClient
    let farm: LocalFarm?
    public let name: String

    /// Frames for the farm `client` speaks to; `farm` when it is an embedded one, stopped when the video ends.
    public init(client: FarmClient, farm: LocalFarm?, name: String) {
        self.client = client
        self.farm = farm
        self.name = name
    }

    public func render(
        _ frame: VideoFrame, manifest: inout VideoManifest, directory: URL, progress: @escaping (Double, String) -> Void
    ) throws {
        let id: JobID, name = frame.key(in: directory)
        if let pending = manifest.pending, let job = submitted(pending, for: name) {
            id = job  // submitted before a restart: wait for it rather than render it twice
        } else {
            id = try submit(frame, directory: directory)
            manifest.pending = .init(output: name, job: id.rawValue, endpoint: client.endpoint)
            try manifest.save(directory: directory)
        }
        try FarmWait.untilDone(client: client, job: id, output: frame.output, localFarm: farm) { s in
            progress(s.workFraction, Self.line(id, s))
        }
    }

    /// A pass of the parallel schedule: every frame submitted at once (`video.json` lists them in flight), then
    /// each waited for and written.
    public func render(
        batch: [BatchFrame], manifest: inout VideoManifest, directory: URL, shouldStop: () -> Bool,
        finished: (Int, inout VideoManifest) throws -> Void, progress: @escaping (Double, String) -> Void
    ) throws {
        var ids: [JobID] = []
        for frame in batch {
            guard !shouldStop() else { throw RenderFailure.interrupted }
            let name = frame.key(in: directory)
            if let job = (manifest.inFlight ?? []).lazy.compactMap({ self.submitted($0, for: name) }).first {
                ids.append(job)
                continue
            }
            ids.append(try submit(try frame.prepare(), directory: directory))
            manifest.inFlight =
                (manifest.inFlight ?? []).filter { $0.output != name } + [
                    .init(output: name, job: ids[ids.count - 1].rawValue, endpoint: client.endpoint)
                ]
            try manifest.save(directory: directory)
        }
        for (i, (frame, id)) in zip(batch, ids).enumerated() {
            try FarmWait.untilDone(client: client, job: id, output: frame.output, localFarm: farm) { s in
                progress(
                    (Double(i) + s.workFraction) / Double(batch.count),
                    "\(frame.output.lastPathComponent) (\(i + 1)/\(batch.count) of the pass) " + Self.line(id, s))
            }
            try finished(i, &manifest)
        }
        manifest.inFlight = nil
    }

    /// The job `pending` names when it is `name`'s on this farm and still running, queued or done.
    func submitted(_ pending: VideoManifest.PendingJob, for name: String) -> JobID? {
        guard pending.output == name, pending.endpoint == client.endpoint || farm != nil,
            let s = try? client.status(job: JobID(pending.job)).jobs.first,
            s.state == .running || s.state == .queued || s.state == .done
        else { return nil }
        return JobID(pending.job)
    }

    static func line(_ id: JobID, _ s: JobStatus) -> String {
        "job \(id) stage \(min(s.stage + 1, s.stages))/\(s.stages) tiles \(s.tilesDone)/\(s.tilesTotal)"
    }

    func submit(_ frame: VideoFrame, directory: URL) throws -> JobID {
        let job = frame.job, settings = frame.settings
        var spec = JobSpec(
            name: "\(directory.lastPathComponent)/\(frame.key(in: directory))", poster: job.settings,
            styleWeights: frame.inputs.styleWeights, crop: settings.crop, preserveColors: settings.preserveColors,
            bitDepth: settings.bitDepth, dpi: settings.dpi)
        var payload = try ([frame.inputs.content] + frame.inputs.styles).map { [UInt8](try Data(contentsOf: $0)) }
        // The frame's start image, the temporal loss's mask and target travel as 16-bit PNGs, encoded in memory (the
        // target only when it is not the start: long-term consistency and later passes).
        if let initial = job.initial {
            let target = job.temporal.flatMap { $0.image == initial ? nil : $0.image }
            spec.frame = .init(temporalMask: job.temporal != nil, temporalImage: target != nil ? true : nil)
            payload.append(try ImageIO.encodePNG(initial, bitDepth: 16))
            if let temporal = job.temporal { payload.append(try ImageIO.encodePNG(temporal.mask, bitDepth: 16)) }
            if let target { payload.append(try ImageIO.encodePNG(target, bitDepth: 16)) }
        }
        payload += try FarmJob.controlFiles(frame.inputs, job.settings.control)
        try spec.validate()
        return try client.submit(spec, inputs: payload)
    }

    public func finished(outDir: URL) {
        guard let farm else { return }
        farm.shutdown()
        try? FileManager.default.removeItem(at: outDir.appendingPathComponent(".farm"))
    }

    public func close() { farm?.shutdown() }
}
