import FarmProtocol
import Foundation
import GRDB
import Imaging

/// The coordinator's persistent state under `--state DIR` (Docs/operations.md, "State directory"):
/// - `farm.sqlite` (GRDB): jobs, their current stage and state, and every finished tile;
/// - `jobs/ID/` files: the submitted images, finished tiles' pixels (`sS-tT.px`), finished stages' canvases
///   (`stage-S.px`) and the output.
/// Pixels are written first (to a temporary file, fsynced, renamed), the row that points at them second, so
/// after a `kill -9` a row always has its file; a file without a row is simply written again.
public final class Journal: Sendable {
    public let directory: URL
    let db: DatabaseQueue
    /// `DIR/lock`, held with `flock` for the journal's life: two coordinators on one state directory would
    /// silently corrupt each other's jobs, so the second is refused at start. The kernel drops the lock when the
    /// process dies, so a coordinator killed with -9 never blocks its own restart.
    let lock: Int32

    public struct StoredJob: Sendable {
        public var id: JobID
        public var seq: Int
        public var spec: JobSpec
        public var state: JobState
        public var detail: String?
        /// The first stage not yet finished.
        public var stage: Int
        public var inputs: [URL]
        /// The submitting client's key ("" for plaintext, and for jobs journaled before owners were).
        public var owner = ""
        /// Set by hand (`ControlBody`): the priority (nil: the spec's) and whether it is paused.
        public var priority: Int?
        public var paused = false
        /// Unix seconds: submitted, first ran, ended.
        public var submitted: Double?
        public var started: Double?
        public var finished: Double?
        /// Preparations begun and not ended (`preparationBegan`): each one a coordinator that died while decoding the
        /// job's inputs and computing its targets.
        public var preparing = 0
    }

    /// A job whose preparation was under way when the coordinator died this many times is failed at the next start
    /// (`Coordinator.restore`): whatever in it kills the coordinator (a decompression bomb past every check, say)
    /// cannot crash-loop the farm. Two, so that one unrelated kill -9 during a preparation is forgiven.
    public static let preparationDeaths = 2

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("jobs"), withIntermediateDirectories: true)
        lock = open(directory.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else {
            throw JournalError.locked(directory.path, "cannot open its lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw JournalError.locked(
                directory.path, "another coordinator is using it (it holds \(directory.path)/lock)")
        }
        do {
            db = try Self.openDatabase(directory.appendingPathComponent("farm.sqlite"))
        } catch {
            close(lock)
            throw error
        }
        removeTemporaryFiles()
    }

    deinit { close(lock) }

    /// The database, migrated. Write-ahead logging: a commit appends to farm.sqlite-wal and fsyncs it, where the
    /// default rollback journal created, synced and deleted a file per transaction (a tile's row each); kept fully
    /// synchronous, so a committed row survives a power cut as well as a kill -9.
    static func openDatabase(_ url: URL) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.journalMode = .wal
        let db = try DatabaseQueue(path: url.path, configuration: configuration)
        // GRDB's WAL set-up chose NORMAL
        try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE job (
                        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL, detail TEXT,
                        stage INTEGER NOT NULL DEFAULT 0, inputs INTEGER NOT NULL, created REAL NOT NULL);
                    CREATE TABLE tile (
                        job TEXT NOT NULL REFERENCES job(id), stage INTEGER NOT NULL, tile INTEGER NOT NULL,
                        worker TEXT NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (job, stage, tile));
                    """)
        }
        migrator.registerMigration("v2-owner") { db in
            try db.execute(sql: "ALTER TABLE job ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("v3-control") { db in
            try db.execute(
                sql: """
                    ALTER TABLE job ADD COLUMN priority INTEGER;
                    ALTER TABLE job ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE job ADD COLUMN started REAL;
                    ALTER TABLE job ADD COLUMN finished REAL;
                    """)
        }
        migrator.registerMigration("v4-preparing") { db in
            try db.execute(sql: "ALTER TABLE job ADD COLUMN preparing INTEGER NOT NULL DEFAULT 0")
        }
        try migrator.migrate(db)
        return db
    }

    /// Deletes what a coordinator killed mid-write left: temporary files are never state (every file is written
    /// under a temporary name and renamed), and a gigapixel canvas's is gigabytes.
    func removeTemporaryFiles() {
        let fm = FileManager.default, jobs = directory.appendingPathComponent("jobs")
        for job in (try? fm.contentsOfDirectory(atPath: jobs.path)) ?? [] {
            let dir = jobs.appendingPathComponent(job)
            for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasSuffix(".tmp") {
                try? fm.removeItem(at: dir.appendingPathComponent(name))
            }
        }
    }

    func jobDirectory(_ id: JobID) -> URL { directory.appendingPathComponent("jobs/\(id)") }

    /// What a job id may look like (`admit` makes `j` and base-36 digits): 1 to 64 letters, digits, `-` and `_`. A row
    /// whose id is anything else (`../x`, written by hand) is never turned into a path.
    static func isJobID(_ id: String) -> Bool {
        (1 ... 64).contains(id.utf8.count)
            && id.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }
    }

    /// Stores a new job and its input files (content first, then styles), submitted at `submitted` (Unix seconds: the
    /// coordinator's clock, as every time the journal records).
    public func add(job id: JobID, spec: JobSpec, inputs: [[UInt8]], owner: String = "", submitted: Double) throws
        -> StoredJob
    {
        let dir = jobDirectory(id)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (i, bytes) in inputs.enumerated() {
            try DurableFile.write(Data(bytes), to: dir.appendingPathComponent("input-\(i)"))
        }
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        let seq = try db.write { db -> Int in
            let seq = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM job") ?? 0) + 1
            try db.execute(
                sql: "INSERT INTO job (id, seq, spec, state, inputs, created, owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [id.rawValue, seq, json, JobState.queued.rawValue, inputs.count, submitted, owner])
            return seq
        }
        var job = StoredJob(
            id: id, seq: seq, spec: spec, state: .queued, stage: 0, inputs: inputURLs(id, count: inputs.count),
            owner: owner)
        job.submitted = submitted
        return job
    }

    func inputURLs(_ id: JobID, count: Int) -> [URL] {
        (0 ..< count).map { jobDirectory(id).appendingPathComponent("input-\($0)") }
    }

    /// A job row that could not be read back, and why.
    public struct UnreadableJob: Sendable {
        public var id: JobID
        public var reason: String
    }

    /// Every job, oldest first. A row that cannot be read back (a spec that does not decode, a column of the wrong
    /// type: a journal edited or damaged by hand) comes back in `unreadable` with its reason instead of stopping the
    /// coordinator's start.
    public func jobs() throws -> (jobs: [StoredJob], unreadable: [UnreadableJob]) {
        try db.read { db in
            var jobs: [StoredJob] = [], unreadable: [UnreadableJob] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM job ORDER BY seq") {
                let id = JobID((try? row.decode(String.self, forColumn: "id")) ?? "?")
                do {
                    guard Self.isJobID(id.rawValue) else {
                        throw JournalError.corrupt("the job id is not 1 to 64 letters, digits, - and _")
                    }
                    let spec = try JSONDecoder().decode(
                        JobSpec.self, from: Data(try row.decode(String.self, forColumn: "spec").utf8))
                    let state = JobState(rawValue: try row.decode(String.self, forColumn: "state")) ?? .failed
                    let inputs = try row.decode(Int.self, forColumn: "inputs")
                    guard (1 ... FarmProtocol.Limits.maxPayloadFrames).contains(inputs) else {
                        throw JournalError.corrupt("\(inputs) input files")
                    }
                    var job = StoredJob(
                        id: id, seq: try row.decode(Int.self, forColumn: "seq"), spec: spec, state: state,
                        detail: try row.decode(String?.self, forColumn: "detail"),
                        stage: try row.decode(Int.self, forColumn: "stage"), inputs: inputURLs(id, count: inputs),
                        owner: try row.decode(String.self, forColumn: "owner"))
                    // Hand-set values out of range (a journal edited by hand) are ignored, not fatal.
                    job.priority = (try? row.decode(Int?.self, forColumn: "priority")).flatMap { $0 }.flatMap {
                        JobSpec.Limits.priority.contains($0) ? $0 : nil
                    }
                    job.paused = ((try? row.decode(Int.self, forColumn: "paused")) ?? 0) != 0
                    job.submitted = try? row.decode(Double.self, forColumn: "created")
                    job.started = (try? row.decode(Double?.self, forColumn: "started")).flatMap { $0 }
                    job.finished = (try? row.decode(Double?.self, forColumn: "finished")).flatMap { $0 }
                    job.preparing = max(0, (try? row.decode(Int.self, forColumn: "preparing")) ?? 0)
                    jobs.append(job)
                } catch {
                    unreadable.append(UnreadableJob(id: id, reason: "its journal row cannot be read: \(error)"))
                }
            }
            return (jobs, unreadable)
        }
    }

    /// Forgets a job: its tiles' and its own rows, then its directory (inputs, tiles, canvases, output).
    public func remove(job id: JobID) throws {
        guard Self.isJobID(id.rawValue) else { throw JournalError.corrupt("job id '\(id)'") }
        try db.write { db in
            try db.execute(sql: "DELETE FROM tile WHERE job = ?", arguments: [id.rawValue])
            try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id.rawValue])
        }
        let dir = jobDirectory(id)
        if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.removeItem(at: dir) }
    }

    /// Records a job's state at `now` (Unix seconds: the coordinator's clock); the first `running` stamps when it
    /// started, an end when it finished (a retry clears it).
    public func setState(job id: JobID, _ state: JobState, detail: String? = nil, at now: Double) throws {
        try db.write {
            try $0.execute(
                sql: """
                    UPDATE job SET state = ?, detail = ?,
                        started = CASE WHEN ? = 'running' THEN COALESCE(started, ?) ELSE started END,
                        finished = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN ? ELSE NULL END
                    WHERE id = ?
                    """, arguments: [state.rawValue, detail, state.rawValue, now, state.rawValue, now, id.rawValue])
        }
    }

    /// Records, durably, that the job's preparation begins (before its inputs are decoded); `preparationEnded` clears
    /// it. A count left behind is a coordinator that died preparing it.
    public func preparationBegan(job id: JobID) throws {
        try db.write {
            try $0.execute(sql: "UPDATE job SET preparing = preparing + 1 WHERE id = ?", arguments: [id.rawValue])
        }
    }

    public func preparationEnded(job id: JobID) throws {
        try db.write { try $0.execute(sql: "UPDATE job SET preparing = 0 WHERE id = ?", arguments: [id.rawValue]) }
    }

    /// Records a job's hand-set priority and pause.
    public func setControl(job id: JobID, priority: Int, paused: Bool) throws {
        try db.write {
            try $0.execute(
                sql: "UPDATE job SET priority = ?, paused = ? WHERE id = ?",
                arguments: [priority, paused ? 1 : 0, id.rawValue])
        }
    }

    /// A finished tile to record.
    public struct FinishedTile: Sendable {
        public var job: JobID
        public var stage: Int
        public var tile: Int
        public var pixels: PlanarImage
        public var worker: String
        public var seconds: Double

        public init(job: JobID, stage: Int, tile: Int, pixels: PlanarImage, worker: String, seconds: Double) {
            (self.job, self.stage, self.tile, self.pixels, self.worker, self.seconds) = (
                job, stage, tile, pixels, worker, seconds
            )
        }
    }

    /// Records finished tiles: each one's pixels, then all their rows in one transaction (one commit for however many
    /// tiles arrived while the previous ones were being written).
    public func tilesFinished(_ tiles: [FinishedTile]) throws {
        for t in tiles {
            try DurableFile.write(Self.encode(t.pixels), to: tileURL(t.job, stage: t.stage, tile: t.tile))
        }
        try db.write { db in
            for t in tiles {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO tile (job, stage, tile, worker, seconds) VALUES (?, ?, ?, ?, ?)",
                    arguments: [t.job.rawValue, t.stage, t.tile, t.worker, t.seconds])
            }
        }
    }

    /// Records one finished tile (`tilesFinished`).
    public func tileFinished(
        job id: JobID, stage: Int, tile: Int, pixels: PlanarImage, worker: String, seconds: Double
    ) throws {
        try tilesFinished([
            FinishedTile(job: id, stage: stage, tile: tile, pixels: pixels, worker: worker, seconds: seconds)
        ])
    }

    /// Who rendered each finished tile of a job (the worker's peer id) and in how many seconds, by stage and tile.
    public func tileRecords(job id: JobID) throws -> [(stage: Int, tile: Int, worker: String, seconds: Double)] {
        try db.read {
            try Row.fetchAll(
                $0, sql: "SELECT stage, tile, worker, seconds FROM tile WHERE job = ? ORDER BY stage, tile",
                arguments: [id.rawValue]
            )
            .map { (stage: $0["stage"], tile: $0["tile"], worker: $0["worker"], seconds: $0["seconds"]) }
        }
    }

    func tileURL(_ id: JobID, stage: Int, tile: Int) -> URL {
        jobDirectory(id).appendingPathComponent("s\(stage)-t\(tile).px")
    }

    /// The finished tiles of a stage, each read, checked and handed to `each` one at a time (a gigapixel stage's
    /// tiles are never all in memory). A tile whose file is missing or torn (a crash or a disk error) is
    /// forgotten, row and file, and so rendered again: recovery never fails on one bad record.
    public func finishedTiles(
        job id: JobID, stage: Int,
        each: (Int, PlanarImage) -> Void = { _, _ in }
    ) throws -> (done: Set<Int>, forgotten: [Int]) {
        let rows = try db.read {
            try Int.fetchAll(
                $0, sql: "SELECT tile FROM tile WHERE job = ? AND stage = ?", arguments: [id.rawValue, stage])
        }
        var done: Set<Int> = [], forgotten: [Int] = []
        for t in rows {
            let url = tileURL(id, stage: stage, tile: t)
            if let data = try? Data(contentsOf: url), let image = try? Self.decode(data) {
                done.insert(t)
                each(t, image)
            } else {
                forgotten.append(t)
                try? FileManager.default.removeItem(at: url)
                try db.write {
                    try $0.execute(
                        sql: "DELETE FROM tile WHERE job = ? AND stage = ? AND tile = ?",
                        arguments: [id.rawValue, stage, t])
                }
            }
        }
        return (done, forgotten)
    }

    /// A finished tile's pixels, read by region.
    public func tile(job id: JobID, stage: Int, tile: Int) throws -> DiskImage {
        try DiskImage(opening: tileURL(id, stage: stage, tile: tile))
    }

    /// Records a finished stage: its `width` x `height` canvas, written by `write` strip by strip into a file
    /// that is fsynced and renamed into place, then the job's stage counter. The stage's tiles' files and the
    /// previous stage's canvas are deleted. Returns the canvas.
    @discardableResult
    public func stageFinished(job id: JobID, stage: Int, width: Int, height: Int, write: (DiskImage) throws -> Void)
        throws -> DiskImage
    {
        let url = jobDirectory(id).appendingPathComponent("stage-\(stage).px")
        let tmp = url.appendingPathExtension("\(getpid()).tmp")
        do {
            let file = try DiskImage.create(at: tmp, width: width, height: height)
            try write(file)
            try file.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
        try DurableFile.rename(tmp, to: url)
        try db.write {
            try $0.execute(sql: "UPDATE job SET stage = ? WHERE id = ?", arguments: [stage + 1, id.rawValue])
        }
        let fm = FileManager.default
        if stage > 0 { try? fm.removeItem(at: jobDirectory(id).appendingPathComponent("stage-\(stage - 1).px")) }
        for name in (try? fm.contentsOfDirectory(atPath: jobDirectory(id).path)) ?? []
        where name.hasPrefix("s\(stage)-t") {
            try? fm.removeItem(at: jobDirectory(id).appendingPathComponent(name))
        }
        return try DiskImage(opening: url)
    }

    /// The canvas a finished stage left.
    public func canvas(job id: JobID, stage: Int) throws -> DiskImage {
        try DiskImage(opening: jobDirectory(id).appendingPathComponent("stage-\(stage).px"))
    }

    /// Where a job's output is written.
    public func outputURL(job id: JobID, format: String) -> URL {
        jobDirectory(id).appendingPathComponent("output.\(format == "tiff" ? "tiff" : "png")")
    }
}
