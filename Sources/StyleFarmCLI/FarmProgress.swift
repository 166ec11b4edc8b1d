import FarmClient
import FarmCoordinator
import FarmProtocol
import Foundation
import Rendering
import Synchronization

/// Waiting for a farm job with a progress bar, then fetching its output (`FarmWait`): `submit` without `--detach`,
/// `render --local-farm` and `wait`. A job that failed or was cancelled throws (the command exits 1).
enum FarmProgress {
    @discardableResult
    static func wait(
        client: FarmClient, job id: JobID, output: URL?, localFarm: LocalFarm? = nil, deadline: Date? = nil
    ) throws -> JobStatus {
        var bar: ProgressBar?
        let final: JobStatus
        do {
            final = try FarmWait.untilDone(
                client: client, job: id, output: output, localFarm: localFarm, deadline: deadline
            ) { s in
                if bar == nil { bar = ProgressBar(total: s.tilesTotal, label: "farm") }
                bar?.update(
                    s.tilesDone,
                    status: "stage \(min(s.stage + 1, s.stages))/\(s.stages) \(s.state.rawValue)"
                        + (s.detail.map { ": " + $0 } ?? ""), elapsed: s.elapsed, work: s.workFraction)
            }
        } catch {
            bar?.finish()
            throw error
        }
        bar?.finish()
        let elapsed = String(format: "%.1f", final.elapsed)
        print(
            output.map { "wrote \($0.path) (job \(id), \(elapsed) s on the farm)" }
                ?? "job \(id) done (\(elapsed) s on the farm)")
        return final
    }
}

/// SIGINT and SIGTERM, delivered on a dispatch queue and kept behind a lock. (A plain global set from a C
/// signal handler was read once and hoisted out of the worker's loop by the optimiser: SIGTERM never stopped it.)
enum StopSignal {
    /// Whether a signal arrived, and the dispatch sources that listen (kept alive here).
    static let requested = Atomic(false)
    static let sources = Mutex<[DispatchSourceSignal]>([])

    static var isRequested: Bool { requested.load(ordering: .acquiring) }

    static func install() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for s in [SIGINT, SIGTERM] {
                signal(s, SIG_IGN)  // the dispatch source receives it instead
                let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
                source.setEventHandler { requested.store(true, ordering: .releasing) }
                source.resume()
                sources.append(source)
            }
        }
    }
}

/// True once SIGINT or SIGTERM arrived (after `stopOnSignals`); the long-running commands poll it.
var stopRequested: Bool { StopSignal.isRequested }

func stopOnSignals() { StopSignal.install() }
