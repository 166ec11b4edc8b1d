import ArgumentParser
import BLASKernel
import Dashboard
import FarmClient
import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmScheduler
import FarmTransport
import FarmWorker
import Foundation
import Imaging
import StyleCore
import Synchronization
import VGGWeights

/// `stylefarm coordinator`.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the farm's coordinator: queue jobs, lease tiles to workers, blend, write outputs.",
        discussion:
            "State (jobs, finished tiles, outputs) lives in --state and survives restarts; see Docs/operations.md.")

    @Option(help: "ZeroMQ endpoint to bind.") var bind = "tcp://*:5555"
    @Option(help: "State directory (journal, tiles, outputs).")
    var state = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(
        ".local/share/stylefarm/coordinator"
    ).path
    @Option(help: ArgumentHelp("Weights file (.sfw), sent to workers that lack it.", valueName: "path")) var weights:
        String?
    @Option(help: "Seconds between heartbeats.") var heartbeat = FarmScheduler.Config().heartbeat
    @Option(help: "Missed heartbeats before a worker is lost.") var liveness = FarmScheduler.Config().liveness
    @Option(help: "Seconds a tile lease lasts without progress.") var leaseSeconds = FarmScheduler.Config().leaseSeconds
    @Option(help: "Tiles in flight per worker (1 or 2).") var credit = FarmScheduler.Config().credit
    @Flag(help: "Do not send copies of a stage's last running tiles to idle workers (straggler copies).")
    var noStragglerCopies = false
    @Option(
        help: ArgumentHelp(
            "The coordinator's CURVE key file (from `stylefarm keygen`): secure mode.", valueName: "file"))
    var curveSecret: String?
    @Option(
        help: ArgumentHelp(
            "Worker keys (render tiles only): .pub files, directories of them, or keys (repeatable).",
            valueName: "path"))
    var allowWorkers: [String] = []
    @Option(
        help: ArgumentHelp(
            "Client keys (submit, and see, cancel and fetch their own jobs): .pub files, directories, keys.",
            valueName: "path"))
    var allowClients: [String] = []
    @Option(
        help: ArgumentHelp("Admin keys (everything, on every job): .pub files, directories, keys.", valueName: "path"))
    var allowAdmins: [String] = []
    @Option(
        help: ArgumentHelp(
            "Forget ended jobs and delete their files this long after they end (e.g. 7d, 12h, 30m; 0 keeps them).",
            valueName: "duration"))
    var retention = "7d"
    @Flag(help: "Run without encryption or authentication (anyone reaching the port can use the farm).")
    var insecure = false
    @Option(help: "Largest frame a peer may send, in bytes; a peer that sends more is disconnected.")
    var maxMessageBytes = Int64(FarmProtocol.Limits.maxPayload)  // safe-int: widening a constant
    @Option(
        help: ArgumentHelp(
            "Hold a stage's content and start canvas in memory up to this size each (e.g. 256M, 1G, 0); "
                + "bigger ones are read from the state directory per tile and strip.", valueName: "bytes"))
    var canvasMemory = "256M"
    @Option(
        help: ArgumentHelp(
            "Bytes of each chunk a client fetches an output in (one at a time per key).", valueName: "bytes"))
    var outputChunkBytes = OutputBody.chunk
    @Option(
        help: ArgumentHelp(
            "POST a signed JSON event to this http(s) URL when a job ends or a worker is lost (repeatable; "
                + "Docs/operations.md, \"Webhooks\").", valueName: "url"))
    var webhook: [String] = []
    @Option(
        help: ArgumentHelp(
            "File holding the webhooks' HMAC key (default: STATE/webhook-secret, generated with mode 0600 if missing).",
            valueName: "path"))
    var webhookSecretFile: String?
    @Option(
        help: ArgumentHelp(
            "Tries per webhook event (1, 2, 4, 8 s apart, doubling) before it is given up.", valueName: "n"))
    var webhookAttempts = WebhookPolicy().attempts
    @Option(help: ArgumentHelp("Seconds a webhook request may take before it counts as failed.", valueName: "seconds"))
    var webhookTimeout = WebhookPolicy().timeout
    @OptionGroup var dashboard: DashboardOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard heartbeat >= 0.05, liveness >= 2, leaseSeconds >= 1, (1 ... 2).contains(credit) else {
            throw ValidationError("need --heartbeat ≥ 0.05, --liveness ≥ 2, --lease-seconds ≥ 1, --credit 1 or 2")
        }
        guard DurationText.seconds(retention) != nil else {
            throw ValidationError("--retention must be a duration such as 7d, 12h, 30m, 90s or 0, got '\(retention)'")
        }
        guard canvasMemory == "0" || ByteSize.parse(canvasMemory) != nil else {
            throw ValidationError("--canvas-memory must be a size such as 256M, 1G or 0, got '\(canvasMemory)'")
        }
        guard (1 ... FarmProtocol.Limits.maxPayload).contains(outputChunkBytes) else {
            throw ValidationError("--output-chunk-bytes must be 1 to \(FarmProtocol.Limits.maxPayload)")
        }
        do { _ = try webhookConfig() } catch { throw ValidationError("\(error)") }
        guard (1 ... 20).contains(webhookAttempts), webhookTimeout > 0, webhookTimeout <= 300 else {
            throw ValidationError("need --webhook-attempts 1 to 20 and --webhook-timeout above 0 and at most 300 s")
        }
        if webhookSecretFile != nil, webhook.isEmpty {
            throw ValidationError("--webhook-secret-file needs a --webhook URL")
        }
    }

    /// The operator's webhooks: each URL http or https with a host, or the coordinator does not start.
    func webhookConfig() throws -> WebhookConfig {
        var config = WebhookConfig()
        config.urls = try webhook.map { text throws(WebhookError) in try WebhookConfig.url(text) }
        config.secretFile = webhookSecretFile.map { URL(fileURLWithPath: $0) }
        config.policy.attempts = webhookAttempts
        config.policy.timeout = webhookTimeout
        return config
    }

    func run() throws {
        var config = Coordinator.Config(
            stateDirectory: URL(fileURLWithPath: state),
            weights: WeightsLocation.resolve(explicit: weights))
        config.bind = bind
        config.scheduler.heartbeat = heartbeat
        config.scheduler.liveness = liveness
        config.scheduler.leaseSeconds = leaseSeconds
        config.scheduler.credit = credit
        config.scheduler.stragglerCopies = !noStragglerCopies
        config.maxMessageBytes = maxMessageBytes
        config.canvasMemory = ByteSize.parse(canvasMemory) ?? 0
        config.outputChunkBytes = outputChunkBytes
        let keep = DurationText.seconds(retention) ?? 0
        config.retention = keep > 0 ? keep : nil
        config.logger = logging.logger("coordinator")
        config.webhooks = try webhookConfig()
        switch (curveSecret, insecure) {
        case let (file?, false):
            var allowlist = Allowlist()
            try allowlist.add(allowWorkers, as: .worker)
            try allowlist.add(allowClients, as: .client)
            try allowlist.add(allowAdmins, as: .admin)
            guard !allowlist.isEmpty else {
                throw ValidationError(
                    "--curve-secret needs the keys it admits: --allow-workers, --allow-clients, --allow-admins")
            }
            config.security = ServerSecurity(
                keys: try CurveKeyPair.read(secretFile: URL(fileURLWithPath: file)), allowlist: allowlist)
        case (nil, true):
            printError(
                "WARNING: --insecure: the farm protocol runs in PLAINTEXT with no authentication. Anyone who can reach "
                    + "\(bind) can submit jobs, read and cancel anyone's, and act as a worker: every peer is an admin. For one trusted machine only; "
                    + "elsewhere use `stylefarm keygen` and --curve-secret with --allow-workers/--allow-clients/--allow-admins."
            )
        case (_?, true):
            throw ValidationError("--curve-secret and --insecure contradict each other")
        case (nil, false):
            throw ValidationError(
                "configure CURVE keys (stylefarm keygen; --curve-secret FILE --allow-workers/--allow-clients/--allow-admins KEYS) or pass --insecure for plaintext"
            )
        }
        let coordinator = try Coordinator(config: config)
        let server = try dashboard.start(coordinator)
        defer { server?.stop() }
        stopOnSignals()
        coordinator.run(until: { stopRequested })
    }
}

/// `stylefarm worker`.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a farm worker: render tiles for a coordinator. Needs only this binary.",
        discussion: "The coordinator sends the weights (cached under --cache) and each job's Gram targets.")

    @Option(help: "Coordinator endpoint.") var connect: String
    @Option(help: "Threads of the compute core (its own loops and sgemm calls; OpenBLAS itself runs single-threaded).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Name shown in status.") var name = ProcessInfo.processInfo.hostName
    @Option(
        help: ArgumentHelp(
            "Local weights to use when they match the farm's (default: the usual location, if present).",
            valueName: "path")) var weights: String?
    @Option(
        help: "Cache directory for fetched weights (default: $XDG_CACHE_HOME/stylefarm, else $HOME/.cache/stylefarm).")
    var cache = WeightsLocation.directory("XDG_CACHE_HOME", else: ".cache") + "/stylefarm"
    @Option(
        help: ArgumentHelp(
            "Take only tiles whose planned peak memory fits in this (e.g. 600M, 2G; default: this machine's memory).",
            valueName: "bytes")) var maxMemory: String?
    @Option(help: .hidden) var slowdown = 1.0
    @Option(help: .hidden) var parentPid: Int32?
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        guard (1 ... 1024).contains(threads) else { throw ValidationError("--threads must be between 1 and 1024") }
        if let maxMemory, ByteSize.parse(maxMemory) == nil {
            throw ValidationError("--max-memory must be a size such as 600M, 1.5G or 2147483648, got '\(maxMemory)'")
        }
        guard slowdown >= 1 else { throw ValidationError("--slowdown must be at least 1") }
    }

    func run() throws {
        var config = Worker.Config(
            endpoint: connect, name: name, threads: threads, cacheDirectory: URL(fileURLWithPath: cache))
        let local = WeightsLocation.resolve(explicit: weights)
        config.localWeights = FileManager.default.fileExists(atPath: local.path) ? local : nil
        config.parentPID = parentPid
        config.maxMemory = maxMemory.flatMap(ByteSize.parse)
        config.slowdown = slowdown
        config.security = try security.resolve()
        config.logger = logging.logger("worker")
        // A cached fetch from an earlier run counts as local weights too.
        if config.localWeights == nil,
            let cached = try? FileManager.default.contentsOfDirectory(
                at: config.cacheDirectory.appendingPathComponent("weights"), includingPropertiesForKeys: nil
            ).first
        {
            config.localWeights = cached
        }
        stopOnSignals()
        config.logger.info("\(KernelSelection.inUse.line)")
        Worker(config: config).run(until: { stopRequested })
    }
}

/// Where the coordinator serves its dashboard.
struct DashboardOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve the dashboard, JSON API and /metrics on HOST:PORT (port 0: any free port; 'off': none). "
                + "Bind 0.0.0.0 only on a trusted network, ideally with a token (--dashboard-token-file).",
            valueName: "host:port"))
    var dashboard = "127.0.0.1:8787"
    @Option(
        help: ArgumentHelp(
            "Require this token (Authorization: Bearer …, or a session the page starts from #token=…) on every "
                + "dashboard request (visible in ps: prefer --dashboard-token-file or $STYLEFARM_DASHBOARD_TOKEN)."))
    var dashboardToken: String?
    @Option(
        help: ArgumentHelp(
            "A host name the dashboard answers to besides IP addresses and localhost (repeatable): the name in "
                + "the address the operator opens. Requests naming any other Host or Origin are refused (DNS rebinding).",
            valueName: "name"))
    var dashboardHost: [String] = []
    @Option(help: ArgumentHelp("Read the dashboard's token from this file (its first line).", valueName: "path"))
    var dashboardTokenFile: String?

    func validate() throws {
        _ = try address()
        guard dashboardToken == nil || dashboardTokenFile == nil else {
            throw ValidationError("give --dashboard-token or --dashboard-token-file, not both")
        }
    }

    /// The token: from the option, the file, or $STYLEFARM_DASHBOARD_TOKEN, in that order (nil: none).
    func token() throws -> String? {
        if let dashboardToken { return dashboardToken }
        if let dashboardTokenFile {
            let text: String
            do { text = try String(contentsOfFile: dashboardTokenFile, encoding: .utf8) } catch {
                throw ValidationError("--dashboard-token-file \(dashboardTokenFile): \(error.localizedDescription)")
            }
            let line =
                text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces)
                ?? ""
            guard !line.isEmpty else { throw ValidationError("--dashboard-token-file \(dashboardTokenFile) is empty") }
            return line
        }
        return ProcessInfo.processInfo.environment["STYLEFARM_DASHBOARD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func address() throws -> (host: String, port: Int)? {
        if dashboard == "off" { return nil }
        // safe-int: a failable parse of text
        guard let colon = dashboard.lastIndex(of: ":"), let port = Int(dashboard[dashboard.index(after: colon)...]),
            (0 ... 65535).contains(port), colon > dashboard.startIndex
        else {
            throw ValidationError("--dashboard must be HOST:PORT or off, got '\(dashboard)'")
        }
        return (String(dashboard[..<colon]), port)
    }

    /// Starts the control room for a coordinator, and says where it is. Its key tokens are checked against the
    /// coordinator's CURVE key and allowlist; a plaintext coordinator's dashboard acts for everyone, as its socket does.
    func start(_ coordinator: Coordinator) throws -> DashboardServer? {
        guard let (host, port) = try address() else { return nil }
        let token = try token()
        if token == nil, !["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) {
            printError(
                "WARNING: the dashboard on \(host):\(port) has no token: anyone who reaches it sees every job and preview. "
                    + "Set --dashboard-token-file or $STYLEFARM_DASHBOARD_TOKEN.")
        }
        var access = DashboardAccess(
            viewToken: token, insecure: coordinator.config.security == nil, hosts: Set(dashboardHost))
        if let s = coordinator.config.security {
            let (secret, allowlist) = (s.keys.secretKey, s.allowlist)
            access.keyToken = { @Sendable token in
                DashboardToken.caller(token, serverSecret: secret, allowlist: allowlist)
            }
        }
        let server = DashboardServer(
            monitor: coordinator.monitor, console: coordinator, host: host, port: port, access: access)
        try server.start()
        printError("dashboard: http://\(host):\(server.port)/" + (token == nil ? "" : "#token=…"))
        return server
    }
}

/// Sizes on the command line: bytes, or a number with K, M, G or T (powers of 1024; "MiB", "MB" and "m" alike).
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where t.hasSuffix(suffix) && t.count > suffix.count {
            t.removeLast(suffix.count); break
        }
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var scale = 1.0
        if let last = t.last, let u = units[last] { scale = u; t.removeLast() }
        guard let v = Double(t), v > 0, v.isFinite, v * scale < 9e18 else { return nil }
        return Int(v * scale)  // safe-int: finite, positive and below 9e18 (checked above)
    }
}

/// Durations on the command line: seconds, or a number with s, m, h or d ("0" is zero).
enum DurationText {
    static func seconds(_ text: String) -> Double? {
        var t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var scale = 1.0
        if let last = t.last, let u = units[last] { scale = u; t.removeLast() }
        guard let v = Double(t), v >= 0, v.isFinite, v * scale < 1e12 else { return nil }
        return v * scale
    }
}
