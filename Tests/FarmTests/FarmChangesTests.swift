import FarmMonitor
import FarmProtocol
import Testing

/// The event stream's changes (`FarmMonitor.changes(since:)`): a job's tiles travel one by one while its stage's
/// layout stays, all of them when it changes.
@Suite struct FarmChangesTests {
    static func job(stage: Int, states: [String]) -> JobView {
        let status = JobStatus(
            id: "j", name: "poster", priority: 50, state: .running, stage: stage, stages: 3, tilesDone: 0,
            tilesTotal: states.count, workFraction: 0, elapsed: 0)
        let tiles = states.enumerated().map { i, state in
            TileView(index: i, x: 10 * i, y: 0, width: 10, height: 10, state: state)
        }
        return JobView(
            status: status, level: 1, levels: 2, pass: "tiles", width: 10 * states.count, height: 10, tiles: tiles,
            tilesPerMinute: 0, eta: nil)
    }

    @Test func aChangedTileTravelsAloneAndANewStageSendsEveryTile() throws {
        let monitor = FarmMonitor()
        monitor.publish(FarmSnapshot(time: 1, jobs: [Self.job(stage: 1, states: ["pending", "pending", "pending"])]))
        let r1 = try #require(monitor.snapshot.revision)

        monitor.publish(FarmSnapshot(time: 2, jobs: [Self.job(stage: 1, states: ["pending", "rendering", "pending"])]))
        let one = try #require(monitor.changes(since: r1))
        #expect(one.jobs.count == 1 && one.jobs[0].tilesChangedOnly == true)
        #expect(one.jobs[0].tiles.map(\.index) == [1] && one.jobs[0].tiles[0].state == "rendering")

        let r2 = try #require(monitor.snapshot.revision)
        monitor.publish(FarmSnapshot(time: 3, jobs: [Self.job(stage: 1, states: ["done", "rendering", "pending"])]))
        #expect(
            try #require(monitor.changes(since: r2)).jobs[0].tiles.map(\.index) == [0], "only what changed since r2")
        #expect(try #require(monitor.changes(since: r1)).jobs[0].tiles.map(\.index) == [0, 1], "everything since r1")

        let r3 = try #require(monitor.snapshot.revision)
        monitor.publish(FarmSnapshot(time: 4, jobs: [Self.job(stage: 1, states: ["done", "rendering", "pending"])]))
        #expect(monitor.snapshot.revision == r3, "nothing changed, no new revision")

        monitor.publish(FarmSnapshot(time: 5, jobs: [Self.job(stage: 2, states: ["pending", "pending"])]))
        let next = try #require(monitor.changes(since: r3))
        #expect(
            next.jobs[0].tilesChangedOnly == nil && next.jobs[0].tiles.count == 2, "a new stage's layout: every tile")
        #expect(
            try #require(monitor.changes(since: r1)).jobs[0].tilesChangedOnly == nil,
            "older than the layout: every tile")
    }
}
