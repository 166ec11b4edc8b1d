import FarmClient
import FarmMonitor
import FarmProtocol
import FarmScheduler
import Foundation
import Testing

/// Prometheus's text exposition format, as far as /metrics uses it: `# TYPE` lines and samples with labels.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var samples: [Sample] = []

    init(_ text: String) {
        let label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                continue
            }
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { continue }
            let series = line[..<space]
            let name = String(series.prefix { $0 != "{" })
            var labels: [String: String] = [:]
            for match in series.dropFirst(name.count).matches(of: label) { labels[String(match.1)] = String(match.2) }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
    }

    /// Every family and sample name served (a histogram's `_bucket`, `_sum` and `_count` among them).
    var names: Set<String> { Set(types.keys).union(samples.map(\.name)) }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The values a label takes in a family.
    func values(of label: String, in name: String) -> Set<String> {
        Set(samples.filter { $0.name == name }.compactMap { $0.labels[label] })
    }
}

/// What the files in Cluster/monitoring ask of /metrics: the `stylefarm_` series they name and the label values
/// their selectors match.
enum MonitoringFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Cluster/monitoring")
    static let checked = ["grafana-dashboard.json", "alerts.yml", "alerts.test.yml", "README.md"]

    /// Every string in the dashboard's JSON (its queries, and the descriptions that name series), or a file's text.
    static func texts(_ file: String) throws -> [String] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        guard file.hasSuffix(".json") else { return [String(decoding: data, as: UTF8.self)] }
        var strings: [String] = []
        func walk(_ value: Any) {
            if let s = value as? String { strings.append(s) }
            if let a = value as? [Any] { a.forEach(walk) }
            if let d = value as? [String: Any] { d.values.forEach(walk) }
        }
        walk(try JSONSerialization.jsonObject(with: data))
        return strings
    }

    /// The series a file names: identifiers that start with `stylefarm_`, a histogram's suffixes kept (the check strips
    /// them against the served types).
    static func seriesNames(_ file: String) throws -> Set<String> {
        Set(try texts(file).flatMap { $0.matches(of: /\bstylefarm_[a-zA-Z0-9_]+/).map { String($0.output) } })
    }

    /// Selectors' label matchers (`name{label="v"}`, `name{label=~"a|b"}`) other than `instance` and `job`.
    static func matchers(_ file: String) throws -> [(series: String, label: String, values: [String])] {
        try texts(file).flatMap { text in
            text.matches(of: /\b(stylefarm_[a-zA-Z0-9_]+)\{([^}]*)\}/).flatMap { selector in
                String(selector.2).matches(of: /([a-zA-Z_]+)\s*(=~|=)\s*"([^"]*)"/).compactMap {
                    m -> (String, String, [String])? in
                    let label = String(m.1)
                    guard !["instance", "job", "le"].contains(label) else { return nil }
                    let values = m.2 == "=~" ? m.3.split(separator: "|").map(String.init) : [String(m.3)]
                    return (String(selector.1), label, values)
                }
            }
        }
    }

    /// Referenced names /metrics does not serve (a histogram's `_bucket`, `_sum`, `_count` count as its family).
    static func unserved(_ names: Set<String>, by metrics: Exposition) -> [String] {
        names.filter { name in
            if metrics.names.contains(name) { return false }
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                if metrics.types[String(name.dropLast(suffix.count))] == "histogram" { return false }
            }
            return true
        }.sorted()
    }
}

/// The labelled series from snapshots, in process: what each state and reason counts.
@Suite struct FarmMetricsTests {
    static func job(
        _ id: String, _ state: JobState, paused: Bool = false, tiles: [String] = [], stageElapsed: Double? = nil
    ) -> JobView {
        var status = JobStatus(
            id: JobID(id), name: id, priority: 50, state: state, stage: 1, stages: 3, tilesDone: 0, tilesTotal: 9,
            workFraction: 0, elapsed: 0)
        status.paused = paused ? true : nil
        var view = JobView(
            status: status, level: 1, levels: 2, pass: "tiles", width: 96, height: 64,
            tiles: tiles.enumerated().map {
                TileView(index: $0.offset, x: 0, y: 0, width: 8, height: 8, state: $0.element)
            },
            tilesPerMinute: 0, eta: nil)
        view.stageElapsed = stageElapsed
        return view
    }

    static func worker(_ id: String, leases: Int = 0, draining: Bool = false, blocklisted: [JobID]? = nil)
        -> WorkerStatus
    {
        var w = WorkerStatus(
            id: WorkerID(id), name: id, threads: 1, tiles: 0, computeSeconds: 0,
            leases: (0 ..< leases).map { LeaseToken("\(id)-\($0)") })
        (w.draining, w.blocklisted) = (draining ? true : nil, blocklisted)
        return w
    }

    @Test func gaugesCountJobsWorkersTilesAndTheOldestStage() {
        let monitor = FarmMonitor()
        let jobs = [
            Self.job("q", .queued, tiles: ["pending", "pending"]),
            Self.job("r", .running, tiles: ["done", "rendering", "pending"], stageElapsed: 30),
            // paused: not stuck, its tile still queued
            Self.job("p", .running, paused: true, tiles: ["pending"], stageElapsed: 5000),
            Self.job("d", .done, tiles: ["done"]), Self.job("f", .failed, tiles: ["pending"]), Self.job("c", .cancelled)
        ]
        let workers = [
            Self.worker("a", leases: 2), Self.worker("b"), Self.worker("c", leases: 1, draining: true),
            Self.worker("d", blocklisted: ["r"]), Self.worker("e", blocklisted: ["f"])
        ]
        monitor.publish(FarmSnapshot(time: 1, jobs: jobs, workers: workers))
        let m = Exposition(monitor.prometheusText())
        for (state, n) in ["queued": 1, "running": 1, "paused": 1, "done": 1, "failed": 1, "cancelled": 1] {
            #expect(m.value("stylefarm_jobs", ["state": state]) == Double(n), "jobs \(state)")
        }
        for (state, n) in ["busy": 1, "idle": 2, "draining": 1, "blocklisted": 1] {
            #expect(
                m.value("stylefarm_workers", ["state": state]) == Double(n),
                "workers \(state): one blocklisted for a failed job only is idle")
        }
        #expect(m.value("stylefarm_tiles_leased") == 3 && m.value("stylefarm_tiles_queued") == 4)
        #expect(m.value("stylefarm_oldest_stage_age_seconds") == 30)
        #expect(m.value("stylefarm_workers_alive") == 5)

        // Gone: every state is back to 0, not absent.
        monitor.publish(FarmSnapshot())
        let empty = Exposition(monitor.prometheusText())
        #expect(FarmMetrics.jobStates.allSatisfy { empty.value("stylefarm_jobs", ["state": $0]) == 0 })
        #expect(FarmMetrics.workerStates.allSatisfy { empty.value("stylefarm_workers", ["state": $0]) == 0 })
        #expect(empty.value("stylefarm_oldest_stage_age_seconds") == 0)
    }

    @Test func countersKeepToTheirKnownLabels() throws {
        let monitor = FarmMonitor()
        monitor.countRefusal("not-found")
        monitor.countRefusal("a string a peer chose")
        monitor.countRefusal(answering: Message(.error, ErrorBody(code: ProtocolError.badHeader.code, message: "")))
        monitor.countRefusal(answering: Message(.error, ErrorBody(code: "shutdown", message: "coordinator stopping")))
        monitor.countRefusal(
            answering: Message(.reject, RejectBody(lease: nil, reason: "more than 120 fetches in a minute")))
        monitor.countRefusal(answering: Message(.reject, RejectBody(lease: "e-1", reason: "another copy won")))
        monitor.countLeaseFailure("worker_lost")
        monitor.countLeaseFailure("not a reason")
        let m = Exposition(monitor.prometheusText())
        let refusals = { (reason: String) in m.value("stylefarm_refusals_total", ["reason": reason]) }
        #expect(
            refusals("not-found") == 1 && refusals("other") == 1 && refusals("framing") == 1 && refusals("fetch") == 1)
        #expect(
            m.samples.filter { $0.name == "stylefarm_refusals_total" }.reduce(0) { $0 + $1.value } == 4,
            "shutdown and a lease's reject are none")
        #expect(m.values(of: "reason", in: "stylefarm_refusals_total") == Set(FarmMetrics.refusalReasons))
        #expect(m.value("stylefarm_lease_failures_total", ["reason": "worker_lost"]) == 1)
        #expect(m.values(of: "reason", in: "stylefarm_lease_failures_total") == Set(FarmMetrics.leaseFailureReasons))
        // The label sets are the farm's own codes.
        #expect(FarmMetrics.leaseFailureReasons == FarmScheduler.LeaseFailure.allCases.map(\.rawValue))
        let protocolCodes = [
            ProtocolError.tooFewFrames, .tooManyFrames, .badHeader, .unsupportedVersion(9), .unknownCommand(0),
            .bodyTooLarge(1), .payloadTooLarge(1), .malformedBody("")
        ].map(\.code.rawValue)
        #expect(
            Set(protocolCodes + ControlRefusal.Code.allCases.map(\.rawValue)).isSubset(of: FarmMetrics.refusalReasons))
        #expect((m.value("stylefarm_coordinator_cpu_seconds_total") ?? 0) > 0, "this process has used CPU")
    }

    /// promtool checks the rules and runs their unit tests, and checks the example scrape configuration (with a token
    /// file of its own). Missing promtool fails: scripts/lib.sh installs it (Debian package prometheus).
    @Test func alertRulesPassPromtool() throws {
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let promtool else {
            Issue.record(
                "promtool is missing: install the Debian package prometheus (scripts/lib.sh's STYLEFARM_TEST_APT_PACKAGES)"
            )
            return
        }
        let dir = MonitoringFiles.directory
        let check = try runCommand([promtool, "check", "rules", "alerts.yml"], directory: dir, timeout: 60)
        #expect(check.status == 0, Comment(rawValue: check.output))
        let test = try runCommand([promtool, "test", "rules", "alerts.test.yml"], directory: dir, timeout: 60)
        #expect(test.status == 0 && test.output.contains("SUCCESS"), Comment(rawValue: test.output))

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "prom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Data("s3cret\n".utf8).write(to: scratch.appendingPathComponent("token"))
        try FileManager.default.copyItem(
            at: dir.appendingPathComponent("alerts.yml"), to: scratch.appendingPathComponent("alerts.yml"))
        let config = try String(contentsOf: dir.appendingPathComponent("prometheus.yml"), encoding: .utf8)
        #expect(config.contains("credentials_file: /etc/stylefarm/dashboard/token"))
        try Data(
            config.replacingOccurrences(
                of: "/etc/stylefarm/dashboard/token", with: scratch.appendingPathComponent("token").path
            ).utf8
        )
        .write(to: scratch.appendingPathComponent("prometheus.yml"))
        let configCheck = try runCommand(
            [promtool, "check", "config", "prometheus.yml"], directory: scratch, timeout: 60)
        #expect(configCheck.status == 0, Comment(rawValue: configCheck.output))
    }
}

/// /metrics of a real coordinator: every series the dashboard, the alerts and the monitoring README name is served,
/// with the label values their selectors match; and the gauges and counters follow a job, a worker and its loss.
@Suite(.serialized, .timeLimit(.minutes(5))) struct MonitoringTests {
    static func metrics(_ base: String) throws -> Exposition {
        let (code, body) = try httpGet(base + "metrics")
        #expect(code == 200)
        return Exposition(String(decoding: body, as: UTF8.self))
    }

    static func waitFor(_ what: String, _ base: String, seconds: Double = 60, _ condition: (Exposition) -> Bool) throws
        -> Exposition
    {
        let deadline = Date().addingTimeInterval(seconds)
        var last = Exposition("")
        while Date() < deadline {
            last = try metrics(base)
            if condition(last) { return last }
            Thread.sleep(forTimeInterval: 0.2)
        }
        Issue.record("timed out waiting for \(what): \(last.samples.map { "\($0.name)\($0.labels) \($0.value)" })")
        throw FarmTestError.timeout(what, "")
    }

    @Test func everySeriesTheDashboardAndAlertsNameIsServed() throws {
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0"])
        let served = try Self.metrics(try farm.dashboardURL())
        var named = 0
        for file in MonitoringFiles.checked {
            let names = try MonitoringFiles.seriesNames(file)
            named += names.count
            #expect(!names.isEmpty, "\(file) names no series")
            let missing = MonitoringFiles.unserved(names, by: served)
            #expect(missing.isEmpty, "\(file) names series /metrics does not serve: \(missing)")
            for (series, label, values) in try MonitoringFiles.matchers(file) {
                let known = served.values(of: label, in: series)
                #expect(!known.isEmpty, "\(file): \(series) has no label \(label)")
                #expect(
                    Set(values).isSubset(of: known),
                    "\(file): \(series){\(label)} matches \(values), served: \(known.sorted())")
            }
        }
        let dashboard = try MonitoringFiles.seriesNames("grafana-dashboard.json")
        #expect(MonitoringFiles.unserved(dashboard, by: served).isEmpty && named > 20)
        // Every family served is on the dashboard.
        let families = Set(served.types.keys)
        #expect(
            families.subtracting(dashboard).isEmpty, "not on the dashboard: \(families.subtracting(dashboard).sorted())"
        )
        // Each labelled family has every value of its list from the start.
        #expect(served.values(of: "state", in: "stylefarm_jobs") == Set(FarmMetrics.jobStates))
        #expect(served.values(of: "state", in: "stylefarm_workers") == Set(FarmMetrics.workerStates))
        #expect(
            served.values(of: "reason", in: "stylefarm_lease_failures_total") == Set(FarmMetrics.leaseFailureReasons))
        #expect(served.values(of: "reason", in: "stylefarm_refusals_total") == Set(FarmMetrics.refusalReasons))
        #expect(
            served.types["stylefarm_coordinator_cpu_seconds_total"] == "counter"
                && served.types["stylefarm_jobs"] == "gauge")
    }

    @Test func gaugesAndCountersFollowAJobAWorkerAndItsLoss() throws {
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0"])
        let base = try farm.dashboardURL()
        _ = try SmallJob.submit(farm.client)
        // No worker: the job's first stage is runnable and every tile of it waits.
        var m = try Self.waitFor("a running job with queued tiles", base) {
            $0.value("stylefarm_jobs", ["state": "running"]) == 1 && ($0.value("stylefarm_tiles_queued") ?? 0) >= 1
        }
        #expect(m.value("stylefarm_workers_alive") == 0 && m.value("stylefarm_tiles_leased") == 0)
        m = try Self.waitFor("the stage to age", base) { ($0.value("stylefarm_oldest_stage_age_seconds") ?? 0) >= 1 }

        // Refusals on the wire, by code: an unknown job's cancel (not-found) and status (body).
        #expect(throws: (any Error).self) { try farm.client.cancel(job: "nope") }
        #expect(throws: (any Error).self) { try farm.client.status(job: "nope") }
        m = try Self.waitFor("two refusals", base) {
            $0.value("stylefarm_refusals_total", ["reason": "not-found"]) == 1
                && $0.value("stylefarm_refusals_total", ["reason": "body"]) == 1
        }

        // A worker takes the tile; lost (SIGKILL), its lease fails as worker_lost.
        try farm.startWorker()
        m = try Self.waitFor("a busy worker", base, seconds: 90) {
            $0.value("stylefarm_workers", ["state": "busy"]) == 1 && ($0.value("stylefarm_tiles_leased") ?? 0) >= 1
        }
        farm.workers[0].stop()
        m = try Self.waitFor("the lost worker's lease to fail", base) {
            ($0.value("stylefarm_lease_failures_total", ["reason": "worker_lost"]) ?? 0) >= 1
                && $0.value("stylefarm_workers_alive") == 0
        }
        #expect(FarmMetrics.workerStates.allSatisfy { m.value("stylefarm_workers", ["state": $0]) == 0 })
        #expect((m.value("stylefarm_tiles_requeued_total") ?? 0) >= 1 && (m.value("stylefarm_tiles_queued") ?? 0) >= 1)
        #expect((m.value("stylefarm_coordinator_cpu_seconds_total") ?? 0) > 0)
    }
}
