import Foundation
import Imaging
import JobModel
import Rendering
import StyleCore
import Testing
import VGGWeights
import Video

/// The multi-pass video (Ruder et al.'s later passes, backward and forward in turn) in this process on the real
/// weights, tiny and short: what a later pass changes, what the manifest records, and an interrupted pass resumed
/// to the same bytes.
@Suite(.serialized) struct MultiPassVideoTests {

    static func render(_ out: URL, passes: Int, stopAfter: Int? = nil) throws {
        var d = JobDescription()
        d.style = [.init(image: VideoCommandTests.style.path)]
        var size = JobDescription.Size()
        (size.width, size.height) = (48, 27)
        d.size = size
        d.optimizer = .init()
        d.optimizer?.iterations = 6
        d.tiling = .init()
        d.tiling?.styleSize = 64
        let frames = try FrameSequence(VideoCommandTests.clip.path).files
        var render = VideoRender(frames: frames, numbers: [1, 2, 3, 4], outputDirectory: out, description: d)
        (render.flow, render.temporalWeight, render.temporalFrames, render.passes) = (true, 1e6, [1, 2], passes)
        var asked = 0
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve()))
        _ = try render.run(
            on: InProcessFrames(network: network, threads: 2),
            shouldStop: {
                asked += 1
                return stopAfter.map { asked > $0 } ?? false
            }, progress: { _ in })
    }

    static func frames(_ out: URL) throws -> [Data] {
        try (1 ... 4).map { try Data(contentsOf: out.appendingPathComponent(String(format: "frame_%04d.png", $0))) }
    }

    @Test func aSecondPassRefinesEveryFrameAndResumesToTheSameBytes() throws {
        let dir = try VideoCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two"),
            resumed = dir.appendingPathComponent("resumed")
        try Self.render(one, passes: 1)
        try Self.render(two, passes: 2)
        // Every frame of the second pass (backward: 4, 3, 2, 1) starts from its first-pass result and changes.
        for (a, b) in zip(try Self.frames(one), try Self.frames(two)) { #expect(a != b) }
        let manifest = try VideoCommandTests.manifest(two)
        #expect(manifest.frames.values.allSatisfy { $0.pass == 2 } && manifest.settings["passes"] == "2")
        #expect(manifest.frames["frame_0004.png"]?.flicker == nil && manifest.frames["frame_0001.png"]?.flicker != nil)
        // Stopped in the middle of the second pass (after 4 + 2 frames), then run again: the same bytes.
        #expect(throws: RenderFailure.self) { try Self.render(resumed, passes: 2, stopAfter: 6) }
        let midway = try VideoCommandTests.manifest(resumed)
        #expect(midway.frames.values.map { $0.pass ?? 1 }.sorted() == [1, 1, 2, 2])
        try Self.render(resumed, passes: 2)
        #expect(try Self.frames(resumed) == Self.frames(two))
    }
}
