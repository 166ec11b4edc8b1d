import ArgumentParser
import Foundation
import Imaging
import JobModel
import Rendering
import StyleCore
import StyleFarmCLI
import Testing
import VGGWeights

/// The command line's error paths: each bad input gets a clear message, never a crash.
@Suite struct CLIErrorTests {
    static func parse(_ args: [String]) throws -> any ParsableCommand {
        try StyleFarmCommand.parseAsRoot(args)
    }

    static func message(_ args: [String]) -> String {
        do {
            _ = try parse(args)
            return ""
        } catch {
            return StyleFarmCommand.message(for: error)
        }
    }

    /// Z85 keys may begin with "-": as a separate argument such a key reads as an option (the embedded farm's
    /// workers once failed to start that way, about one run in 85), so keys travel as `--option=KEY`.
    @Test func keysThatBeginWithADashParseInTheEqualsForm() throws {
        let key = "-" + String(repeating: "a", count: 39)
        #expect(!Self.message(["worker", "--connect", "tcp://127.0.0.1:1", "--server-key", key]).isEmpty)
        #expect(Self.message(["worker", "--connect", "tcp://127.0.0.1:1", "--server-key=\(key)"]).isEmpty)
        #expect(Self.message(["worker", "--connect", "tcp://127.0.0.1:1", "--max-memory", "1.5G"]).isEmpty)
        #expect(
            Self.message(["worker", "--connect", "tcp://127.0.0.1:1", "--max-memory", "lots"]).contains("--max-memory"))
    }

    @Test func retentionsParse() {
        for good in ["7d", "12h", "30m", "90s", "3600", "0"] {
            #expect(Self.message(["coordinator", "--insecure", "--retention", good]).isEmpty, "\(good)")
        }
    }

    @Test func helpNamesEverySubcommand() throws {
        let help = StyleFarmCommand.helpMessage()
        for sub in ["render", "weights", "bench"] { #expect(help.contains(sub), "help lacks \(sub)") }
        let render = StyleFarmCommand.configuration.subcommands.first { $0.configuration.commandName == "render" }
        let renderHelp = try #require(render.map { StyleFarmCommand.helpMessage(for: $0) })
        for option in [
            "--iterations", "--optimizer", "--style-blend", "--preserve-colors", "--checkpoint-every", "--seed"
        ] {
            #expect(renderHelp.contains(option), "render help lacks \(option)")
        }
    }

    @Test(arguments: [
        (["render", "a.png", "b.png", "-o", "o.png", "--size", "0"], "--size: must be between 16 and 100000"),
        (["render", "a.png", "b.png", "-o", "o.png", "--size", "big"], "--size"),
        (["render", "a.png", "b.png", "-o", "o.png", "--optimizer", "sgd"], "'sgd' is invalid for '--optimizer"),
        (["render", "a.png", "b.png", "-o", "o.png", "--pooling", "min"], "'min' is invalid for '--pooling"),
        (["render", "a.png", "b.png", "-o", "o.png", "--style-layers", "relu9_9"], "unknown layer 'relu9_9'"),
        (["render", "a.png", "b.png", "c.png", "-o", "o.png", "--style-blend", "1"], "--style-blend needs 2"),
        (["render", "a.png", "b.png", "-o", "o.png", "--bit-depth", "12"], "--bit-depth: must be 8 or 16"),
        (["render", "a.png", "b.png", "-o", "o.png", "--threads", "0"], "--threads must be between"),
        (
            ["render", "a.png", "b.png", "-o", "o.png", "--tile", "256", "--overlap", "200"],
            "--overlap: must be less than half of the tile size"
        ),
        (["render", "a.png", "b.png", "-o", "o.png", "--lbfgs-history", "0"], "--lbfgs-history: must be 1...1000"),
        (["plan", "--level-iterations", "100,x"], "--level-iterations: expected comma-separated values"),
        (["render", "a.png"], "Missing expected argument"),
        (["video", "clip", "-o", "out"], "give at least one --style"),
        (
            ["video", "clip", "--style", "s.png", "-o", "out", "--temporal-weight", "1"],
            "--temporal-weight needs --flow"
        ),
        (
            ["video", "clip", "--style", "s.png", "-o", "out", "--start", "sideways"],
            "'sideways' is invalid for '--start"
        ),
        (
            ["video", "clip", "--style", "s.png", "-o", "out", "--start", "independent", "--flow"],
            "--flow warps the previous result"
        ),
        (
            ["video", "clip", "--style", "s.png", "-o", "out", "--video", "clip.avi"],
            "use .mp4, .mkv, .mov, .webm or .gif"
        ),
        (
            ["video", "clip", "--style", "s.png", "-o", "out", "--local-farm", "2", "--connect", "tcp://127.0.0.1:1"],
            "not combined with --connect"
        ),
        (["render", "a.png", "b.png", "-o", "o.png", "--region", "pink"], "--region: expected COLOR=STYLES[:WEIGHT]"),
        (
            ["render", "a.png", "b.png", "-o", "o.png", "--region", "#123=1*x"],
            "--region: expected COLOR=STYLES[:WEIGHT]"
        ),
        (
            ["render", "a.png", "b.png", "-o", "o.png", "--region-mask", "r.png", "--region", "#12=1"],
            "--region: expected #rrggbb, R,G,B or a gray level"
        ),
        (
            ["render", "a.png", "b.png", "-o", "o.png", "--region", "black=1"],
            "--region-mask: [[region]] tables need a region-mask"
        ),
        (
            [
                "render", "a.png", "b.png", "-o", "o.png", "--region-mask", "r.png", "--region", "black=1",
                "--region-feather", "2"
            ],
            "--region-feather: must be in [0, 0.25]"
        ),
        (["frobnicate"], "Unexpected argument 'frobnicate'"),
        (["coordinator", "--insecure", "--retention", "a week"], "--retention must be a duration such as 7d"),
        (["coordinator", "--insecure", "--retention=-1d"], "--retention must be a duration"),
        (["coordinator", "--allow", "keys"], "Unknown option '--allow'")
    ])
    func badArgumentsAreExplained(args: [String], expected: String) {
        let text = Self.message(args)
        #expect(text.contains(expected), "got: \(text)")
    }

    /// Every field of a job description has its option, and `render` (or `submit`, for name and priority) takes it.
    @Test func everyJobFieldHasAnOption() throws {
        let options = StyleFarmCommand.jobFieldOptions
        #expect(Set(options.keys) == Set(JobDescription.fieldPaths + ["name", "priority", "content", "style"]))
        let render = try #require(
            StyleFarmCommand.configuration.subcommands.first { $0.configuration.commandName == "render" })
        let help = StyleFarmCommand.helpMessage(for: render)
        for option in options.values where option.hasPrefix("--") && !["--name", "--priority"].contains(option) {
            #expect(help.contains(option), "render's help lacks \(option)")
        }
    }

    /// `--region COLOR=STYLES[:WEIGHT]` in all its forms, into the job's regions.
    @Test func regionsParse() throws {
        #expect(
            try ["#87ceeb=2", "0,0,0=1*0.7+2*0.3:2", "white=none"].map(StyleFarmCommand.region) == [
                .init(color: "#87ceeb", styles: [2]),
                .init(color: "0,0,0", styles: [1, 2], blend: [0.7, 0.3], weight: 2),
                .init(color: "255", styles: [])
            ])
    }

    /// A region mask that does not fit the content, or names a colour no region has, is an error naming the file.
    @Test func badMasksAreNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("masks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let demo = JobDescriptionTests.repo.appendingPathComponent("Assets/demo")
        func problem(_ mask: PlanarImage) throws -> String {
            let url = dir.appendingPathComponent("mask-\(mask.width)x\(mask.height).png")
            try ImageIO.write(mask, to: url, bitDepth: 8)
            var d = JobDescription()
            (d.content, d.output) = (
                demo.appendingPathComponent("chelsea.png").path, dir.appendingPathComponent("o.png").path
            )
            d.style = [.init(image: demo.appendingPathComponent("hokusai_great_wave.jpg").path)]
            (d.regionMask, d.region) = (url.path, [.init(color: "0", styles: [1]), .init(color: "255", styles: [])])
            do { _ = try LocalRender(d) } catch { return "\(error)" }
            Issue.record("mask accepted")
            return ""
        }
        let square = try problem(PlanarImage(width: 100, height: 100, channels: 1, fill: 0))
        #expect(square.contains("mask-100x100.png is 100x100 but the content is 451x300"), "\(square)")
        var gray = PlanarImage(width: 451, height: 300, channels: 1, fill: 0)
        gray[0, 10, 20] = 0.5
        let unknown = try problem(gray)
        #expect(
            unknown.contains("mask-451x300.png the colour [128, 128, 128] at (20, 10) names no region"), "\(unknown)")
    }

    @Test func missingContentFileIsNamed() throws {
        var command = try Self.parse(["render", "/nonexistent/cat.png", "/nonexistent/wave.jpg", "-o", "/tmp/o.png"])
        do {
            try command.run()
            Issue.record("rendering a missing file succeeded")
        } catch let e as ImageError {
            #expect(e == .fileNotFound("/nonexistent/cat.png"))
            #expect(e.description.contains("/nonexistent/cat.png"))
        }
    }

    @Test func missingWeightsFileIsExplained() throws {
        var command = try Self.parse(["weights", "verify", "/nonexistent/w.sfw"])
        do {
            try command.run()
            Issue.record("verifying a missing weights file succeeded")
        } catch let e as WeightsError {
            #expect(e.description.contains("stylefarm weights install"))
        }
    }

    @Test func videoWithoutFramesSaysWhereItLooked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("empty-clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for frames in [dir.path, dir.appendingPathComponent("frame_%04d.png").path] {
            var command = try Self.parse([
                "video", frames, "--style", "s.png", "-o", dir.appendingPathComponent("out").path
            ])
            #expect { try command.run() } throws: { "\($0)" == "\(frames): no frames found" }
        }
        #expect(
            Self.message(["video", "--size", "64", "--style", "s.png", "-o", dir.path]).contains(
                "Missing expected argument '<frames>'"))
    }
}
