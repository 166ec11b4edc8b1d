import Foundation
import Imaging
import JobModel
import Rendering
import StyleCore
import StyleFarmCLI
import Testing
import VGGWeights

/// `stylefarm render` end to end on the real weights, small and short.
@Suite struct RenderCommandTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func render(_ out: URL, extra: [String] = []) throws {
        var command = try StyleFarmCommand.parseAsRoot(
            [
                "render", repo.appendingPathComponent("Assets/demo/chelsea.png").path,
                repo.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path,
                "-o", out.path, "--size", "48", "--iterations", "4", "--dpi", "300", "--seed", "5", "--threads", "2"
            ] + extra)
        try command.run()
    }

    @Test func sameSeedAndThreadsGiveByteIdenticalOutput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.png"), b = dir.appendingPathComponent("b.png")
        try Self.render(a, extra: ["--initialisation", "noise"])
        try Self.render(b, extra: ["--initialisation", "noise"])
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
        let loaded = try ImageIO.read(a)
        #expect(loaded.image.width == 48 && loaded.image.height == 32)
        #expect(loaded.bitDepth == 16 && loaded.dpi == 300)
        // A different seed starts from different noise.
        let c = dir.appendingPathComponent("c.png")
        try Self.render(c, extra: ["--initialisation", "noise", "--seed", "6"])
        #expect(try Data(contentsOf: a) != Data(contentsOf: c))
    }

    @Test func checkpointsAreWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.render(dir.appendingPathComponent("out.png"), extra: ["--checkpoint-every", "2", "--bit-depth", "8"])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["out.iter0002.png", "out.iter0004.png", "out.png"])
        #expect(try ImageIO.read(dir.appendingPathComponent("out.png")).bitDepth == 8)
    }

    @Test func tiledRenderRefusesUntiledOnlyOptions() throws {
        var command = try StyleFarmCommand.parseAsRoot([
            "render", Self.repo.appendingPathComponent("Assets/demo/chelsea.png").path,
            Self.repo.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path,
            "-o", "/tmp/never-written.png", "--width", "1024", "--height", "1024", "--initialisation", "noise"
        ])
        #expect { try command.run() } throws: { StyleFarmCommand.message(for: $0).contains("apply to untiled renders") }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written.png"))
    }

    @Test func corruptStyleImageIsNamedAndNothingIsWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = try Data(contentsOf: Self.repo.appendingPathComponent("Assets/demo/chelsea.png"))
        let broken = dir.appendingPathComponent("broken.png")
        try png.prefix(png.count / 3).write(to: broken)
        let out = dir.appendingPathComponent("out.png")
        var command = try StyleFarmCommand.parseAsRoot([
            "render", Self.repo.appendingPathComponent("Assets/demo/chelsea.png").path, broken.path, "-o", out.path
        ])
        #expect { try command.run() } throws: { ($0 as? ImageError)?.path == broken.path }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    /// A render that cannot fit this process is refused before any compute, saying how much it needs and what
    /// does fit; the memory available is given, so the decision is the same on any machine.
    @Test func aRenderThatCannotFitIsRefusedUpFront() throws {
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve()))
        var job = JobDescription()
        job.content = Self.repo.appendingPathComponent("Assets/demo/chelsea.png").path
        job.style = [.init(image: Self.repo.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path)]
        job.output =
            FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString).png").path
        var size = JobDescription.Size()
        (size.width, size.height) = (4096, 4096)
        job.size = size
        let poster = try LocalRender(job)
        // Four whole 4096² RGB float canvases (768 MiB) and the largest tile's optimisation: more than 1 GiB.
        #expect(poster.peakBytes(network: network) > 4 * 12 * 4096 * 4096)
        #expect { try poster.checkFits(network: network, available: 1 << 30) } throws: {
            "\($0)".contains("needs about") && "\($0)".contains("--local-farm")
        }
        try poster.checkFits(network: network, available: 1 << 36)
        (size.width, size.height) = (64, 64)
        job.size = size
        try LocalRender(job).checkFits(network: network, available: 1 << 30)
        #expect(!FileManager.default.fileExists(atPath: job.output ?? ""))
    }
}
