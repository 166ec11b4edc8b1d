import FarmCoordinator
import FarmProtocol
import Foundation
import Imaging
import StyleCore
import Testing

@Suite struct JournalTests {
    func spec() -> JobSpec {
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        return JobSpec(
            name: "j", poster: PosterJob(content: blank, styles: [], width: 64, height: 64).settings,
            styleWeights: [1], crop: false)
    }

    @Test func jobsTilesAndStagesSurviveAReopen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tile = PlanarImage(width: 3, height: 2, channels: 3, pixels: (0 ..< 18).map { Float($0) / 17 })
        do {
            let j = try Journal(directory: dir)
            _ = try j.add(job: "a", spec: spec(), inputs: [[1, 2, 3], [4]], submitted: 100)
            try j.tileFinished(job: "a", stage: 0, tile: 0, pixels: tile, worker: "w", seconds: 1)
            try j.stageFinished(job: "a", stage: 0, width: 3, height: 2) { try $0.write(tile, y: 0) }
            try j.tileFinished(job: "a", stage: 1, tile: 4, pixels: tile, worker: "w", seconds: 1)
            try j.setState(job: "a", .running, at: 200)
            try j.setState(job: "a", .running, at: 300)
        }
        let j = try Journal(directory: dir)
        let jobs = try j.jobs().jobs
        #expect(jobs.count == 1 && jobs[0].spec == spec() && jobs[0].stage == 1 && jobs[0].state == .running)
        #expect(
            jobs[0].submitted == 100 && jobs[0].started == 200 && jobs[0].finished == nil,
            "the times the coordinator gave, the first running kept")
        #expect(try Data(contentsOf: jobs[0].inputs[0]) == Data([1, 2, 3]))
        #expect(try j.canvas(job: "a", stage: 0).whole() == tile)
        var read: [Int: PlanarImage] = [:]
        let finished = try j.finishedTiles(job: "a", stage: 1) { read[$0] = $1 }
        #expect(read == [4: tile] && finished.done == [4] && finished.forgotten.isEmpty)
        #expect(
            try j.tile(job: "a", stage: 1, tile: 4).region(x: 1, y: 1, width: 2, height: 1)
                == tile.cropped(x: 1, y: 1, width: 2, height: 1))
    }

    @Test func tornTileRecordsAreForgottenNotFatal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tile = PlanarImage(width: 4, height: 4, channels: 3, fill: 0.5)
        do {
            let j = try Journal(directory: dir)
            _ = try j.add(job: "a", spec: spec(), inputs: [[1]], submitted: 0)
            for t in 0 ..< 3 { try j.tileFinished(job: "a", stage: 0, tile: t, pixels: tile, worker: "w", seconds: 1) }
        }
        let jobDir = dir.appendingPathComponent("jobs/a")
        // Tile 1's file torn in half, tile 2's gone, and a half-written temporary file left behind.
        let t1 = jobDir.appendingPathComponent("s0-t1.px")
        try Data(try Data(contentsOf: t1).prefix(40)).write(to: t1)
        try FileManager.default.removeItem(at: jobDir.appendingPathComponent("s0-t2.px"))
        try Data([1, 2, 3]).write(to: jobDir.appendingPathComponent("s0-t3.px.tmp"))
        let reopened = try Journal(directory: dir)
        let finished = try reopened.finishedTiles(job: "a", stage: 0)
        #expect(finished.done == [0] && finished.forgotten.sorted() == [1, 2])
        #expect(try reopened.finishedTiles(job: "a", stage: 0).forgotten.isEmpty, "the torn rows are gone")
        #expect(
            !FileManager.default.fileExists(atPath: jobDir.appendingPathComponent("s0-t3.px.tmp").path),
            "the temporary file is gone")
    }

    @Test func aStageWhoseCanvasCannotBeWrittenLeavesNothingBehind() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let j = try Journal(directory: dir)
        _ = try j.add(job: "a", spec: spec(), inputs: [[1]], submitted: 0)
        struct Broken: Error {}
        #expect(throws: Broken.self) {
            try j.stageFinished(job: "a", stage: 0, width: 8, height: 8) { _ in throw Broken() }
        }
        #expect(try j.jobs().jobs[0].stage == 0, "the stage is not recorded as finished")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("jobs/a").path)
        #expect(left.allSatisfy { $0.hasPrefix("input-") }, "no canvas or temporary file: \(left)")
    }

    /// Two coordinators on one state directory would corrupt each other: the second is refused while the first
    /// holds it, and the directory is free again once the first is gone.
    @Test func aSecondJournalOnTheSameDirectoryIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let first = try Journal(directory: dir)
            #expect { try Journal(directory: dir) } throws: { "\($0)".contains("another coordinator is using it") }
            _ = try first.jobs()
        }
        _ = try Journal(directory: dir)
    }
}
