import FarmCoordinator
import FarmProtocol
import Foundation
import GRDB
import Testing

/// The coordinator's state directory under fire, with real processes (Docs/operations.md, "State directory" and
/// "A full disk"): a journal poisoned with every job that once crashed a restart, a second coordinator on the same
/// directory, and a disk that fills mid-job.
@Suite(.serialized, .timeLimit(.minutes(5))) struct StateDirectoryTests {
    @Test func aRestartWithAPoisonedJournalFailsThoseJobsAndRendersTheNext() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let state = farm.dir.appendingPathComponent("state")
        try farm.startCoordinator()
        _ = try farm.waitFor("the coordinator", seconds: 20) { _ in true }

        let second = try Child(
            [
                "coordinator", "--bind", "tcp://127.0.0.1:\(TestFarm.freePort())", "--state", state.path, "--insecure",
                "--dashboard", "off"
            ], log: farm.dir.appendingPathComponent("second.log"))
        second.process.waitUntilExit()
        #expect(
            second.process.terminationStatus != 0 && second.output.contains("another coordinator is using it"),
            "a second coordinator on one state directory is refused: \(second.output)")
        farm.coordinator?.signal(SIGTERM)
        farm.coordinator?.process.waitUntilExit()

        // Each crash case of issue 21, stored as an older version or a hand edit would have stored it.
        var poisoned: [(id: JobID, spec: JobSpec)] = []
        for (id, history) in [(JobID("jhistorymax"), Int.max), (JobID("jhistoryzero"), 0)] {
            var spec = SmallJob.spec
            spec.poster.options.optimizer = .lbfgs(history: history)
            poisoned.append((id, spec))
        }
        var huge = SmallJob.spec
        (huge.poster.width, huge.poster.height) = (4_294_967_296, 4_294_967_296)
        poisoned.append(("jhuge", huge))
        do {
            let journal = try Journal(directory: state)
            for p in poisoned { _ = try journal.add(job: p.id, spec: p.spec, inputs: [[1], [2]], submitted: 0) }
        }
        try DatabaseQueue(path: state.appendingPathComponent("farm.sqlite").path).write { db in
            try db.execute(
                sql:
                    "INSERT INTO job (id, seq, spec, state, inputs, created) VALUES ('jgarbled', 90, '{not json', 'queued', 2, 0)"
            )
            try db.execute(
                sql:
                    "INSERT INTO job (id, seq, spec, state, inputs, created) SELECT '../../escape', 91, spec, 'queued', 2, 0 FROM job WHERE id = 'jhuge'"
            )
        }

        try farm.startCoordinator()
        try farm.startWorker()
        let status = try farm.waitFor("the restored jobs", seconds: 30) { s in
            poisoned.allSatisfy { p in s.jobs.contains { $0.id == p.id } }
        }
        for (p, field) in zip(poisoned, ["lbfgs.history", "lbfgs.history", "width"]) {
            let job = status.jobs.first { $0.id == p.id }
            #expect(
                job?.state == .failed && job?.detail?.contains(field) == true, "\(p.id): \(job?.detail ?? "missing")")
        }
        let log = farm.coordinator?.output ?? ""
        #expect(
            log.contains("job jgarbled its journal row cannot be read")
                && log.contains("job ../../escape its journal row cannot be read"))
        let marked = try DatabaseQueue(path: state.appendingPathComponent("farm.sqlite").path).read { db in
            try String.fetchAll(db, sql: "SELECT state FROM job WHERE id IN ('jgarbled', '../../escape')")
        }
        #expect(
            marked == ["failed", "failed"], "unreadable rows are recorded failed, so they are not read again as queued")
        #expect(try farm.finish(try SmallJob.submit(farm.client)) == reference, "the next job renders")
    }

    /// The state directory on a 32 MiB tmpfs that a filler file fills while the job runs: the coordinator stops
    /// leasing, keeps what it could not write, and when the filler is removed finishes the job with the same bytes.
    @Test func aDiskThatFillsMidJobLosesNothing() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let state = farm.dir.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let mount = try runCommand(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", state.path])
        try #require(mount.status == 0, "this test needs root to mount a tmpfs: \(mount.output)")
        defer { _ = try? runCommand(["umount", "-l", state.path]) }
        try farm.startCoordinator()
        try farm.startWorker()
        try farm.startWorker()
        let job = try SmallJob.submit(farm.client)

        let filler = state.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        for chunk in [1 << 20, 4096, 64] {
            while (try? handle.write(contentsOf: Data(count: chunk))) != nil {}
        }
        try? handle.close()
        _ = try farm.waitFor("the coordinator to notice the full disk", seconds: 60) { _ in
            farm.coordinator?.output.contains("storage full") == true
        }
        Thread.sleep(forTimeInterval: 3)
        let paused = try farm.client.status(job: job).jobs.first
        #expect(paused?.state.isFinal == false, "a full disk fails nothing: \(paused?.detail ?? "")")
        try FileManager.default.removeItem(at: filler)
        #expect(try farm.finish(job, seconds: 120) == reference, "nothing was lost")
        #expect(farm.coordinator?.output.contains("storage writable again") == true)
    }
}
