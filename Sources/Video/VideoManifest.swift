import Foundation

/// `OUTDIR/video.json`: what a video render has finished, so that a restarted render skips those frames.
///
/// A frame counts as done once its output file was written (atomically) and then recorded here (the manifest is
/// replaced atomically too); a frame written but not recorded is rendered again. `settings` must match on
/// resume: frames rendered with other settings are never mixed into one sequence.
public struct VideoManifest: Codable, Sendable, Equatable {
    /// Everything that decides the frames' pixels (inputs, options), as the video command describes it.
    public var settings: [String: String]
    /// Finished frames, by output file name (`.pass-K/NAME` for an earlier pass of the parallel schedule).
    public var frames: [String: FrameRecord] = [:]
    /// The farm job of the frame in flight, so a restart can wait for it instead of submitting it again.
    public var pending: PendingJob?
    /// The farm jobs of a pass of the parallel schedule, all in flight at once (nil when none).
    public var inFlight: [PendingJob]?

    public struct FrameRecord: Codable, Sendable, Equatable {
        /// Position in the whole input sequence, from 1.
        public var number: Int
        public var input: String
        /// Seconds it took to render.
        public var seconds: Double
        /// `Flicker.temporalError` against the output frame processed before it in its last pass (the previous frame
        /// in a forward pass, the next in a backward one; nil for the first frame of a pass).
        public var flicker: Double?
        /// Fraction of pixels the consistency mask kept (nil for the first frame).
        public var maskCoverage: Double?
        /// The last pass of `MultiPass` the file holds (nil: the first, as manifests before passes record it).
        public var pass: Int?

        public init(
            number: Int, input: String, seconds: Double, flicker: Double?, maskCoverage: Double?, pass: Int? = nil
        ) {
            (self.number, self.input, self.seconds, self.flicker, self.maskCoverage, self.pass) = (
                number, input, seconds, flicker, maskCoverage, pass
            )
        }
    }

    public struct PendingJob: Codable, Sendable, Equatable {
        public var output: String
        public var job: String
        public var endpoint: String
        public init(output: String, job: String, endpoint: String) {
            (self.output, self.job, self.endpoint) = (output, job, endpoint)
        }
    }

    public init(settings: [String: String]) { self.settings = settings }

    public struct Mismatch: Error, CustomStringConvertible {
        public let path: String
        public let keys: [String]
        public var description: String {
            "\(path) records frames rendered with other settings (\(keys.joined(separator: ", ")) differ); "
                + "render into a new directory, or delete it to start again"
        }
    }

    /// The manifest in `directory`, or a new one for `settings`. Throws `Mismatch` when the directory's
    /// manifest was written for other settings, and a message naming the file when it cannot be read.
    public static func open(directory: URL, settings: [String: String]) throws -> VideoManifest {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return VideoManifest(settings: settings) }
        let manifest: VideoManifest
        do { manifest = try JSONDecoder().decode(VideoManifest.self, from: Data(contentsOf: url)) } catch {
            throw CorruptManifest(path: url.path, reason: "\(error)")
        }
        let differing = Set(manifest.settings.keys).union(settings.keys).filter {
            manifest.settings[$0] != settings[$0]
        }.sorted()
        guard differing.isEmpty else { throw Mismatch(path: url.path, keys: differing) }
        return manifest
    }

    public struct CorruptManifest: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path) is not a video manifest (\(reason)); delete it to start again" }
    }

    public static let fileName = "video.json"

    /// Writes the manifest atomically into `directory`.
    public func save(directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
    }
}
