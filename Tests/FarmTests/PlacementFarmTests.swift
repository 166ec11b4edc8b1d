import FarmCoordinator
import Foundation
import Imaging
import StyleCore
import Testing
import VGGWeights

/// Straggler copies and memory limits on a real farm on loopback (Docs/protocol.md, "Scheduling").
/// Limits per test (Docs/testing.md): the straggler test renders the small job twice with a worker slowed
/// tenfold, and a third time when it is the first to need `SmallJob.reference`.
@Suite(.serialized) struct PlacementFarmTests {
    /// Renders the small job with a worker 10 times slower (`--slowdown`) holding the coarse level's one tile, then
    /// a normal worker joining; returns the output and the seconds from submit to done. Without copies the whole
    /// job waits for the slow worker's coarse tile; with them the normal worker races it. (Which worker held the
    /// critical tiles was left to chance before, and the saving varied from 2% to 42%.)
    func renderWithASlowWorker(copies: Bool) throws -> (bytes: [UInt8], seconds: Double, log: String) {
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "off"] + (copies ? [] : ["--no-straggler-copies"]))
        try farm.startWorker(extra: ["--slowdown", "10"])
        _ = try farm.waitFor("the slow worker", seconds: 30) { $0.workers.count == 1 }
        let start = Date()
        let job = try SmallJob.submit(farm.client)
        _ = try farm.waitFor("the slow worker to take the coarse tile", seconds: 30) { $0.workers.first?.leases.isEmpty == false }
        try farm.startWorker()
        let bytes = try farm.finish(job, seconds: 200)
        return (bytes, Date().timeIntervalSince(start), farm.coordinator?.output ?? "")
    }

    @Test(.timeLimit(.minutes(10))) func stragglerCopiesCutTheWallTimeAndKeepTheBytes() throws {
        let reference = try SmallJob.reference.get()
        let without = try renderWithASlowWorker(copies: false)
        let with = try renderWithASlowWorker(copies: true)
        #expect(without.bytes == reference && with.bytes == reference, "copies must not change the output")
        #expect(with.log.contains("another copy won"), "a copy must have raced the slow worker")
        #expect(!without.log.contains("another copy won"))
        print(String(format: "straggler copies: %.1f s without, %.1f s with", without.seconds, with.seconds))
        #expect(with.seconds < 0.9 * without.seconds, "with copies \(with.seconds) s, without \(without.seconds) s")
    }

    @Test(.timeLimit(.minutes(5))) func aWorkerNeverGetsATileBeyondItsMemoryLimit() throws {
        // Each tile's planned peak, as the coordinator computes it.
        let network = VGG19(weights: try WeightsFile.read(WeightsLocation.resolve()))
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        let stages = SmallJob.spec.posterJob(images: [blank, blank]).stages
        let memory = stages.map { s in
            s.plan.tiles.map { ResourceEstimate.peakBytes(network: network, width: $0.render.width, height: $0.render.height, lbfgsHistory: 10) }
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
            #expect(r.worker.hasPrefix("w1-"), "tile s\(r.stage)/t\(r.tile) needs \(memory[r.stage][r.tile]) bytes > \(limit)")
        }
        #expect(records.contains { $0.worker.hasPrefix("w0-") }, "the small worker rendered what it could hold")
    }
}
