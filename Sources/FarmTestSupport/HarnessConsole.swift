import FarmCoordinator
import FarmMonitor
import FarmProtocol
import Foundation

/// A `FarmConsole` over a `CoreHarness` (the coordinator's core in memory, on a fake clock), so the dashboard's API is
/// tested in process against the real controls and pages. It has no canvas and no input files.
public final class HarnessConsole: FarmConsole, @unchecked Sendable {  // unchecked: the harness is used under `lock`
    let lock = NSLock()
    var harness: CoreHarness

    public init(_ harness: CoreHarness) { self.harness = harness }

    /// Runs `body` on the harness, alone.
    public func with<T>(_ body: (inout CoreHarness) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&harness)
    }

    /// Publishes the core's snapshot now to `monitor`, stamped `time`.
    public func publish(to monitor: FarmMonitor, time: Double = 0) {
        var snapshot = with { h in h.core.snapshot(now: h.now) }
        snapshot.time = time
        monitor.publish(snapshot)
    }

    public func control(_ body: ControlBody, as caller: Caller) async -> Result<ControlledBody, ControlRefusal> {
        with { $0.dashboardControl(body, as: caller) } ?? .failure(ControlRefusal(.invalid, "no answer"))
    }

    public func jobDetail(_ id: JobID, stage: Int?) async -> JobDetail? {
        with { $0.core.detail(job: id, stage: stage, now: $0.now) }
    }

    public func tileDetail(job: JobID, stage: Int, tile: Int) async -> TileDetail? {
        with { $0.core.tileDetail(job: job, stage: stage, tile: tile, now: $0.now) }
    }

    public func jobInputFile(job: JobID, index: Int) async -> URL? { nil }
    public func canvasTile(job: JobID, zoom: Int, x: Int, y: Int) async -> [UInt8]? { nil }
    public func canvasInfo(job: JobID) async -> CanvasInfo? { nil }
}
