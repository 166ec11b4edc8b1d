import Foundation
import Testing

/// The deployment recipes in Cluster/, run for real on this machine: the Slurm batch script on a
/// single-node Slurm, the SSH launcher installing the Debian package on a bare Debian root over ssh, the
/// packaged systemd units' command lines (and `systemd-analyze verify`), and the Kubernetes manifests through
/// kubernetes-validate plus a cross-check of how they fit together. scripts/test.sh installs what they need and
/// makes the package (scripts/package.sh) and the Debian root (Tests/Cluster/debian-root.sh) first.
@Suite(.serialized, .timeLimit(.minutes(8))) struct ClusterTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let binary = Child.executable.path

    /// SmallJob as a job file: the farm must render it byte-identically to SmallJob.reference.
    static func writeSmallJob(to dir: URL) throws -> URL {
        let assets = SmallJob.assets.path
        let url = dir.appendingPathComponent("small.toml")
        try Data(
            """
            name = "small"
            content = "\(assets)/chelsea.png"
            output = "small.png"
            [[style]]
            image = "\(assets)/hokusai_great_wave.jpg"
            [size]
            width = 96
            height = 64
            [tiling]
            coarse-size = 48
            tile = 48
            overlap = 8
            margin = 8
            style-size = 96
            [levels]
            iterations = [10, 24]
            """.utf8
        ).write(to: url)
        return url
    }

    static func scratch(_ name: String) throws -> URL {
        let dir = URL(fileURLWithPath: "/tmp/sf-\(name)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func processesMentioning(_ text: String) -> Int {
        let out = (try? runCommand(["pgrep", "-f", "--", text]))?.output ?? ""
        return out.split(separator: "\n").count
    }

    @Test func slurmBatchScriptRendersAJobFileAcrossTheAllocation() throws {
        let dir = try Self.scratch("slurm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let slurmDir = dir.appendingPathComponent("slurm")
        let harness = Self.repo.appendingPathComponent("Tests/Cluster/slurm-local.sh").path
        let env = ["SLURMCTLD_PORT": "\(TestFarm.freePort())", "SLURMD_PORT": "\(TestFarm.freePort())"]
        let up = try runCommand(["bash", harness, "start", slurmDir.path], environment: env, timeout: 60)
        defer { _ = try? runCommand(["bash", harness, "stop", slurmDir.path], timeout: 30) }
        try #require(up.status == 0, "single-node Slurm did not start: \(up.output)")
        let slurm = ["SLURM_CONF": slurmDir.appendingPathComponent("slurm.conf").path]

        let job = try Self.writeSmallJob(to: dir)
        let submit = try runCommand(
            [
                "sbatch", "--parsable", "--nodes=1", "--ntasks=2", "--cpus-per-task=1",
                "--output=\(dir.path)/slurm-%j.out",
                Self.repo.appendingPathComponent("Cluster/slurm/stylefarm.sbatch").path, job.path
            ],
            environment: slurm.merging([
                "STYLEFARM": Self.binary, "STYLEFARM_DASHBOARD": "off",
                "STYLEFARM_PORT": "\(TestFarm.freePort())"
            ]) { $1 },
            directory: dir, timeout: 30)
        try #require(submit.status == 0, "sbatch: \(submit.output)")
        let id = submit.output.trimmingCharacters(in: .whitespacesAndNewlines)

        // Poll the job's state (sbatch --wait polls with growing pauses and would add ~20 s).
        var state = ""
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline {
            let show = try runCommand(["scontrol", "show", "job", id], environment: slurm, timeout: 10).output
            if let j = show.range(of: #"JobState=\w+"#, options: .regularExpression),
                let e = show.range(of: #"ExitCode=[0-9:]+"#, options: .regularExpression)
            {
                state = "\(show[j].dropFirst(9)) \(show[e].dropFirst(9))"
            }
            // COMPLETING: the batch script has ended but Slurm is still tearing its steps down.
            if let word = state.split(separator: " ").first,
                !["PENDING", "CONFIGURING", "RUNNING", "COMPLETING"].contains(word)
            {
                break
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("slurm-\(id).out"), encoding: .utf8)) ?? ""
        #expect(state == "COMPLETED 0:0", "job \(id): \(state)\n\(log)")
        #expect(log.contains("2 workers x 1 threads"))
        let output = try Data(contentsOf: dir.appendingPathComponent("small.png"))
        #expect(
            [UInt8](output) == (try SmallJob.reference.get()),
            "the Slurm farm's output differs from the loopback farm's")
        // Both tasks ran a worker that did tiles, and nothing is left running.
        let run = dir.appendingPathComponent("stylefarm-\(id)/logs")
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("worker-0.log").path))
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("worker-1.log").path))
        #expect(Self.processesMentioning(dir.path + "/stylefarm-") == 0)
    }

    /// The Debian package scripts/package.sh made: STYLEFARM_PACKAGE, else the newest in dist/ (scripts/test.sh makes
    /// it before the tests run).
    static func package() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["STYLEFARM_PACKAGE"] { return URL(fileURLWithPath: path) }
        let dist = repo.appendingPathComponent("dist")
        let debs =
            ((try? FileManager.default.contentsOfDirectory(
                at: dist, includingPropertiesForKeys: [.contentModificationDateKey])) ?? [])
            .filter { $0.lastPathComponent.hasPrefix("stylefarm_") && $0.pathExtension == "deb" }
        let newest = debs.max { a, b in
            let da =
                (try? a.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let db =
                (try? b.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return da < db
        }
        return try #require(newest, "no package in \(dist.path): run scripts/package.sh (scripts/test.sh does)")
    }

    /// The launcher installs the package on a bare Debian 12 root (debootstrap, no toolchain, none of the libraries:
    /// apt-get fetches them) reached over its own sshd on 127.0.0.2, starts a coordinator from the build tree on this
    /// machine (127.0.0.1) and a packaged worker in the root, `add` starts a second; they render a job file
    /// byte-identically; `stop` stops all three; `dpkg -r` then leaves only the operator's keys, settings and state.
    @Test(.timeLimit(.minutes(8))) func sshLauncherInstallsThePackageOnABareDebianAndItsWorkersRender() throws {
        let dir = try Self.scratch("ssh")
        defer { try? FileManager.default.removeItem(at: dir) }
        let package = try Self.package()
        let harness = Self.repo.appendingPathComponent("Tests/Cluster/sshd-local.sh").path
        let sshd = dir.appendingPathComponent("sshd")
        let sshPort = TestFarm.freePort()
        let up = try runCommand(["bash", harness, "start", sshd.path, "\(sshPort)"], timeout: 30)
        defer { _ = try? runCommand(["bash", harness, "stop", sshd.path]) }
        try #require(up.status == 0, "sshd did not start: \(up.output)")
        let sshOptions = up.output.split(separator: "\n").last.map(String.init) ?? ""
        // The bare Debian machine: its own sshd on 127.0.0.2, the same port and client key.
        let debianRoot = Self.repo.appendingPathComponent("Tests/Cluster/debian-root.sh").path
        let machine = dir.appendingPathComponent("debian")
        let root = machine.appendingPathComponent("root").path
        let debian = try runCommand(
            [
                "bash", debianRoot, "up", machine.path, "127.0.0.2", "\(sshPort)",
                sshd.appendingPathComponent("client_key.pub").path
            ], timeout: 240)
        defer { _ = try? runCommand(["bash", debianRoot, "down", machine.path], timeout: 60) }
        try #require(debian.status == 0, "the Debian root did not come up: \(debian.output)")
        func onDebian(_ command: String) throws -> CommandResult {
            try runCommand(
                ["ssh"] + sshOptions.split(separator: " ").map(String.init) + [
                    "-o", "BatchMode=yes", "127.0.0.2", command
                ],
                timeout: 60)
        }
        #expect(
            try onDebian("command -v stylefarm swift || true").output.trimmingCharacters(in: .whitespacesAndNewlines)
                .isEmpty,
            "the root must start without StyleFarm and without a toolchain")

        let port = TestFarm.freePort()
        let conf = dir.appendingPathComponent("farm.conf")
        try Data(
            """
            COORDINATOR=127.0.0.1
            COORDINATOR_STYLEFARM=\(Self.binary)
            WORKERS="127.0.0.2"
            PORT=\(port)
            DASHBOARD=off
            THREADS=1
            REMOTE_DIR=\(dir.path)/remote
            LOCAL_STYLEFARM=\(Self.binary)
            KEYS=\(dir.path)/keys
            PACKAGE=\(package.path)
            SSH_OPTS="\(sshOptions)"
            """.utf8
        ).write(to: conf)
        let launcher = Self.repo.appendingPathComponent("Cluster/ssh/stylefarm-ssh").path
        let install = try runCommand(["bash", launcher, "install", conf.path], timeout: 240)
        try #require(install.status == 0, "install: \(install.output)")
        #expect(
            install.output.contains("127.0.0.2: installed stylefarm") && !install.output.contains("127.0.0.1:"),
            "once per host, and not on the coordinator's (it runs its own binary): \(install.output)")
        let version = try onDebian("stylefarm --version")
        #expect(
            version.status == 0 && version.output.contains("(commit "),
            "the packaged binary is stamped: \(version.output)")

        defer { _ = try? runCommand(["bash", launcher, "stop", conf.path], timeout: 60) }
        let start = try runCommand(["bash", launcher, "start", conf.path], timeout: 90)
        try #require(start.status == 0, "start: \(start.output)")
        #expect(start.output.contains("started coordinator") && start.output.contains("started worker-0"))
        // One more worker machine in one command (here the same machine again: it has the package already).
        let add = try runCommand(["bash", launcher, "add", conf.path, "127.0.0.2"], timeout: 90)
        #expect(
            add.status == 0 && add.output.contains("already installed") && add.output.contains("started worker-1"),
            "add: \(add.output)")
        #expect(try String(contentsOf: conf, encoding: .utf8).contains("WORKERS=\"127.0.0.2 127.0.0.2\""))
        let status = try runCommand(["bash", launcher, "status", conf.path], timeout: 60)
        #expect(status.output.contains("worker-0 running") && status.output.contains("worker-1 running"))
        // The workers run in the root, on its libraries, with the packaged binary.
        let workerPid = try onDebian("cat \(dir.path)/remote/worker-0.pid").output.trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(workerPid)/root")) == root)
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(workerPid)/exe")) == root
                + "/usr/bin/stylefarm")

        // The farm is CURVE-only: submit with the keys the launcher made.
        let job = try Self.writeSmallJob(to: dir)
        let submit = try runCommand(
            [
                Self.binary, "submit", job.path, "--connect", "tcp://127.0.0.1:\(port)",
                "--server-key", "\(dir.path)/keys/coordinator.pub", "--curve-secret", "\(dir.path)/keys/client.key"
            ],
            timeout: 150)
        #expect(submit.status == 0, "submit: \(submit.output)")
        #expect(
            [UInt8](try Data(contentsOf: dir.appendingPathComponent("small.png"))) == (try SmallJob.reference.get()))

        let stop = try runCommand(["bash", launcher, "stop", conf.path], timeout: 60)
        #expect(stop.status == 0 && stop.output.components(separatedBy: "stopped").count == 4, "stop: \(stop.output)")
        #expect(Self.processesMentioning("\(dir.path)/remote") == 0, "a farm process outlived stop")

        // Removal: every file the package brought is gone but the settings (a conffile, until purge); the keys
        // directory and the state directory the maintainer scripts made stay.
        let listing = try runCommand(["dpkg-deb", "--contents", package.path])
        let shipped = listing.output.split(separator: "\n").compactMap {
            $0.split(separator: " ").last.map { String($0.dropFirst()) }
        }
        .filter { !$0.hasSuffix("/") }
        let removed = try onDebian("dpkg -r stylefarm >/dev/null 2>&1 && echo removed")
        #expect(removed.output.contains("removed"), "dpkg -r: \(removed.output)")
        #expect(shipped.contains("/usr/bin/stylefarm") && shipped.count > 20)
        let left = shipped.filter { FileManager.default.fileExists(atPath: root + $0) }
        #expect(left == ["/etc/stylefarm/stylefarm.env"], "left after dpkg -r: \(left)")
        for gone in [
            "/usr/share/stylefarm", "/usr/share/doc/stylefarm", "/lib/systemd/system/stylefarm-worker@.service"
        ] {
            #expect(!FileManager.default.fileExists(atPath: root + gone), "\(gone) outlived dpkg -r")
        }
        for kept in ["/etc/stylefarm/keys", "/var/lib/stylefarm"] {
            #expect(FileManager.default.fileExists(atPath: root + kept), "\(kept) is the operator's: dpkg -r keeps it")
        }
    }

    /// install.sh unpacks the package into a scratch root (DESTDIR) with the keys; the packaged units' own command
    /// lines, with /etc, /var and /usr/bin moved into that root, run a farm of the packaged binary that renders;
    /// `systemd-analyze verify` accepts both units.
    @Test func systemdUnitsVerifyAndTheirCommandLinesRunAFarm() throws {
        let dir = try Self.scratch("systemd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let units = Self.repo.appendingPathComponent("Cluster/systemd")
        let names = ["stylefarm-coordinator.service", "stylefarm-worker@.service"]

        // Install into a scratch root with install.sh (DESTDIR), as an operator would into / (from the package).
        let keys = dir.appendingPathComponent("keys")
        for name in ["coordinator", "worker", "client"] {
            try #require(try runCommand([Self.binary, "keygen", name, "--dir", keys.path]).status == 0)
        }
        for (name, role) in [("worker", "workers"), ("client", "clients")] {
            try FileManager.default.createDirectory(
                at: keys.appendingPathComponent(role), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: keys.appendingPathComponent("\(name).pub"), to: keys.appendingPathComponent("\(role)/\(name).pub"))
        }
        let root = dir.appendingPathComponent("root")
        let install = try runCommand(
            ["bash", units.appendingPathComponent("install.sh").path, try Self.package().path, keys.path],
            environment: ["DESTDIR": root.path])
        try #require(install.status == 0, "\(install.output)")
        let secret = root.appendingPathComponent("etc/stylefarm/keys/worker.key").path
        #expect((try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int) == 0o640)

        // verify: the binary must exist at ExecStart's path, so check copies that point at the build.
        let verifyDir = dir.appendingPathComponent("verify")
        try FileManager.default.createDirectory(at: verifyDir, withIntermediateDirectories: true)
        var execStart: [String: String] = [:]
        for name in names {
            let text = try String(
                contentsOf: root.appendingPathComponent("lib/systemd/system/\(name)"), encoding: .utf8)
            try Data(text.replacingOccurrences(of: "/usr/bin/stylefarm", with: root.path + "/usr/bin/stylefarm").utf8)
                .write(to: verifyDir.appendingPathComponent(name))
            let joined = text.replacingOccurrences(of: "\\\n", with: " ")
            execStart[name] = joined.split(separator: "\n").first { $0.hasPrefix("ExecStart=") }.map {
                String($0.dropFirst(10))
            }
        }
        // The units name their manual pages (Documentation=man:…): verify finds them in the unpacked package.
        let verify = try runCommand(
            ["systemd-analyze", "verify"] + names.map { "./\($0)" },
            environment: ["MANPATH": root.appendingPathComponent("usr/share/man").path],
            directory: verifyDir, timeout: 60)
        #expect(
            verify.status == 0 && verify.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            "verify: \(verify.output)")

        // Expand the ExecStart lines as systemd would: the environment file, then %i and %H.
        let port = TestFarm.freePort()
        var env: [String: String] = [:]
        for line in try String(contentsOf: root.appendingPathComponent("etc/stylefarm/stylefarm.env"), encoding: .utf8)
            .split(separator: "\n")
        where !line.hasPrefix("#") && line.contains("=") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            env[kv[0]] = kv[1]
        }
        env["STYLEFARM_BIND"] = "tcp://127.0.0.1:\(port)"
        env["STYLEFARM_CONNECT"] = "tcp://127.0.0.1:\(port)"
        env["STYLEFARM_DASHBOARD"] = "off"
        env["STYLEFARM_THREADS"] = "1"
        env["STYLEFARM_WORKER_OPTS"] = "--quiet"
        env["STYLEFARM_WEIGHTS"] = nil  // this machine's weights are in their usual place
        func expand(_ line: String, instance: String) -> [String] {
            line.split(separator: " ", omittingEmptySubsequences: true).flatMap { word -> [String] in
                var w = String(word)
                for (k, v) in env { w = w.replacingOccurrences(of: "${\(k)}", with: v) }
                if w.hasPrefix("$"), let v = env[String(w.dropFirst())] {
                    return v.split(separator: " ").map(String.init)
                }
                w = w.replacingOccurrences(of: "%i", with: instance).replacingOccurrences(of: "%H", with: "host")
                for prefix in ["/etc/stylefarm", "/var/lib/stylefarm", "/var/cache/stylefarm", "/usr/bin"]
                where w.hasPrefix(prefix) {
                    w = root.path + w
                }
                return [w]
            }
        }
        let coordinatorLine = expand(try #require(execStart[names[0]]), instance: "")
        #expect(coordinatorLine.first == root.path + "/usr/bin/stylefarm")
        let coordinator = try Child(
            Array(coordinatorLine.dropFirst()), log: dir.appendingPathComponent("coordinator.log"))
        let workers = try ["1", "2"].map { i in
            try Child(
                Array(expand(try #require(execStart[names[1]]), instance: i).dropFirst()),
                log: dir.appendingPathComponent("worker\(i).log"))
        }
        defer { workers.forEach { $0.stop() }; coordinator.stop() }
        let job = try Self.writeSmallJob(to: dir)
        let submit = try runCommand(
            [
                Self.binary, "submit", job.path, "--connect", "tcp://127.0.0.1:\(port)",
                "--server-key", keys.appendingPathComponent("coordinator.pub").path,
                "--curve-secret", keys.appendingPathComponent("client.key").path
            ], timeout: 150)
        #expect(submit.status == 0, "submit: \(submit.output)\n\(coordinator.output)\n\(workers[0].output)")
        #expect(
            [UInt8](try Data(contentsOf: dir.appendingPathComponent("small.png"))) == (try SmallJob.reference.get()))
        // SIGTERM (systemd's stop) ends every process cleanly.
        for child in workers + [coordinator] {
            child.signal(SIGTERM)
            child.process.waitUntilExit()
            #expect(child.process.terminationStatus == 0, "exit on SIGTERM: \(child.output)")
        }
    }

    @Test func kubernetesManifestsValidateAndFitTogether() throws {
        let dir = try Self.scratch("k8s")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin =
            ProcessInfo.processInfo.environment["STYLEFARM_K8S_VALIDATE"]
            ?? Self.repo.appendingPathComponent(".build/venv-kubernetes-validate/bin").path
        try #require(
            FileManager.default.isExecutableFile(atPath: bin + "/kubernetes-validate"),
            "kubernetes-validate is not installed (scripts/test.sh installs it into .build/venv-kubernetes-validate)")
        let k8s = Self.repo.appendingPathComponent("Cluster/kubernetes")
        let secrets = try runCommand(
            ["bash", k8s.appendingPathComponent("make-secrets.sh").path, dir.appendingPathComponent("keys").path],
            environment: ["STYLEFARM": Self.binary])
        try #require(secrets.status == 0, "\(secrets.output)")
        try Data(secrets.output.utf8).write(to: dir.appendingPathComponent("secrets.yaml"))
        let files = [
            k8s.appendingPathComponent("coordinator.yaml").path, k8s.appendingPathComponent("worker.yaml").path,
            dir.appendingPathComponent("secrets.yaml").path
        ]
        let validate = try runCommand([bin + "/kubernetes-validate", "--strict"] + files, timeout: 60)
        #expect(validate.status == 0, "kubernetes-validate: \(validate.output)")
        for resource in [
            "persistentvolumeclaim/stylefarm-state", "deployment/stylefarm-coordinator",
            "service/stylefarm-coordinator",
            "deployment/stylefarm-worker", "secret/stylefarm-coordinator-keys", "secret/stylefarm-worker-keys",
            "secret/stylefarm-dashboard"
        ] {
            #expect(validate.output.contains("passed for resource \(resource)"), "\(resource) was not validated")
        }
        let check = try runCommand(
            [bin + "/python", Self.repo.appendingPathComponent("Tests/Cluster/check-manifests.py").path] + files)
        #expect(check.status == 0 && check.output.contains("7 resources: 0 problems"), "\(check.output)")

        // The cross-check is not vacuous: a worker pointed at a Service that does not exist is caught.
        let broken = dir.appendingPathComponent("worker-broken.yaml")
        try Data(
            try String(contentsOfFile: files[1], encoding: .utf8)
                .replacingOccurrences(of: "tcp://stylefarm-coordinator:5555", with: "tcp://stylefarm-coordinator:6666")
                .utf8
        ).write(to: broken)
        let caught = try runCommand([
            bin + "/python", Self.repo.appendingPathComponent("Tests/Cluster/check-manifests.py").path,
            files[0], broken.path, files[2]
        ])
        #expect(caught.status == 1 && caught.output.contains("has no port 6666"), "\(caught.output)")
    }
}
