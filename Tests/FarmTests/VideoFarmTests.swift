import Foundation
import Testing
import Video

/// `stylefarm video` on a farm of real processes on loopback: each frame's tiles spread over the workers,
/// and a video command killed mid-sequence resumes without redoing a finished frame or resubmitting the frame
/// in flight, to the same bytes as an uninterrupted run.
@Suite(.serialized, .timeLimit(.minutes(5))) struct VideoFarmTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// 96×54 frames: frame 1 coarse-to-fine (48×27, then 2×2 tiles in two passes), frames 2 and 3 the tiled
    /// output level only, from the flow-warped previous result, with the temporal loss.
    static func arguments(_ farm: TestFarm, out: URL) -> [String] {
        [
            "video", root.appendingPathComponent("Assets/video/bbb_burrow").path,
            "--style", root.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path, "-o", out.path,
            "--connect", farm.endpoint, "--insecure", "--frame-count", "3", "--flow", "--temporal-weight", "1e6",
            "--size", "96", "--coarse-size", "48", "--tile", "48", "--overlap", "8", "--margin", "8",
            "--level-iterations", "8,12",
            "--style-size", "96"
        ]
    }

    static func manifest(_ out: URL) -> VideoManifest? {
        (try? Data(contentsOf: out.appendingPathComponent(VideoManifest.fileName))).flatMap {
            try? JSONDecoder().decode(VideoManifest.self, from: $0)
        }
    }

    static func waitUntil(_ what: String, seconds: Double, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw FarmTestError.timeout(what, "") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    @Test func framesSpreadOverWorkersAndAKilledVideoResumesToTheSameBytes() throws {
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        try farm.startWorker()

        // Uninterrupted.
        let whole = farm.dir.appendingPathComponent("whole")
        let run = try Child(Self.arguments(farm, out: whole), log: farm.dir.appendingPathComponent("whole.log"))
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.output)")
        let m = try #require(Self.manifest(whole))
        #expect(m.frames.keys.sorted() == ["frame_0001.png", "frame_0002.png", "frame_0003.png"] && m.pending == nil)
        #expect(m.frames["frame_0001.png"]?.flicker == nil && m.frames["frame_0003.png"]?.flicker != nil)
        let jobs = try farm.client.status().jobs.filter { $0.name.hasPrefix("whole/") }
        // One job per frame; frames 2 and 3 have only the output level's two tiled passes.
        #expect(jobs.count == 3 && jobs.allSatisfy { $0.state == .done })
        #expect(jobs.filter { $0.stages == 2 }.count == 2 && jobs.filter { $0.stages == 3 }.count == 1)
        let workers = try farm.client.status().workers
        #expect(
            workers.count == 2 && workers.allSatisfy { $0.tiles >= 3 },
            "both workers render tiles: \(workers.map(\.tiles))")

        // Killed while frame 3 is on the farm, then run again.
        let resumed = farm.dir.appendingPathComponent("resumed")
        let first = try Child(Self.arguments(farm, out: resumed), log: farm.dir.appendingPathComponent("resumed-1.log"))
        try Self.waitUntil("frame 3 to be submitted", seconds: 120) {
            Self.manifest(resumed)?.pending?.output == "frame_0003.png"
        }
        first.signal(SIGKILL)
        first.stop()
        let before = try [1, 2].map { try Data(contentsOf: resumed.appendingPathComponent("frame_000\($0).png")) }
        let second = try Child(
            Self.arguments(farm, out: resumed), log: farm.dir.appendingPathComponent("resumed-2.log"))
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0, "\(second.output)")
        #expect(second.output.contains("frame_0002.png already done"))
        let after = try [1, 2].map { try Data(contentsOf: resumed.appendingPathComponent("frame_000\($0).png")) }
        #expect(before == after, "finished frames were rewritten")
        #expect(
            try farm.client.status().jobs.filter { $0.name.hasPrefix("resumed/") }.count == 3,
            "the frame in flight was submitted twice")
        for n in 1 ... 3 {
            let name = "frame_000\(n).png"
            #expect(
                try Data(contentsOf: whole.appendingPathComponent(name))
                    == Data(contentsOf: resumed.appendingPathComponent(name)),
                "\(name) differs between the uninterrupted and the resumed run")
        }
    }

    /// A 3-frame clip with long-term consistency (1, 2 back) and two passes, 96×54 in 48-px tiles.
    static func multiPass(out: URL) -> [String] {
        [
            "video", Self.root.appendingPathComponent("Assets/video/bbb_burrow").path,
            "--style", Self.root.appendingPathComponent("Assets/demo/hokusai_great_wave.jpg").path, "-o", out.path,
            "--frame-count", "3", "--flow", "--temporal-weight", "1e6", "--temporal-frames", "1,2", "--passes", "2",
            "--size", "96", "--coarse-size", "48", "--tile", "48", "--overlap", "8", "--margin", "8",
            "--level-iterations", "8,12", "--style-size", "96"
        ]
    }

    /// Runs `arguments` to the end and returns the three frames' bytes.
    static func frames(_ arguments: [String], out: URL, log: URL) throws -> [Data] {
        let run = try Child(arguments, log: log)
        run.process.waitUntilExit()
        #expect(run.process.terminationStatus == 0, "\(run.output)")
        return try (1 ... 3).map { try Data(contentsOf: out.appendingPathComponent("frame_000\($0).png")) }
    }

    /// Long-term consistency and a second pass on an embedded farm render the bytes of the in-process render: the
    /// composed temporal target and the blended start travel to the farm as the in-process render uses them.
    @Test func longTermAndMultiPassOnAFarmRenderTheInProcessBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "videofarm-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let outputs = try [("in-process", [String]()), ("farm", ["--local-farm", "2"])].map { name, extra in
            let out = dir.appendingPathComponent(name)
            return try Self.frames(
                Self.multiPass(out: out) + extra, out: out, log: dir.appendingPathComponent("\(name).log"))
        }
        for n in 0 ..< 3 {
            #expect(outputs[0][n] == outputs[1][n], "frame \(n + 1) differs between the farm and this process")
        }
    }

    /// The parallel schedule on a farm of two workers: every frame of a pass is submitted before any of them
    /// finishes, passes before the last are kept apart in `.pass-K/`, and the frames are the in-process bytes.
    @Test func theParallelScheduleHasAPassInFlightAtOnceAndTheInProcessBytes() throws {
        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker()
        try farm.startWorker()
        let local = farm.dir.appendingPathComponent("local"), remote = farm.dir.appendingPathComponent("par")
        let inProcess = try Self.frames(
            Self.multiPass(out: local) + ["--schedule", "parallel"], out: local,
            log: farm.dir.appendingPathComponent("local.log"))
        let onFarm = try Self.frames(
            Self.multiPass(out: remote) + ["--schedule", "parallel", "--connect", farm.endpoint, "--insecure"],
            out: remote, log: farm.dir.appendingPathComponent("par.log"))
        for n in 0 ..< 3 {
            #expect(inProcess[n] == onFarm[n], "frame \(n + 1) differs between the farm and this process")
        }
        let m = try #require(Self.manifest(remote))
        #expect(
            m.frames.keys.sorted() == (1 ... 3).map { ".pass-1/frame_000\($0).png" }
                + (1 ... 3).map { "frame_000\($0).png" })
        #expect(m.inFlight == nil && m.settings["schedule"] == "parallel")
        let jobs = try farm.client.status().jobs.filter { $0.name.hasPrefix("par/") }
        for pass in [jobs.filter { $0.name.contains(".pass-1/") }, jobs.filter { !$0.name.contains(".pass-1/") }] {
            let submitted = pass.compactMap(\.submitted), finished = pass.compactMap(\.finished)
            #expect(pass.count == 3 && submitted.count == 3 && finished.count == 3)
            #expect(
                (submitted.max() ?? .infinity) < (finished.min() ?? 0),
                "every frame of the pass in flight at once: submitted \(submitted), finished \(finished)")
        }
    }
}
