import Foundation

/// The input frames of a video, in order.
///
/// `FRAMES` is a directory (every PNG, JPEG or TIFF in it, in natural order: `f2` before `f10`), an
/// ffmpeg-style numbered pattern (`clip/frame_%04d.png`: numbers from the lowest present, up to the first gap),
/// or a shell glob in the file name (`clip/frame_*.png`, natural order).
public struct FrameSequence: Sendable {
    public let files: [URL]

    public struct NoFrames: Error, CustomStringConvertible {
        public let spec: String
        public let reason: String
        public var description: String { "\(spec): \(reason)" }
    }

    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "tif", "tiff"]

    public init(_ spec: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: spec)
        if fm.fileExists(atPath: spec, isDirectory: &isDirectory), isDirectory.boolValue {
            let names = try Self.list(url, spec: spec).filter {
                Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
            }
            files = Self.naturalSort(names).map { url.appendingPathComponent($0) }
        } else if let range = spec.range(of: #"%0?\d*d"#, options: .regularExpression) {
            let directory = url.deletingLastPathComponent()
            guard !directory.path.contains("%") else {
                throw NoFrames(spec: spec, reason: "the number pattern must be in the file name")
            }
            var numbered: [URL] = []
            func path(_ i: Int) -> String {
                spec.replacingCharacters(in: range, with: String(format: String(spec[range]), i))
            }
            // Lowest number present among the first 10000, then consecutive numbers to the first gap.
            if let first = (0 ... 9_999).first(where: { fm.fileExists(atPath: path($0)) }) {
                var i = first
                while fm.fileExists(atPath: path(i)) {
                    numbered.append(URL(fileURLWithPath: path(i)))
                    i += 1
                }
            }
            files = numbered
        } else if url.lastPathComponent.contains(where: { "*?[".contains($0) }) {
            let directory = url.deletingLastPathComponent(), pattern = url.lastPathComponent
            let names = try Self.list(directory, spec: spec).filter { fnmatch(pattern, $0, 0) == 0 }
            files = Self.naturalSort(names).map { directory.appendingPathComponent($0) }
        } else {
            throw NoFrames(spec: spec, reason: "not a directory, a %04d pattern or a glob")
        }
        guard !files.isEmpty else { throw NoFrames(spec: spec, reason: "no frames found") }
    }

    static func list(_ directory: URL, spec: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw NoFrames(spec: spec, reason: "cannot list \(directory.path)")
        }
    }

    /// Natural order: digit runs compare as numbers.
    static func naturalSort(_ names: [String]) -> [String] {
        names.sorted { $0.compare($1, options: [.numeric]) == .orderedAscending }
    }
}
