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

    static func render(
        _ out: URL, passes: Int, stopAfter: Int? = nil, schedule: VideoRender.Schedule = .sequential
    ) throws {
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
        render.schedule = schedule
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

    /// The parallel schedule: pass 1 renders every frame from its content (the sequential schedule's first frame),
    /// pass 2 starts every frame from pass 1's files in `.pass-1/`; stopped in the middle of pass 1 and run again, it
    /// renders the same bytes and records every frame of both passes with its flicker.
    @Test func theParallelScheduleStartsEachPassFromThePassBeforeAndResumes() throws {
        let dir = try VideoCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sequential = dir.appendingPathComponent("sequential"), parallel = dir.appendingPathComponent("parallel"),
            resumed = dir.appendingPathComponent("resumed")
        try Self.render(sequential, passes: 2)
        try Self.render(parallel, passes: 2, schedule: .parallel)
        let pass1 = try (1 ... 4).map {
            try Data(contentsOf: parallel.appendingPathComponent(String(format: ".pass-1/frame_%04d.png", $0)))
        }
        // Frame 1 of pass 1 is frame 1 of the sequential schedule's pass 1: both from the content alone.
        let one = dir.appendingPathComponent("one")
        try Self.render(one, passes: 1)
        let alone = try Self.frames(one)
        #expect(pass1[0] == alone[0] && pass1[1] != alone[1])
        for (a, b) in zip(try Self.frames(sequential), try Self.frames(parallel)) { #expect(a != b) }
        let m = try VideoCommandTests.manifest(parallel)
        #expect(m.frames.count == 8 && m.settings["schedule"] == "parallel")
        #expect(m.frames["frame_0004.png"]?.flicker == nil && m.frames["frame_0001.png"]?.flicker != nil)
        // Asked once as the pass starts, then before each frame: stopped before pass 1's third frame.
        #expect(throws: RenderFailure.self) { try Self.render(resumed, passes: 2, stopAfter: 3, schedule: .parallel) }
        #expect(
            try VideoCommandTests.manifest(resumed).frames.keys.sorted() == [
                ".pass-1/frame_0001.png", ".pass-1/frame_0002.png"
            ])
        try Self.render(resumed, passes: 2, schedule: .parallel)
        #expect(try Self.frames(resumed) == Self.frames(parallel))
        #expect(try VideoCommandTests.manifest(resumed).frames.mapValues(\.flicker) == m.frames.mapValues(\.flicker))
    }
}
