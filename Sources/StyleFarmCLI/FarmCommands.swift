import ArgumentParser
import Dashboard
import FarmClient
import FarmCoordinator
import FarmMonitor
import FarmProtocol
import FarmTransport
import FarmWorker
import Foundation
import Imaging
import StyleCore
import Synchronization
import VGGWeights

/// `stylefarm render`: one image, in this process or on an embedded local farm.
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render one image in this process, or on an embedded local farm with --local-farm N.",
        discussion: """
            Optimises an image so that its VGG19 features match CONTENT (at --content-layer) and the Gram
            matrices of the STYLE images (relu1_1 … relu5_1), plus total variation. Output: 16-bit PNG (or
            8-bit with --bit-depth 8), or 16-bit TIFF when OUT ends in .tif/.tiff. Outputs larger than
            --coarse-size are rendered coarse-to-fine in overlapping tiles.
            """)

    @OptionGroup var job: RenderArguments
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Render on an embedded farm: a coordinator and N worker processes on loopback (0: in this process).")
    var localFarm = 0
    @Option(help: ArgumentHelp("With --local-farm, serve the dashboard on HOST:PORT (e.g. 127.0.0.1:8787).", valueName: "host:port"))
    var dashboard: String?

    func validate() throws {
        guard (0 ... 64).contains(localFarm) else { throw ValidationError("--local-farm must be between 0 and 64") }
    }

    func run() throws {
        guard localFarm > 0 else { return try job.render(compute: compute) }
        let (spec, content, styles) = try job.farmJob(name: URL(fileURLWithPath: job.output).lastPathComponent, priority: 50)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("stylefarm-local-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        let perWorker = max(1, compute.threads / localFarm)
        printError("embedded farm: a coordinator and \(localFarm) workers × \(perWorker) threads on loopback")
        let farm = try LocalFarm(stateDirectory: state, weights: WeightsLocation.resolve(explicit: compute.weights),
                                 workers: localFarm, threadsPerWorker: perWorker)
        defer { farm.shutdown() }
        var options = DashboardOptions()
        options.dashboard = dashboard ?? "off"
        let server = try options.start(farm.coordinator.monitor)
        defer { server?.stop() }
        let client = FarmClient(endpoint: farm.coordinator.endpoint, security: farm.clientSecurity)
        let id = try client.submit(spec, content: content, styles: styles)
        let final = try FarmWait.untilDone(client: client, job: id, output: URL(fileURLWithPath: job.output), localFarm: farm)
        let compute = try client.status().workers.reduce(0) { $0 + $1.computeSeconds }
        printError(String(format: "farm: %d tiles, %.1f s wall, %.1f s of worker compute: %.0f%% of %d workers busy",
                          final.tilesTotal, final.elapsed, compute, 100 * compute / (Double(localFarm) * max(final.elapsed, 1e-9)),
                          localFarm))
    }
}

extension RenderArguments {
    /// A farm job for these arguments, with the image files' bytes (read and decoded here first, so that
    /// a bad file is reported before anything is sent).
    func farmJob(name: String, priority: Int) throws -> (JobSpec, [UInt8], [[UInt8]]) {
        let contentURL = URL(fileURLWithPath: content)
        let contentImage = try ImageIO.read(contentURL).image
        let styleURLs = styles.map { URL(fileURLWithPath: $0) }
        for url in styleURLs { _ = try ImageIO.read(url) }
        let weights = try styleBlend.map { try Self.floats($0, count: styles.count, name: "--style-blend") } ?? styles.map { _ in 1 }
        let target = try outputSize(content: contentImage)
        let blank = PlanarImage(width: 1, height: 1, channels: 3, fill: 0)
        let poster = try posterJob(content: blank, styles: weights.map { (blank, $0) }, width: target.width, height: target.height)
        let spec = JobSpec(name: name, priority: priority, poster: poster.settings, styleWeights: weights, crop: target.crop,
                           preserveColors: preserveColors, bitDepth: bitDepth, dpi: target.dpi,
                           format: JobSpec.format(for: URL(fileURLWithPath: output)))
        try spec.validate()
        return (spec, [UInt8](try Data(contentsOf: contentURL)), try styleURLs.map { [UInt8](try Data(contentsOf: $0)) })
    }
}

/// Waiting for a farm job with a progress bar, then fetching its output.
enum FarmWait {
    @discardableResult
    /// With `progress`, it gets each status instead of the progress bar drawing it. With `localFarm`, waiting
    /// stops with an error once none of its workers runs (the job could never finish).
    static func untilDone(client: FarmClient, job id: String, output: URL, localFarm: LocalFarm? = nil,
                          progress: ((JobStatus) -> Void)? = nil) throws -> JobStatus {
        var bar: ProgressBar?
        let final = try client.wait(job: id) { s in
            if let localFarm, !s.state.isFinal, !localFarm.anyWorkerRunning {
                bar?.finish()
                throw ValidationError("every worker of the embedded farm has exited (see their messages above); job \(id) cannot finish")
            }
            if let progress { return progress(s) }
            if bar == nil { bar = ProgressBar(total: s.tilesTotal, label: "farm") }
            bar!.update(s.tilesDone, status: "stage \(min(s.stage + 1, s.stages))/\(s.stages) \(s.state.rawValue)"
                + (s.detail.map { ": " + $0 } ?? ""), elapsed: s.elapsed, work: s.workFraction)
        }
        bar?.finish()
        guard final.state == .done else {
            throw ValidationError("job \(id) \(final.state.rawValue): \(final.detail ?? "no reason given")")
        }
        if let localFarm {  // same machine: copy the file (a gigapixel output is bigger than any message)
            try DurableFile.copy(localFarm.coordinator.outputURL(job: id, format: JobSpec.format(for: output)), to: output)
        } else {
            try DurableFile.write(Data(try client.output(job: id)), to: output)
        }
        if progress == nil { print("wrote \(output.path) (job \(id), \(String(format: "%.1f", final.elapsed)) s on the farm)") }
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

/// `stylefarm coordinator`.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the farm's coordinator: queue jobs, lease tiles to workers, blend, write outputs.",
        discussion: "State (jobs, finished tiles, outputs) lives in --state and survives restarts; see Docs/operations.md.")

    @Option(help: "ZeroMQ endpoint to bind.") var bind = "tcp://*:5555"
    @Option(help: "State directory (journal, tiles, outputs).")
    var state = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share/stylefarm/coordinator").path
    @Option(help: ArgumentHelp("Weights file (.sfw), sent to workers that lack it.", valueName: "path")) var weights: String?
    @Option(help: "Seconds between heartbeats.") var heartbeat = 1.0
    @Option(help: "Missed heartbeats before a worker is lost.") var liveness = 3
    @Option(help: "Seconds a tile lease lasts without progress.") var leaseSeconds = 60.0
    @Option(help: "Tiles in flight per worker (1 or 2).") var credit = 1
    @Flag(help: "Do not send copies of a stage's last running tiles to idle workers (straggler copies).")
    var noStragglerCopies = false
    @Option(help: ArgumentHelp("The coordinator's CURVE key file (from `stylefarm keygen`): secure mode.", valueName: "file"))
    var curveSecret: String?
    @Option(help: ArgumentHelp("Allowed client public keys: .pub files, directories of them, or keys (repeatable).",
                               valueName: "path"))
    var allow: [String] = []
    @Flag(help: "Run without encryption or authentication (anyone reaching the port can use the farm).")
    var insecure = false
    @Option(help: "Largest frame a peer may send, in bytes; a peer that sends more is disconnected.")
    var maxMessageBytes = Int64(FarmProtocol.Limits.maxPayload)
    @Option(help: ArgumentHelp("Hold a stage's content and start canvas in memory up to this size each (e.g. 256M, 1G, 0); "
                               + "bigger ones are read from the state directory per tile and strip.", valueName: "bytes"))
    var canvasMemory = "256M"
    @OptionGroup var dashboard: DashboardOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard heartbeat >= 0.05, liveness >= 2, leaseSeconds >= 1, (1 ... 2).contains(credit) else {
            throw ValidationError("need --heartbeat ≥ 0.05, --liveness ≥ 2, --lease-seconds ≥ 1, --credit 1 or 2")
        }
        guard canvasMemory == "0" || ByteSize.parse(canvasMemory) != nil else {
            throw ValidationError("--canvas-memory must be a size such as 256M, 1G or 0, got '\(canvasMemory)'")
        }
    }

    func run() throws {
        var config = Coordinator.Config(stateDirectory: URL(fileURLWithPath: state),
                                        weights: WeightsLocation.resolve(explicit: weights))
        config.bind = bind
        config.scheduler.heartbeat = heartbeat
        config.scheduler.liveness = liveness
        config.scheduler.leaseSeconds = leaseSeconds
        config.scheduler.credit = credit
        config.scheduler.stragglerCopies = !noStragglerCopies
        config.maxMessageBytes = maxMessageBytes
        config.canvasMemory = ByteSize.parse(canvasMemory) ?? 0
        config.logger = logging.logger("coordinator")
        switch (curveSecret, insecure) {
        case let (file?, false):
            guard !allow.isEmpty else { throw ValidationError("--curve-secret needs --allow with the workers' and clients' public keys") }
            config.security = ServerSecurity(keys: try CurveKeyPair.read(secretFile: URL(fileURLWithPath: file)),
                                             allowlist: try CurveKeyPair.allowlist(allow))
        case (nil, true):
            printError("WARNING: --insecure: the farm protocol runs in PLAINTEXT with no authentication. Anyone who can reach "
                + "\(bind) can submit jobs and read results. Use `stylefarm keygen` and --curve-secret/--allow instead.")
        case (_?, true):
            throw ValidationError("--curve-secret and --insecure contradict each other")
        case (nil, false):
            throw ValidationError("configure CURVE keys (stylefarm keygen; --curve-secret FILE --allow KEYS) or pass --insecure for plaintext")
        }
        let coordinator = try Coordinator(config: config)
        let server = try dashboard.start(coordinator.monitor)
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
    @Option(help: "Threads for OpenBLAS and the compute core.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Name shown in status.") var name = ProcessInfo.processInfo.hostName
    @Option(help: ArgumentHelp("Local weights to use when they match the farm's (default: the usual location, if present).",
                               valueName: "path")) var weights: String?
    @Option(help: "Cache directory for fetched weights.")
    var cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/stylefarm").path
    @Option(help: ArgumentHelp("Take only tiles whose planned peak memory fits in this (e.g. 600M, 2G; default: this machine's memory).",
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
        var config = Worker.Config(endpoint: connect, name: name, threads: threads, cacheDirectory: URL(fileURLWithPath: cache))
        let local = WeightsLocation.resolve(explicit: weights)
        config.localWeights = FileManager.default.fileExists(atPath: local.path) ? local : nil
        config.parentPID = parentPid
        config.maxMemory = maxMemory.flatMap(ByteSize.parse)
        config.slowdown = slowdown
        config.security = try security.resolve()
        config.logger = logging.logger("worker")
        // A cached fetch from an earlier run counts as local weights too.
        if config.localWeights == nil, let cached = try? FileManager.default.contentsOfDirectory(
            at: config.cacheDirectory.appendingPathComponent("weights"), includingPropertiesForKeys: nil).first {
            config.localWeights = cached
        }
        stopOnSignals()
        Worker(config: config).run(until: { stopRequested })
    }
}

/// Where the coordinator serves its dashboard.
struct DashboardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve the dashboard, JSON API and /metrics on HOST:PORT (port 0: any free port; 'off': none). "
        + "Bind 0.0.0.0 only on a trusted network, ideally with --dashboard-token.", valueName: "host:port"))
    var dashboard = "127.0.0.1:8787"
    @Option(help: "Require this token (Authorization: Bearer … or ?token=…) on every dashboard request.")
    var dashboardToken: String?

    func validate() throws { _ = try address() }

    func address() throws -> (host: String, port: Int)? {
        if dashboard == "off" { return nil }
        guard let colon = dashboard.lastIndex(of: ":"), let port = Int(dashboard[dashboard.index(after: colon)...]),
              (0 ... 65535).contains(port), colon > dashboard.startIndex else {
            throw ValidationError("--dashboard must be HOST:PORT or off, got '\(dashboard)'")
        }
        return (String(dashboard[..<colon]), port)
    }

    /// Starts the dashboard for a coordinator's monitor, and says where it is.
    func start(_ monitor: FarmMonitor) throws -> DashboardServer? {
        guard let (host, port) = try address() else { return nil }
        let server = DashboardServer(monitor: monitor, host: host, port: port, token: dashboardToken)
        try server.start()
        printError("dashboard: http://\(host):\(server.port)/" + (dashboardToken == nil ? "" : "?token=…"))
        return server
    }
}

/// How a worker or client authenticates to the coordinator.
struct ClientSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The coordinator's public key (Z85) or its .pub file.", valueName: "key")) var serverKey: String?
    @Option(help: ArgumentHelp("This client's CURVE key file (from `stylefarm keygen`; its .pub must be on the coordinator's --allow).",
                               valueName: "file")) var curveSecret: String?
    @Flag(help: "Talk plaintext to a coordinator started with --insecure.") var insecure = false

    func resolve() throws -> ClientSecurity {
        switch (serverKey, curveSecret, insecure) {
        case let (key?, file?, false):
            return ClientSecurity(serverKey: try CurveKeyPair.publicKey(key), keys: try CurveKeyPair.read(secretFile: URL(fileURLWithPath: file)))
        case (nil, nil, true):
            return .plaintext
        case (_, _, true):
            throw ValidationError("--insecure contradicts --server-key/--curve-secret")
        default:
            throw ValidationError("give --server-key and --curve-secret (CURVE), or --insecure for a plaintext coordinator")
        }
    }
}

/// Options naming the coordinator, for the client commands.
struct ConnectOptions: ParsableArguments {
    @Option(help: "Coordinator endpoint.") var connect = "tcp://127.0.0.1:5555"
    @Option(help: "Seconds to wait for an answer (each of 3 tries).") var timeout = 10.0
    @OptionGroup var security: ClientSecurityOptions

    func client() throws -> FarmClient {
        FarmClient(endpoint: connect, security: try security.resolve(), timeout: timeout)
    }
}

/// `stylefarm keygen`.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public).",
        discussion: "One pair for the coordinator, one per worker or client; put the clients' .pub files in the coordinator's --allow.")

    @Argument(help: "Name of the pair (e.g. coordinator, worker1).") var name: String
    @Option(help: "Directory for the files.") var dir = "."

    func run() throws {
        let pair = try CurveKeyPair.generate()
        let (secret, pub) = try pair.write(directory: URL(fileURLWithPath: dir), name: name)
        print("wrote \(secret.path) (secret, 0600) and \(pub.path)\npublic key: \(pair.publicKey)")
    }
}

/// `stylefarm submit`.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a render to a farm; wait for it with a progress bar (default) or --detach.",
        discussion: """
            Takes every option of `render` (see `stylefarm help render`): CONTENT STYLE... -o OUT and the rest,
            from the command line, from a TOML job file, or both (the command line wins):
              stylefarm submit Configs/examples/poster.toml
              stylefarm submit --job Configs/examples/poster.toml --tile 384
            Job files are documented field by field in Configs/examples/reference.toml and Docs/operations.md.
            With --detach, prints the job id; `status JOB --output FILE` fetches the result later.
            """)

    @OptionGroup var farm: ConnectOptions
    @Option(help: "A TOML job file (also accepted as the first argument, FILE.toml).") var job: String?
    @Option(help: "Priority 0...100 (higher first; default: the job file's, else 50).") var priority: Int?
    @Option(help: "Job name (default: the output's file name).") var name: String?
    @Flag(help: "Print the job id and return without waiting.") var detach = false
    @Argument(parsing: .allUnrecognized, help: "render's arguments and options.") var renderArguments: [String] = []

    func run() throws {
        var rest = renderArguments, path = job
        if path == nil, let first = rest.first, first.lowercased().hasSuffix(".toml") { path = rest.removeFirst() }
        let file = try path.map { try JobFile.read(URL(fileURLWithPath: $0)) }
        let args = try RenderArguments.parse((file?.arguments ?? []) + rest)
        let (spec, content, styles) = try args.farmJob(name: name ?? file?.name ?? URL(fileURLWithPath: args.output).lastPathComponent,
                                                       priority: priority ?? file?.priority ?? 50)
        let client = try farm.client()
        let id = try client.submit(spec, content: content, styles: styles)
        print("submitted job \(id)")
        if !detach { try FarmWait.untilDone(client: client, job: id, output: URL(fileURLWithPath: args.output)) }
    }
}

/// `stylefarm status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a farm's jobs and workers.")

    @OptionGroup var farm: ConnectOptions
    @Argument(help: "A job id (default: every job).") var job: String?
    @Option(help: "Also fetch the finished job's output to this file.") var output: String?
    @Flag(help: "Redraw every second (progress bars per job, the workers table) until Ctrl-C.") var watch = false

    func run() throws {
        let client = try farm.client()
        guard watch else { return try show(client.status(job: job), client: client) }
        stopOnSignals()
        while !stopRequested {
            let s = try client.status(job: job)
            print("\u{1B}[H\u{1B}[2J", terminator: "")  // home, clear
            print("StyleFarm at \(farm.connect) — \(Date().formatted(date: .omitted, time: .standard)) (Ctrl-C to stop)\n")
            for j in s.jobs {
                let filled = Int(j.workFraction * 30)
                let eta = j.workFraction > 0 && !j.state.isFinal ? ProgressBar.format(j.elapsed / j.workFraction * (1 - j.workFraction)) : "–"
                print(String(format: "%@ %@ %5.1f%%  %@ %@  stage %d/%d  tiles %d/%d  elapsed %@  eta %@", j.id,
                             String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled), 100 * j.workFraction,
                             j.state.rawValue, j.name, min(j.stage + 1, j.stages), j.stages, j.tilesDone, j.tilesTotal,
                             ProgressBar.format(j.elapsed), eta) + (j.detail.map { "  (\($0))" } ?? ""))
            }
            print("")
            printWorkers(s.workers)
            if job != nil, s.jobs.first?.state.isFinal == true { break }  // watching one job: stop when it ends
            Thread.sleep(forTimeInterval: 1)
        }
    }

    func printWorkers(_ workers: [WorkerStatus]) {
        print("workers:")
        for w in workers {
            print(String(format: "  %@  %@  %d threads  %d tiles  %.1f s compute  heard %.1f s ago  %@", w.id, w.name, w.threads, w.tiles,
                         w.computeSeconds, w.silentFor ?? 0, w.leases.isEmpty ? "idle" : "leases " + w.leases.joined(separator: ",")))
        }
        if workers.isEmpty { print("  none connected") }
    }

    func show(_ s: StatusReplyBody, client: FarmClient) throws {
        print("jobs:")
        for j in s.jobs {
            print(String(format: "  %@  %-9@ prio %3d  stage %d/%d  tiles %d/%d  %5.1f%%  %@  %@", j.id, j.state.rawValue, j.priority,
                         min(j.stage + 1, j.stages), j.stages, j.tilesDone, j.tilesTotal, 100 * j.workFraction,
                         ProgressBar.format(j.elapsed), j.name + (j.detail.map { " (\($0))" } ?? "")))
        }
        printWorkers(s.workers)
        if let output, let job {
            try DurableFile.write(Data(try client.output(job: job)), to: URL(fileURLWithPath: output))
            print("wrote \(output)")
        }
    }
}

/// `stylefarm cancel`.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a farm job.")

    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String

    func run() throws {
        _ = try farm.client().cancel(job: job)
        print("cancelled \(job)")
    }
}

/// Sizes on the command line: bytes, or a number with K, M, G or T (powers of 1024; "MiB", "MB" and "m" alike).
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where t.hasSuffix(suffix) && t.count > suffix.count { t.removeLast(suffix.count); break }
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var scale = 1.0
        if let last = t.last, let u = units[last] { scale = u; t.removeLast() }
        guard let v = Double(t), v > 0, v.isFinite, v * scale < 9e18 else { return nil }
        return Int(v * scale)
    }
}
