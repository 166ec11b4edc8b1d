import FarmProtocol
import Foundation
import Testing

/// Runs a command; returns its exit status.
@discardableResult
func sh(_ args: [String]) -> Int32 {
    (try? runCommand(args, timeout: 60))?.status ?? -1
}

/// A network namespace joined to this one by a veth pair on a private /30: 10.213.N.1 here, 10.213.N.2 inside.
final class NetworkNamespace {
    let name: String
    let hostLink: String
    let subnet: Int
    var hostAddress: String { "10.213.\(subnet).1" }

    init() throws {
        subnet = Int.random(in: 1 ... 250)
        name = "sft\(getpid() % 10000)x\(subnet)"
        hostLink = "sfh\(getpid() % 10000)x\(subnet)"
        let inner = "sfw\(getpid() % 10000)x\(subnet)"
        for cmd in [
            ["ip", "netns", "add", name],
            ["ip", "link", "add", hostLink, "type", "veth", "peer", "name", inner],
            ["ip", "link", "set", inner, "netns", name],
            ["ip", "addr", "add", "\(hostAddress)/30", "dev", hostLink],
            ["ip", "link", "set", hostLink, "up"],
            enter + ["ip", "addr", "add", "10.213.\(subnet).2/30", "dev", inner],
            enter + ["ip", "link", "set", inner, "up"],
            enter + ["ip", "link", "set", "lo", "up"]
        ] where sh(cmd) != 0 {
            cleanup()
            throw FarmTestError.failed(
                "`\(cmd.joined(separator: " "))` failed: this test needs root, iproute2 (scripts/test.sh installs it) and nsenter",
                "")
        }
    }

    /// A command prefix that runs in the namespace. `nsenter` switches only the network namespace; `ip netns
    /// exec` would also remount /sys, which fails in a chroot.
    var enter: [String] { ["nsenter", "--net=/run/netns/\(name)"] }

    /// Cuts or restores the link.
    func link(up: Bool) { sh(["ip", "link", "set", hostLink, up ? "up" : "down"]) }

    func cleanup() {
        sh(["ip", "link", "del", hostLink])
        sh(["ip", "netns", "del", name])
    }

    deinit { cleanup() }
}

/// A worker behind a link that is cut for longer than its lease, then restored.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PartitionTests {
    @Test func partitionedWorkerLosesItsTileRejoinsAndNothingIsCommittedTwice() throws {
        let reference = try SmallJob.reference.get()
        let ns = try NetworkNamespace()
        let farm = try TestFarm()
        // Bind every interface so the namespace can reach the coordinator; leases of 3 s.
        farm.coordinator = try Child(
            [
                "coordinator", "--bind", "tcp://*:\(farm.port)", "--state",
                farm.dir.appendingPathComponent("state").path,
                "--heartbeat", "0.5", "--liveness", "3", "--lease-seconds", "3", "--insecure",
                "--dashboard", "127.0.0.1:0"
            ], log: farm.dir.appendingPathComponent("coordinator.log"))
        let base = try farm.dashboardURL()
        let inside = try Child(
            [
                ns.enter[1], Child.executable.path, "worker", "--connect",
                "tcp://\(ns.hostAddress):\(farm.port)", "--threads", "1", "--name", "netns", "--insecure",
                "--cache", farm.dir.appendingPathComponent("cache-ns").path
            ], log: farm.dir.appendingPathComponent("netns.log"),
            executable: URL(fileURLWithPath: "/usr/bin/nsenter"))
        defer { inside.stop() }
        try farm.startWorker()
        _ = try farm.waitFor("both workers", seconds: 20) { $0.workers.count == 2 }
        let job = try SmallJob.submit(farm.client)
        func holdsTiledLease(_ s: StatusReplyBody) -> Bool {
            (s.jobs.first?.stage ?? 0) >= 1 && s.workers.contains { $0.name == "netns" && !$0.leases.isEmpty }
        }
        // Freeze it while it holds a lease (so it cannot finish the tile before the cut), cut, then let it run on.
        var frozenMidTile = false
        for _ in 0 ..< 20 where !frozenMidTile {
            _ = try farm.waitFor("the namespaced worker to hold a tiled lease", seconds: 60, holdsTiledLease)
            inside.signal(SIGSTOP)
            frozenMidTile = holdsTiledLease(try farm.client.status())
            if !frozenMidTile { inside.signal(SIGCONT) }
        }
        #expect(frozenMidTile)
        ns.link(up: false)
        inside.signal(SIGCONT)
        _ = try farm.waitFor("the namespaced worker to be lost", seconds: 15) { s in
            !s.workers.contains { $0.name == "netns" }
        }
        Thread.sleep(forTimeInterval: 3.5)  // past the lease
        ns.link(up: true)
        _ = try farm.waitFor("the namespaced worker to rejoin", seconds: 60) { s in
            s.workers.contains { $0.name == "netns" }
        }
        let out = try farm.finish(job)
        #expect(out == reference)
        let total = try farm.client.status(job: job).jobs[0].tilesTotal
        let metrics = String(decoding: try httpGet(base + "metrics").1, as: UTF8.self)
        let done = metrics.split(separator: "\n").first { $0.hasPrefix("stylefarm_tiles_done_total ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
        #expect(done == Double(total), "every tile committed exactly once (\(done ?? -1) commits for \(total) tiles)")
        #expect(farm.coordinator!.output.contains("requeued"))
    }
}
