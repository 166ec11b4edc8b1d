import FarmTransport
import Foundation
import Logging
import Synchronization

/// An embedded farm on loopback: a coordinator on a thread of this process and worker processes of this same
/// executable. What `stylefarm render --local-farm N` and the demo use.
public final class LocalFarm: Sendable {
    public let coordinator: Coordinator
    public let workers: [Process]
    /// What an in-process client uses to talk to this farm's coordinator.
    public let clientSecurity: ClientSecurity
    let stopped = Atomic(false)
    let finished = DispatchSemaphore(value: 0)

    /// Starts a coordinator on `tcp://127.0.0.1:*` with its state in `stateDirectory`, and `workers` worker
    /// processes with `threadsPerWorker` threads each. Even on loopback the farm speaks CURVE, with key pairs
    /// made for this run (the workers' secret key is written to the state directory, mode 0600).
    /// The coordinator logs at `logLevel` and above; the workers log errors only.
    public init(
        stateDirectory: URL, weights: URL, workers count: Int, threadsPerWorker: Int, logLevel: Logger.Level = .error
    ) throws {
        var config = Coordinator.Config(stateDirectory: stateDirectory, weights: weights)
        config.bind = "tcp://127.0.0.1:*"
        config.logger.logLevel = logLevel
        let server = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate(),
            client = try CurveKeyPair.generate()
        config.security = ServerSecurity(
            keys: server,
            allowlist: try Allowlist([
                (worker.publicKey, "local-workers", .worker),
                (client.publicKey, "local-client", .client)
            ]))
        clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: client)
        let workerKey = try worker.write(directory: stateDirectory.appendingPathComponent("keys"), name: "worker")
            .secret
        let coordinator = try Coordinator(config: config)
        self.coordinator = coordinator
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        workers = try (0 ..< count).map { i in
            let p = Process()
            p.executableURL = exe
            p.arguments = [
                "worker", "--connect", coordinator.endpoint, "--threads", "\(threadsPerWorker)", "--name",
                "local\(i + 1)",
                "--weights", weights.path, "--parent-pid", "\(getpid())", "--quiet",
                "--server-key=\(server.publicKey)", "--curve-secret", workerKey.path
            ]  // "=": a Z85 key may begin with "-"
            try p.run()
            return p
        }
        Thread { [self] in
            coordinator.run(until: { stopped.load(ordering: .acquiring) })
            finished.signal()
        }.start()
    }

    /// Whether any worker process still runs (a worker that cannot start exits at once).
    public var anyWorkerRunning: Bool { workers.contains { $0.isRunning } }

    /// Stops the coordinator and the workers.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
        for p in workers where p.isRunning { p.terminate() }
        for p in workers { p.waitUntilExit() }
    }
}
