import FarmProtocol
import Foundation

/// What changed on the farm since a revision: the event stream sends this, not whole snapshots (Docs/dashboard.md,
/// "Live and cheap"). Jobs and workers are compared one by one in their JSON form.
public struct FarmChanges: Codable, Sendable {
    public var time: Double
    public var revision: Int
    /// New or changed.
    public var jobs: [JobView]
    public var workers: [WorkerStatus]
    /// Gone (pruned jobs, lost workers).
    public var removedJobs: [String]
    public var removedWorkers: [String]

    public var isEmpty: Bool { jobs.isEmpty && workers.isEmpty && removedJobs.isEmpty && removedWorkers.isEmpty }
}

/// The revision each job and worker last changed in, and what went when (the last `maxRemovals`).
struct ChangeTracker: Sendable {
    static let maxRemovals = 10_000
    var revision = 0
    var time = 0.0
    var jobs: [String: (revision: Int, json: Data, view: JobView)] = [:]
    var workers: [String: (revision: Int, json: Data, view: WorkerStatus)] = [:]
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
        func track<V: Encodable>(_ items: [V], id: (V) -> String, in table: inout [String: (revision: Int, json: Data, view: V)], job: Bool) {
            var seen = Set<String>()
            for item in items {
                let key = id(item)
                seen.insert(key)
                guard let json = try? encoder.encode(item) else { continue }
                if table[key]?.json != json {
                    table[key] = (next, json, item)
                    changed = true
                }
            }
            for key in table.keys where !seen.contains(key) {
                table[key] = nil
                removals.append((next, job, key))
                changed = true
            }
        }
        track(s.jobs, id: \.status.id, in: &jobs, job: true)
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
        return FarmChanges(time: time, revision: revision,
                           jobs: jobs.values.filter { $0.revision > since }.map(\.view).sorted { $0.status.id < $1.status.id },
                           workers: workers.values.filter { $0.revision > since }.map(\.view).sorted { $0.id < $1.id },
                           removedJobs: removals.filter { $0.revision > since && $0.job }.map(\.id),
                           removedWorkers: removals.filter { $0.revision > since && !$0.job }.map(\.id))
    }
}
