import Foundation

/// Frames assembled into a video file with ffmpeg.
public enum VideoAssembly {
    /// ffmpeg's codec arguments for a video file's extension (.mp4, .mkv, .mov, .webm or .gif).
    public static func codec(for path: String) throws -> [String] {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "mp4", "mkv", "mov":
            ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        case "webm": ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "30", "-b:v", "0"]
        case "gif": ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse"]
        default: throw RenderFailure("--video \(path): use .mp4, .mkv, .mov, .webm or .gif")
        }
    }

    /// ffmpeg on the PATH.
    public static func findFFmpeg() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/ffmpeg") {
            return "\(dir)/ffmpeg"
        }
        throw RenderFailure(
            "--video needs ffmpeg on the PATH (apt-get install ffmpeg); without --video the frames are written alone")
    }

    /// Encodes `directory/frame_%04d.png` from frame `first` at `fps` into `url`.
    public static func assemble(ffmpeg: String, directory: URL, first: Int, fps: Double, to url: URL) throws {
        let args =
            [
                "-y", "-loglevel", "error", "-framerate", String(fps), "-start_number", "\(first)",
                "-i", directory.appendingPathComponent("frame_%04d.png").path
            ] + (try codec(for: url.path)) + [url.path]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ffmpeg)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw RenderFailure(
                "ffmpeg failed (status \(p.terminationStatus)): \(ffmpeg) \(args.joined(separator: " "))")
        }
    }
}
