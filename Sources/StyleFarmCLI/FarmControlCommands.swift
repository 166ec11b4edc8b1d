import ArgumentParser
import FarmClient
import FarmProtocol
import FarmTransport
import Foundation

// Steering a farm from the command line: the same `ControlBody` the dashboard's buttons send, performed by the
// coordinator's one implementation (`CoordinatorCore.control`). Each prints what the coordinator did, or its refusal.

/// Sends a control and prints the coordinator's answer.
func steer(_ body: ControlBody, _ farm: ConnectOptions) throws {
    print(try farm.client().control(body).message)
}

/// `stylefarm jobs`.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract:
            "List a farm's jobs, running and past (within the retention), with owner, state (* paused), priority, progress and times."
    )

    @OptionGroup var farm: ConnectOptions
    @Option(help: "Only these states (comma-separated: queued, running, done, failed, cancelled).") var state: String?
    @Option(help: "Only this owner's jobs (the name the coordinator's allowlist gives the key).") var owner: String?

    func run() throws {
        let filter: JobFilter
        do { filter = try JobFilter(states: state, owner: owner) } catch { throw ValidationError(error.message) }
        let jobs = try farm.client().status().jobs.filter(filter.matches)
        print(Self.header)
        for j in jobs { print(Self.row(j)) }
        if jobs.isEmpty { print("(no jobs)") }
    }

    /// Column widths; `%@` takes no width in Foundation's formatting, so the columns are padded here.
    static let widths = [14, 10, 10, 4, 6, 16, 16, 16, 9]

    static func line(_ cells: [String], name: String) -> String {
        zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(
            separator: " ") + "  " + name
    }

    static let header = line(
        ["ID", "OWNER", "STATE", "PRIO", "DONE", "SUBMITTED", "STARTED", "FINISHED", "WALL"], name: "NAME")

    static func row(_ j: JobStatus) -> String {
        line(
            [
                j.id.rawValue, j.owner ?? "?", j.state.rawValue + (j.paused == true ? "*" : ""), "\(j.priority)",
                String(format: "%.1f%%", 100 * j.workFraction), time(j.submitted), time(j.started), time(j.finished),
                ProgressBar.format(j.elapsed)
            ], name: j.name + (j.detail.map { " (\($0))" } ?? ""))
    }

    static func time(_ t: Double?) -> String {
        guard let t else { return "–" }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: Date(timeIntervalSince1970: t))
    }
}

/// `stylefarm cancel`.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a farm job (its leases are revoked).")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String
    func run() throws { try steer(ControlBody(.cancel, job: JobID(job)), farm) }
}

/// `stylefarm pause`.
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a farm job: none of its tiles is leased until `resume`; the tiles out finish.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String
    func run() throws { try steer(ControlBody(.pause, job: JobID(job)), farm) }
}

/// `stylefarm resume`.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume a paused job, or (--worker) a draining worker.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String?
    @Option(help: ArgumentHelp("A draining worker (its id or name) to take tiles again (admin).", valueName: "worker"))
    var worker: String?

    func validate() throws {
        guard (job == nil) != (worker == nil) else {
            throw ValidationError("give a job id or --worker WORKER (one of them)")
        }
    }

    func run() throws { try steer(ControlBody(.resume, job: job.map(JobID.init), worker: worker), farm) }
}

/// `stylefarm priority`.
struct PriorityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "priority", abstract: "Change a farm job's priority (0...100, higher first).")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String
    @Argument(help: "The new priority.") var priority: Int
    func run() throws { try steer(ControlBody(.priority, job: JobID(job), priority: priority), farm) }
}

/// `stylefarm retry`.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Run a failed or cancelled job again from the stage it stopped in, keeping its finished tiles.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String
    func run() throws { try steer(ControlBody(.retry, job: JobID(job)), farm) }
}

/// `stylefarm requeue`.
struct RequeueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Give the failed tiles of a job's current stage fresh attempts, on any worker.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The job id.") var job: String
    func run() throws { try steer(ControlBody(.requeue, job: JobID(job)), farm) }
}

/// `stylefarm drain`.
struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Drain a worker (admin): it finishes its tiles and takes no more, until `resume --worker`.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The worker's id or name.") var worker: String
    func run() throws { try steer(ControlBody(.drain, worker: worker), farm) }
}

/// `stylefarm clear-blocklist`.
struct ClearBlocklistCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear-blocklist",
        abstract: "Forget a worker's failures (admin), so it may take tiles of the jobs it was blocklisted on.")
    @OptionGroup var farm: ConnectOptions
    @Argument(help: "The worker's id or name.") var worker: String
    func run() throws { try steer(ControlBody(.clearBlocklist, worker: worker), farm) }
}

/// `stylefarm dashboard-token`.
struct DashboardTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard-token",
        abstract: "Print a key's token for a coordinator's dashboard: the page then acts with the key's role.",
        discussion: """
            The token is derived from this key pair and the coordinator's public key (X25519, as CURVE), so nothing new
            is handed out and it is worth nothing on another coordinator. Open http://HOST:8787/#token=TOKEN (the fragment
            never reaches a server or a proxy's log; the page trades it for a session cookie); a client then sees and
            steers its own jobs, an admin every job and the workers. Scripts send it as Authorization: Bearer TOKEN.
            Keep it as secret as the key.
            """)

    @Option(help: ArgumentHelp("The coordinator's public key (Z85) or its .pub file.", valueName: "key")) var serverKey:
        String
    @Option(
        help: ArgumentHelp(
            "This key's CURVE secret key file (its .pub on the coordinator's allowlist).", valueName: "file"))
    var curveSecret: String
    @Option(
        help: ArgumentHelp("Print the dashboard's address with the token (e.g. http://farm:8787/).", valueName: "url"))
    var url: String?

    func run() throws {
        let token = try DashboardToken.make(
            keys: try CurveKeyPair.read(secretFile: URL(fileURLWithPath: curveSecret)),
            server: try CurveKeyPair.publicKey(serverKey))
        guard let url else { return print(token) }
        // In the fragment, which a browser never sends: the page trades it for a session cookie and drops it from the address.
        print(url + (url.hasSuffix("/") ? "" : "/") + "#token=" + token)
    }
}
