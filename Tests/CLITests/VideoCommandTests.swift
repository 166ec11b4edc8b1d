import Foundation
import Imaging
import StyleFarmCLI
import Testing
import Video

/// `stylefarm video` in this process on the real weights, tiny and short: frames, the manifest, resuming,
/// a corrupt frame, and assembly with ffmpeg (which the test command installs).
@Suite(.serialized) struct VideoCommandTests {
    static let clip = RenderCommandTests.repo.appendingPathComponent("Assets/video/bbb_burrow")
    static let style = RenderCommandTests.repo.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg")

    static func video(_ frames: String, _ out: URL, extra: [String] = []) throws {
        var command = try StyleFarmCommand.parseAsRoot(
            [
                "video", frames, "--style", style.path, "-o", out.path, "--size", "48", "--iterations", "4",
                "--style-size", "64", "--threads", "2", "--flow", "--temporal-weight", "1e6"
            ] + extra)
        try command.run()
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("video-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func manifest(_ dir: URL) throws -> VideoManifest {
        try JSONDecoder().decode(
            VideoManifest.self, from: Data(contentsOf: dir.appendingPathComponent(VideoManifest.fileName)))
    }

    static func ffprobeFrames(_ url: URL) throws -> Int? {
        let p = Process(), pipe = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
            "stream=nb_read_frames",
            "-of", "csv=p=0", url.path
        ]
        p.standardOutput = pipe
        try p.run()
        p.waitUntilExit()
        return Int(
            String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines))
    }

    @Test func rendersResumesAndAssemblesWithFFmpeg() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        try Self.video(
            Self.clip.path, out, extra: ["--frame-count", "4", "--video", dir.appendingPathComponent("clip.mp4").path])
        let m = try Self.manifest(out)
        #expect(m.frames.keys.sorted() == (1 ... 4).map { String(format: "frame_%04d.png", $0) })
        #expect(
            m.frames["frame_0001.png"]?.flicker == nil
                && (2 ... 4).allSatisfy { m.frames[String(format: "frame_%04d.png", $0)]?.flicker != nil })
        let first = try ImageIO.read(out.appendingPathComponent("frame_0001.png"))
        #expect(first.image.width == 48 && first.image.height == 27 && first.bitDepth == 16)
        #expect(try Self.ffprobeFrames(dir.appendingPathComponent("clip.mp4")) == 4)
        // The measure of the frames (`--measure`) finds the flicker the render recorded, and a warping error.
        let frames = (1 ... 4).map { String(format: "frame_%04d.png", $0) }
        let pairs = try SequenceConsistency.measure(
            inputs: frames.map { Self.clip.appendingPathComponent($0) },
            outputs: frames.map { out.appendingPathComponent($0) })
        for (pair, name) in zip(pairs, frames.dropFirst()) {
            let recorded = try #require(m.frames[name]?.flicker)
            #expect(abs(pair.flicker - recorded) < 1e-9 && pair.warping.error > 0 && pair.warping.coverage > 0.5)
        }
        var measure = try StyleFarmCommand.parseAsRoot(["video", Self.clip.path, "--measure", out.path])
        try measure.run()
        #expect(throws: (any Error).self) { try StyleFarmCommand.parseAsRoot(["video", Self.clip.path]) }
        // A strip of frames: two per row, cells 20 px high, a 2 px gap.
        var montage = try StyleFarmCommand.parseAsRoot(
            ["montage", dir.appendingPathComponent("strip.png").path]
                + (1 ... 3).map { out.appendingPathComponent(String(format: "frame_%04d.png", $0)).path } + [
                    "--columns", "2", "--height", "20", "--gap", "2"
                ])
        try montage.run()
        let strip = try ImageIO.read(dir.appendingPathComponent("strip.png")).image
        #expect(strip.width == 2 * 36 + 2 && strip.height == 2 * 20 + 2)
        #expect(strip[0, 39, 60] == 1 && strip[1, 39, 60] == 1, "the empty cell is white")

        // Run again: nothing is rendered again, nothing rewritten; a GIF this time, from --first-frame 2.
        let before = try (1 ... 4).map {
            try Data(contentsOf: out.appendingPathComponent(String(format: "frame_%04d.png", $0)))
        }
        try Self.video(Self.clip.path, out, extra: ["--frame-count", "4"])
        #expect(
            try (1 ... 4).map { try Data(contentsOf: out.appendingPathComponent(String(format: "frame_%04d.png", $0))) }
                == before)
        #expect(try Self.manifest(out) == m)
        try Self.video(
            Self.clip.path, dir.appendingPathComponent("gif"),
            extra: [
                "--first-frame", "5", "--video",
                dir.appendingPathComponent("clip.gif").path
            ])
        #expect(try Data(contentsOf: dir.appendingPathComponent("clip.gif")).prefix(4) == Data("GIF8".utf8))
        #expect(try Self.ffprobeFrames(dir.appendingPathComponent("clip.gif")) == 2)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("gif/frame_0005.png").path))

        // Other settings into the same directory are refused, not mixed in.
        #expect { try Self.video(Self.clip.path, out, extra: ["--frame-count", "4", "--tv-weight", "1"]) } throws: {
            "\($0)".contains("records frames rendered with other settings (render differ)")
        }
    }

    @Test func aCorruptFrameStopsWithItsNameAndLosesNothing() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = dir.appendingPathComponent("frames"), out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        for n in 1 ... 3 {
            try FileManager.default.copyItem(
                at: Self.clip.appendingPathComponent(String(format: "frame_%04d.png", n)),
                to: frames.appendingPathComponent(String(format: "f%d.png", n)))
        }
        let bad = frames.appendingPathComponent("f3.png")
        let good = try Data(contentsOf: bad)
        try good.prefix(good.count / 3).write(to: bad)  // truncated
        #expect { try Self.video(frames.path, out) } throws: { "\($0)".contains(bad.path) }
        #expect(try Self.manifest(out).frames.keys.sorted() == ["frame_0001.png", "frame_0002.png"])
        let kept = try Data(contentsOf: out.appendingPathComponent("frame_0002.png"))
        try good.write(to: bad)
        try Self.video(frames.path, out)
        #expect(try Self.manifest(out).frames.count == 3)
        #expect(try Data(contentsOf: out.appendingPathComponent("frame_0002.png")) == kept)
    }

    /// Frames of two aspects fitted to one long side (`--size`) fit to two sizes, which no flow can join: the second
    /// is refused with its name, after the first is kept.
    @Test func aFrameOfAnotherAspectIsRefusedByName() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = dir.appendingPathComponent("frames"), out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        let wide = try ImageIO.read(Self.clip.appendingPathComponent("frame_0001.png")).image
        try ImageIO.write(wide, to: frames.appendingPathComponent("f1.png"))
        let square = CenterCrop.toAspect(
            try ImageIO.read(Self.clip.appendingPathComponent("frame_0002.png")).image, width: 1, height: 1)
        try ImageIO.write(square, to: frames.appendingPathComponent("f2.png"))
        #expect { try Self.video(frames.path, out) } throws: {
            "\($0)".contains("f2.png fits to 48x48, the frames before it to 48x27")
        }
        #expect(try Self.manifest(out).frames.keys.sorted() == ["frame_0001.png"])
    }

    /// Perceptual control in `video`: one region mask for every frame. The right half is a region with no style (it
    /// keeps the photograph), so there every frame stays nearer its input than the same frame rendered without
    /// regions; the left half is styled in both.
    @Test func aRegionMaskAppliesToEveryFrame() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try ImageIO.read(Self.clip.appendingPathComponent("frame_0001.png")).image
        var mask = PlanarImage(width: first.width, height: first.height, channels: 1, fill: 0)
        for y in 0 ..< mask.height { for x in mask.width / 2 ..< mask.width { mask[0, y, x] = 1 } }
        let maskURL = dir.appendingPathComponent("halves.png")
        try ImageIO.write(mask, to: maskURL, bitDepth: 8)
        try Self.video(Self.clip.path, dir.appendingPathComponent("plain"), extra: ["--frame-count", "2"])
        try Self.video(
            Self.clip.path, dir.appendingPathComponent("regions"),
            extra: [
                "--frame-count", "2", "--region-mask", maskURL.path, "--region", "black=1", "--region", "white=none"
            ])
        for n in 1 ... 2 {
            let name = String(format: "frame_%04d.png", n)
            let plain = try ImageIO.read(dir.appendingPathComponent("plain/" + name)).image
            let regions = try ImageIO.read(dir.appendingPathComponent("regions/" + name)).image
            let input = Resampler.resize(
                try ImageIO.read(Self.clip.appendingPathComponent(name)).image, width: plain.width, height: plain.height
            )
            func distance(_ a: PlanarImage, _ xs: Range<Int>) -> Double {
                var sum = 0.0
                for c in 0 ..< 3 {
                    for y in 0 ..< a.height { for x in xs { sum += Double(abs(a[c, y, x] - input[c, y, x])) } }
                }
                return sum / Double(3 * a.height * xs.count)
            }
            let right = (plain.width * 5 / 8) ..< plain.width  // clear of the softened edge
            print(
                String(
                    format: "%@ right half from the input: %.4f with regions, %.4f without", name,
                    distance(regions, right), distance(plain, right)))
            #expect(distance(regions, right) < 0.7 * distance(plain, right), "\(name)")
        }
    }
}
