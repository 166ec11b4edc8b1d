import FarmProtocol
import Foundation

/// What changed on the farm since a revision: the event stream sends this, not whole snapshots (Docs/dashboard.md,
/// "Live and cheap"). Jobs and workers are compared one by one in their JSON form, a job's tiles one by one: a job
/// whose stage's tile layout is unchanged carries only its changed tiles (`JobView.tilesChangedOnly`).
public struct FarmChanges: Codable, Sendable {
    public var time: Double
    public var revision: Int
    /// New or changed.
    public var jobs: [JobView]
    public var workers: [WorkerStatus]
    /// Gone (pruned jobs, lost workers).
    public var removedJobs: [JobID]
    public var removedWorkers: [WorkerID]

    public var isEmpty: Bool { jobs.isEmpty && workers.isEmpty && removedJobs.isEmpty && removedWorkers.isEmpty }
}

/// The revision each job and worker last changed in, and what went when (the last `maxRemovals`).
struct ChangeTracker: Sendable {
    static let maxRemovals = 10_000
    var revision = 0
    var time = 0.0
    var jobs: [JobID: (revision: Int, json: Data, view: JobView)] = [:]
    /// Per job: the revision its tile layout (stage and rectangles) last changed in, and each tile's.
    var tiles: [JobID: (layout: Int, revisions: [Int])] = [:]
    var workers: [WorkerID: (revision: Int, json: Data, view: WorkerStatus)] = [:]
    var removals: [(revision: Int, job: Bool, id: String)] = []
    /// Changes since a revision below this cannot be told (its removals were dropped).
    var floor = 0
    let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return e
    }()

    /// Records a snapshot; returns its revision (the same one when nothing changed).
    mutating func record(_ s: FarmSnapshot) -> Int {
        let next = revision + 1
        var changed = false
        func track<K: Hashable & CustomStringConvertible, V: Encodable>(
            _ items: [V], id: (V) -> K, in table: inout [K: (revision: Int, json: Data, view: V)], job: Bool,
            compared: (V) -> any Encodable = { $0 }, alsoChanged: (K, V, V?) -> Bool = { _, _, _ in false }
        ) {
            var seen = Set<K>()
            for item in items {
                let key = id(item)
                seen.insert(key)
                guard let json = try? encoder.encode(compared(item)) else { continue }
                let previous = table[key]
                let moved = alsoChanged(key, item, previous?.view)
                if previous?.json != json || moved {
                    table[key] = (next, json, item)
                    changed = true
                } else {
                    table[key]?.view = item
                }
            }
            for key in table.keys where !seen.contains(key) {
                table[key] = nil
                removals.append((next, job, key.description))
                changed = true
            }
        }
        // A job compares without its tiles; its tiles compare one by one, and a changed layout sends them all.
        track(
            s.jobs, id: \.status.id, in: &jobs, job: true,
            compared: {
                var head = $0; head.tiles = []; return head
            }
        ) { key, view, old in
            let layout = view.tiles.map { [$0.index, $0.x, $0.y, $0.width, $0.height] }
            guard let old, let known = tiles[key], old.status.stage == view.status.stage,
                old.tiles.map({ [$0.index, $0.x, $0.y, $0.width, $0.height] }) == layout
            else {
                tiles[key] = (next, Array(repeating: next, count: view.tiles.count))
                return true
            }
            var revisions = known.revisions, moved = false
            for i in view.tiles.indices where view.tiles[i] != old.tiles[i] { revisions[i] = next; moved = true }
            tiles[key] = (known.layout, revisions)
            return moved
        }
        for key in tiles.keys where jobs[key] == nil { tiles[key] = nil }
        track(s.workers, id: \.id, in: &workers, job: false)
        if removals.count > Self.maxRemovals {
            let dropped = removals.count - Self.maxRemovals
            floor = removals[dropped - 1].revision
            removals.removeFirst(dropped)
        }
        time = s.time
        if changed { revision = next }
        return revision
    }

    func changes(since: Int) -> FarmChanges? {
        guard since >= floor, since <= revision else { return nil }
        return FarmChanges(
            time: time, revision: revision,
            jobs: jobs.values.filter { $0.revision > since }.map { tilesChanged(in: $0.view, since: since) }
                .sorted { $0.status.id < $1.status.id },
            workers: workers.values.filter { $0.revision > since }.map(\.view).sorted { $0.id < $1.id },
            removedJobs: removals.filter { $0.revision > since && $0.job }.map { JobID($0.id) },
            removedWorkers: removals.filter { $0.revision > since && !$0.job }.map { WorkerID($0.id) })
    }

    /// A changed job as a change carries it: with only the tiles changed since `since`, when its layout is older.
    func tilesChanged(in view: JobView, since: Int) -> JobView {
        guard let t = tiles[view.status.id], t.layout <= since, t.revisions.count == view.tiles.count else {
            return view
        }
        var out = view
        out.tiles = view.tiles.indices.filter { t.revisions[$0] > since }.map { view.tiles[$0] }
        out.tilesChangedOnly = true
        return out
    }
}
