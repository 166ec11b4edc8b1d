import FarmCoordinator
import Foundation
import Imaging
import StyleCore
import Testing
import VGGWeights

/// Straggler copies and memory limits on a real farm on loopback (Docs/protocol.md, "Scheduling"): one process
/// test per behaviour, for the end-to-end bytes. What the scheduler decides (the copy is sent, the first result
/// wins, the other lease is revoked; no tile goes past a worker's limit) is tested on a fake clock in
/// CoordinatorCoreTests and FarmSchedulerPlacementTests, not by timing two runs on a shared machine.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PlacementFarmTests {
    /// A worker 10 times slower (`--slowdown`) takes the coarse level's one tile, then a normal worker joins and
    /// races it with a copy: the output must not change.
    @Test func aStragglerCopyRacesTheSlowWorkerAndKeepsTheBytes() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "off"])
        try farm.startWorker(extra: ["--slowdown", "10"])
        _ = try farm.waitFor("the slow worker", seconds: 30) { $0.workers.count == 1 }
        let job = try SmallJob.submit(farm.client)
        _ = try farm.waitFor("the slow worker to take the coarse tile", seconds: 30) {
            $0.workers.first?.leases.isEmpty == false
        }
        try farm.startWorker()
        #expect(try farm.finish(job, seconds: 200) == reference, "copies must not change the output")
        #expect(farm.coordinator?.output.contains("another copy won") == true, "a copy must have raced the slow worker")
    }

    @Test func aWorkerNeverGetsATileBeyondItsMemoryLimit() throws {
        // Each tile's planned peak, as the coordinator computes it.
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve()))
        let stages = SmallJob.spec.stages
        let memory = stages.map { s in
            s.plan.tiles.map {
                ResourceEstimate.peakBytes(
                    network: network, width: $0.render.width, height: $0.render.height, lbfgsHistory: 10)
            }
        }
        let all = memory.joined()
        let limit = (all.min()! + all.max()!) / 2
        #expect(all.contains { $0 > limit } && all.contains { $0 <= limit })

        let farm = try TestFarm()
        try farm.startCoordinator()
        try farm.startWorker(extra: ["--max-memory", "\(limit)"])
        _ = try farm.waitFor("the small worker", seconds: 30) { $0.workers.first?.memoryLimit == limit }
        let job = try SmallJob.submit(farm.client)
        // Alone, the small worker renders what fits, then the job says what it waits for.
        let waiting = try farm.waitFor("the job to wait for memory", seconds: 90) {
            $0.jobs.first?.detail?.contains("waiting for a worker with memory") ?? false
        }
        #expect(waiting.jobs[0].state == .running)
        try farm.startWorker(extra: ["--max-memory", "4G"])
        #expect(try farm.finish(job, seconds: 120) == (try SmallJob.reference.get()))
        farm.coordinator?.stop()
        let records = try Journal(directory: farm.dir.appendingPathComponent("state")).tileRecords(job: job)
        #expect(records.count == all.count)
        for r in records where memory[r.stage][r.tile] > limit {
            #expect(
                r.worker.hasPrefix("w1-"),
                "tile s\(r.stage)/t\(r.tile) needs \(memory[r.stage][r.tile]) bytes > \(limit)")
        }
        #expect(records.contains { $0.worker.hasPrefix("w0-") }, "the small worker rendered what it could hold")
    }
}
