import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Imaging
import JobModel
import StyleCore

/// A job for a farm: the wire spec and the image files' bytes, from a description.
public struct FarmJob {
    public var spec: JobSpec
    public var content: [UInt8]
    public var styles: [[UInt8]]
    /// Perceptual control's files, in `JobSpec.inputCount` order: the region mask, then the masked styles' masks.
    public var controlFiles: [[UInt8]]
    public var output: URL

    /// Reads and decodes the images first, so that a bad file is reported before anything is sent. The name
    /// defaults to the description's, else the output's file name; the priority to the description's, else 50.
    public init(_ description: JobDescription) throws {
        let inputs = try description.inputs()
        let contentImage = try ImageIO.read(inputs.content).image
        for url in inputs.styles { _ = try ImageIO.read(url) }
        let settings = try description.settings(contentWidth: contentImage.width, contentHeight: contentImage.height)
        guard settings.initialisation == .content else {
            throw JobProblem(
                field: "initialisation",
                message: "a farm job starts from its content (tiled levels start from the coarser level)")
        }
        spec = JobSpec(
            name: description.name ?? inputs.output.lastPathComponent, priority: description.priority ?? 50,
            poster: settings.poster, styleWeights: inputs.styleWeights, crop: settings.crop,
            preserveColors: settings.preserveColors, bitDepth: settings.bitDepth, dpi: settings.dpi,
            format: JobSpec.format(for: inputs.output))
        try spec.validate()
        // a bad mask is found here, not on the farm
        _ = try LocalRender.controlImages(inputs, settings: settings, content: contentImage)
        content = [UInt8](try Data(contentsOf: inputs.content))
        styles = try inputs.styles.map { [UInt8](try Data(contentsOf: $0)) }
        controlFiles = try Self.controlFiles(inputs, settings.poster.control)
        output = inputs.output
    }

    /// The region mask (with regions) and the masked styles' masks, as `JobSpec.inputCount` orders them.
    static func controlFiles(_ inputs: JobInputs, _ control: StyleControl?) throws -> [[UInt8]] {
        guard control != nil else { return [] }
        let urls = [inputs.regionMask].compactMap { $0 } + inputs.styleMasks.compactMap { $0 }
        return try urls.map { [UInt8](try Data(contentsOf: $0)) }
    }

    /// Submits the job; returns its id.
    public func submit(to client: FarmClient) throws -> JobID {
        try client.submit(spec, inputs: [content] + styles + controlFiles)
    }
}

/// Waiting for a farm job, then fetching its output.
public enum FarmWait {
    /// Polls the job, giving `progress` each status, until it ends; writes its output to `output` (if given) when it
    /// is done and throws `RenderFailure` when it failed or was cancelled (`submit` and `wait` exit 1), or
    /// `WaitTimedOut` when `deadline` passes first. With `localFarm`, waiting stops with an error once none of its
    /// workers runs (the job could never finish), and the output is copied from the coordinator's directory (a
    /// gigapixel output is bigger than any message).
    @discardableResult
    public static func untilDone(
        client: FarmClient, job id: JobID, output: URL?, localFarm: LocalFarm? = nil, deadline: Date? = nil,
        progress: (JobStatus) throws -> Void
    ) throws -> JobStatus {
        let final = try client.wait(job: id) { s in
            if let localFarm, !s.state.isFinal, !localFarm.anyWorkerRunning {
                throw RenderFailure(
                    "every worker of the embedded farm has exited (see their messages above); job \(id) cannot finish")
            }
            try progress(s)
            if let deadline, !s.state.isFinal, Date() >= deadline { throw WaitTimedOut(job: id, state: s.state) }
        }
        guard final.state == .done else {
            throw RenderFailure("job \(id) \(final.state.rawValue): \(final.detail ?? "no reason given")")
        }
        guard let output else { return final }
        if let localFarm {
            try DurableFile.copy(
                localFarm.coordinator.outputURL(job: id, format: JobSpec.format(for: output)), to: output)
        } else {
            try DurableFile.write(Data(try client.output(job: id)), to: output)
        }
        return final
    }
}

/// Waiting for a job gave up at its deadline; the job goes on.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public var job: JobID
    public var state: JobState
    public var description: String { "job \(job) is still \(state.rawValue); stopped waiting" }
}

/// Why a render stopped without its output, in words for its user.
public struct RenderFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// A long render stopped on request (a signal) between frames or passes: what a resume does.
    public static let interrupted = RenderFailure("interrupted; run the same command again to resume")
}
