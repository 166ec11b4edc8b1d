import FarmTransport
import Foundation
import Testing
import VGGWeights

/// A private network the test builds: a bridge in a namespace of its own and one namespace per host on it, each
/// host at 10.214.S.N/24 (N from 1). Commands run inside with `nsenter --net` (see `NetworkNamespace`).
final class PrivateNetwork {
    let tag: String
    let subnet: Int
    let count: Int
    var bridge: String { tag + "s" }

    init(hosts count: Int) throws {
        subnet = Int.random(in: 1 ... 250)
        tag = "sfn\(getpid() % 10000)x\(subnet)"
        self.count = count
        var commands: [[String]] = [
            ["ip", "netns", "add", bridge],
            inside(bridge, ["ip", "link", "add", "br0", "type", "bridge"]),
            inside(bridge, ["ip", "link", "set", "br0", "up"])
        ]
        for i in 1 ... count {
            commands += [
                ["ip", "netns", "add", host(i)],
                ["ip", "link", "add", "\(tag)v\(i)", "type", "veth", "peer", "name", port(i)],
                ["ip", "link", "set", "\(tag)v\(i)", "netns", host(i)],
                ["ip", "link", "set", port(i), "netns", bridge],
                inside(bridge, ["ip", "link", "set", port(i), "master", "br0"]),
                inside(bridge, ["ip", "link", "set", port(i), "up"]),
                inside(host(i), ["ip", "addr", "add", "\(address(i))/24", "dev", "\(tag)v\(i)"]),
                inside(host(i), ["ip", "link", "set", "\(tag)v\(i)", "up"]),
                inside(host(i), ["ip", "link", "set", "lo", "up"])
            ]
        }
        for cmd in commands where sh(cmd) != 0 {
            cleanup()
            throw FarmTestError.failed(
                "`\(cmd.joined(separator: " "))` failed: this test needs root, iproute2 and nsenter", "")
        }
    }

    func host(_ i: Int) -> String { "\(tag)h\(i)" }
    /// Host i's cable end on the bridge: what `shape` and `link` act on.
    func port(_ i: Int) -> String { "\(tag)p\(i)" }
    func address(_ i: Int) -> String { "10.214.\(subnet).\(i)" }
    func inside(_ namespace: String, _ command: [String]) -> [String] {
        ["nsenter", "--net=/run/netns/\(namespace)"] + command
    }

    /// Host i's link slowed to `rate` (a token bucket: packets queue, so they arrive late).
    func shape(_ i: Int, rate: String) -> Int32 {
        sh(
            inside(
                bridge,
                ["tc", "qdisc", "add", "dev", port(i), "root", "tbf", "rate", rate, "burst", "256kbit", "latency", "1s"]
            ))
    }

    /// Host i's cable pulled out or plugged back in: every packet lost meanwhile.
    func link(_ i: Int, up: Bool) { sh(inside(bridge, ["ip", "link", "set", port(i), up ? "up" : "down"])) }

    func cleanup() {
        for i in 1 ... count { sh(["ip", "netns", "del", host(i)]) }
        sh(["ip", "netns", "del", bridge])
    }

    deinit { cleanup() }
}

/// A farm across four hosts: a coordinator, two workers and a client, each in its own network namespace with its own
/// HOME and CURVE key; the workers have no weights (they fetch them). Mid-job one worker is killed and the other's
/// link is slowed and cut twice. The client's output equals the fault-free one (`render --threads 1`'s bytes).
///
/// This kernel has no `netem`, so "delay and loss" are a token-bucket rate limit (queueing delay) and two cuts of the
/// link (every packet lost): one of 2 s, shorter than the 3 s liveness, which TCP rides out, and one of 5 s, after
/// which the worker is lost, reconnects and its tile is leased again. The wait for the client is bounded.
@Suite(.serialized, .timeLimit(.minutes(6))) struct FourHostFarmTests {
    @Test func aFarmOfFourHostsSurvivesAKilledWorkerAndABadLink() throws {
        let reference = try SmallJob.reference.get()
        let net = try PrivateNetwork(hosts: 4)  // 1 coordinator, 2 and 3 workers, 4 client
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "four-hosts-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["coordinator", "worker-a", "worker-b", "client"]
        var keys: [CurveKeyPair] = []
        for (i, name) in names.enumerated() {
            let home = dir.appendingPathComponent("host\(i + 1)")
            let pair = try CurveKeyPair.generate()
            _ = try pair.write(directory: home.appendingPathComponent("keys"), name: name)
            keys.append(pair)
        }
        func home(_ i: Int) -> String { dir.appendingPathComponent("host\(i)").path }
        /// `stylefarm ARGS` on host i, with that host's HOME and no weights from this machine's environment.
        func on(_ i: Int, _ args: [String]) -> [String] {
            net.inside(
                net.host(i),
                [
                    "env", "-u", "STYLEFARM_WEIGHTS", "-u", "XDG_DATA_HOME", "-u", "XDG_CACHE_HOME", "HOME=\(home(i))",
                    Child.executable.path
                ] + args)
        }
        func child(_ i: Int, _ name: String, _ args: [String]) throws -> Child {
            let cmd = on(i, args)
            return try Child(
                Array(cmd.dropFirst()), log: dir.appendingPathComponent("\(name).log"),
                executable: URL(fileURLWithPath: "/usr/bin/nsenter"))
        }
        let port = 5555, endpoint = "tcp://\(net.address(1)):5555"
        let coordinator = try child(
            1, "coordinator",
            [
                "coordinator", "--bind", "tcp://*:\(port)", "--state", home(1) + "/state", "--heartbeat", "1",
                "--liveness", "3",
                "--lease-seconds", "10", "--dashboard", "off", "--weights", WeightsLocation.resolve().path,
                "--curve-secret", home(1) + "/keys/coordinator.key",
                "--allow-workers=\(keys[1].publicKey)", "--allow-workers=\(keys[2].publicKey)",
                "--allow-clients=\(keys[3].publicKey)"
            ])
        defer { coordinator.stop() }
        let workers = try [2, 3].map { i in
            try child(
                i, names[i - 1],
                [
                    "worker", "--connect", endpoint, "--threads", "1", "--name", names[i - 1],
                    "--server-key=\(keys[0].publicKey)", "--curve-secret", home(i) + "/keys/\(names[i - 1]).key"
                ])
        }
        defer { workers.forEach { $0.stop() } }
        let job = try ClusterTests.writeSmallJob(to: URL(fileURLWithPath: home(4)))
        let client = try child(
            4, "client",
            [
                "submit", job.path, "--connect", endpoint, "--server-key=\(keys[0].publicKey)",
                "--curve-secret", home(4) + "/keys/client.key", "--timeout", "20"
            ])
        defer { client.stop() }

        // Both workers fetch the weights over the network (neither HOME has them), then the faults begin.
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, !workers.allSatisfy({ $0.output.contains("installed") }) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        try #require(
            workers.allSatisfy { $0.output.contains("received and cached") },
            "the workers fetched the weights: \(workers.map(\.output))")
        Thread.sleep(forTimeInterval: 2)
        workers[0].stop()  // SIGKILL, mid-job
        #expect(net.shape(3, rate: "16mbit") == 0, "tbf on the bridge port")
        // shorter than the 3 s liveness (TCP retransmits), then longer (the worker is lost)
        for seconds in [2.0, 5.0] {
            net.link(3, up: false)
            Thread.sleep(forTimeInterval: seconds)
            net.link(3, up: true)
            Thread.sleep(forTimeInterval: 3)
        }
        let end = Date().addingTimeInterval(180)
        while client.process.isRunning, Date() < end { Thread.sleep(forTimeInterval: 0.5) }
        if client.process.isRunning { client.stop() }
        #expect(client.process.terminationStatus == 0, "submit: \(client.output)\n\(coordinator.output.suffix(3000))")
        let output = URL(fileURLWithPath: home(4)).appendingPathComponent("small.png")
        #expect(
            (try? [UInt8](Data(contentsOf: output))) == reference,
            "four hosts, a killed worker and a bad link change no byte")
        #expect(
            coordinator.output.contains("worker lost") || coordinator.output.contains("tile requeued"),
            "the kill was noticed")
    }
}
