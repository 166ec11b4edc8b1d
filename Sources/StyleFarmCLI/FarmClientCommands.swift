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
import JobModel
import Rendering
import StyleCore
import Synchronization
import VGGWeights

/// How a worker or client authenticates to the coordinator.
struct ClientSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The coordinator's public key (Z85) or its .pub file.", valueName: "key")) var serverKey:
        String?
    @Option(
        help: ArgumentHelp(
            "This client's CURVE key file (from `stylefarm keygen`; its .pub must be on the coordinator's --allow).",
            valueName: "file")) var curveSecret: String?
    @Flag(help: "Talk plaintext to a coordinator started with --insecure.") var insecure = false

    func resolve() throws -> ClientSecurity {
        switch (serverKey, curveSecret, insecure) {
        case let (key?, file?, false):
            return ClientSecurity(
                serverKey: try CurveKeyPair.publicKey(key),
                keys: try CurveKeyPair.read(secretFile: URL(fileURLWithPath: file)))
        case (nil, nil, true):
            return .plaintext
        case (_, _, true):
            throw ValidationError("--insecure contradicts --server-key/--curve-secret")
        default:
            throw ValidationError(
                "give --server-key and --curve-secret (CURVE), or --insecure for a plaintext coordinator")
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
        discussion:
            "One pair for the coordinator, one per worker or client; put the clients' .pub files in the coordinator's --allow."
    )

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
            With --detach, prints the job id; `wait JOB [--output FILE]` waits for it later, exiting as this
            command would, and `status JOB --output FILE` fetches the result.
            Exit status: 0 when the job is done; 1 when it failed or was cancelled, or on any error.
            """)

    @OptionGroup var farm: ConnectOptions
    @Option(help: "A TOML job file (also accepted as the first argument, FILE.toml).") var job: String?
    @Option(help: "Priority 0...100 (higher first; default: the job file's, else 50).") var priority: Int?
    @Option(help: "Job name (default: the job file's, else the output's file name).") var name: String?
    @Flag(help: "Print the job id and return without waiting.") var detach = false
    @Argument(help: "CONTENT STYLE... (or FILE.toml, then any STYLE... replaces the file's styles).") var inputs:
        [String] = []
    @Option(name: .shortAndLong, help: "Output image (.png, .tif).") var output: String?
    @OptionGroup(title: "Render settings") var settings: JobOptions

    /// The job file's description (if any) with the command line over it.
    func jobDescription() throws -> JobDescription {
        var rest = inputs, path = job
        if path == nil, let first = rest.first, first.lowercased().hasSuffix(".toml") { path = rest.removeFirst() }
        let file = try path.map { try JobDescription.read(URL(fileURLWithPath: $0)) } ?? JobDescription()
        var given = try settings.description(styles: file.content == nil ? Array(rest.dropFirst()) : rest)
        if file.content == nil { given.content = rest.first }
        (given.output, given.name, given.priority) = (output, name, priority)
        let merged = try file.overriding(given)
        do { try merged.check() } catch let problem as JobProblem { throw JobOptions.explain(problem) }
        return merged
    }

    func run() throws {
        let job: FarmJob
        do { job = try FarmJob(try jobDescription()) } catch let problem as JobProblem {
            throw JobOptions.explain(problem)
        }
        let client = try farm.client()
        let id = try job.submit(to: client)
        print("submitted job \(id)")
        if !detach { try FarmProgress.wait(client: client, job: id, output: job.output) }
    }
}

/// `stylefarm wait`.
struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract:
            "Wait for a job (one submitted with --detach, say) to end, and exit as `submit` does for its own job.",
        discussion: """
            Shows `submit`'s progress and, with --output, fetches the finished output as `submit` does.
            Exit status: 0 when the job is done; 1 when it failed or was cancelled (as `submit`), or on any error
            (coordinator unreachable, unknown job); 124 when --max-wait passed with the job still running.
            --timeout is the wait for each answer, as in the other client commands.
            """)

    /// The exit status when `--max-wait` passes first (as timeout(1)'s).
    static let timedOutStatus: Int32 = 124

    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job's id (as `submit` printed it).") var job: String
    @Option(name: .shortAndLong, help: "Also fetch the finished job's output to this file.") var output: String?
    @Option(
        help: ArgumentHelp("Stop waiting after this many seconds (exit 124); the job goes on.", valueName: "seconds"))
    var maxWait: Double?

    func validate() throws {
        if let maxWait, !(maxWait >= 0) { throw ValidationError("--max-wait must be 0 or more seconds") }
    }

    func run() throws {
        let deadline = maxWait.map { Date().addingTimeInterval($0) }
        do {
            try FarmProgress.wait(
                client: try farm.client(), job: JobID(job), output: output.map { URL(fileURLWithPath: $0) },
                deadline: deadline
            )
        } catch let timedOut as WaitTimedOut {
            printError("\(timedOut)")
            throw ExitCode(Self.timedOutStatus)
        }
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
        guard watch else { return try show(client.status(job: job.map(JobID.init)), client: client) }
        stopOnSignals()
        while !stopRequested {
            let s = try client.status(job: job.map(JobID.init))
            print("\u{1B}[H\u{1B}[2J", terminator: "")  // home, clear
            print(
                "StyleFarm at \(farm.connect) — \(Date().formatted(date: .omitted, time: .standard)) (Ctrl-C to stop)\n"
            )
            for j in s.jobs {
                let filled = max(0, min(30, Int(saturating: j.workFraction * 30)))
                let eta =
                    j.workFraction > 0 && !j.state.isFinal
                    ? ProgressBar.format(j.elapsed / j.workFraction * (1 - j.workFraction)) : "–"
                print(
                    String(
                        format: "%@ %@ %5.1f%%  %@ %@  stage %d/%d  tiles %d/%d  elapsed %@  eta %@", j.id.rawValue,
                        String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled),
                        100 * j.workFraction,
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
            print(
                String(
                    format: "  %@  %@  %d threads  %d tiles  %.1f s compute  heard %.1f s ago  %@", w.id.rawValue,
                    w.name,
                    w.threads, w.tiles,
                    w.computeSeconds, w.silentFor ?? 0,
                    w.leases.isEmpty ? "idle" : "leases " + w.leases.map(\.rawValue).joined(separator: ",")))
        }
        if workers.isEmpty { print("  none connected") }
    }

    func show(_ s: StatusReplyBody, client: FarmClient) throws {
        print("jobs:")
        for j in s.jobs {
            print(
                String(
                    format: "  %@  %-9@ prio %3d  stage %d/%d  tiles %d/%d  %5.1f%%  %@  %@", j.id.rawValue,
                    j.state.rawValue,
                    j.priority,
                    min(j.stage + 1, j.stages), j.stages, j.tilesDone, j.tilesTotal, 100 * j.workFraction,
                    ProgressBar.format(j.elapsed), j.name + (j.detail.map { " (\($0))" } ?? "")))
        }
        printWorkers(s.workers)
        if let output, let job {
            try DurableFile.write(Data(try client.output(job: JobID(job))), to: URL(fileURLWithPath: output))
            print("wrote \(output)")
        }
    }
}
