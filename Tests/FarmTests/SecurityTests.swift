import FarmClient
import FarmProtocol
import FarmTransport
import Foundation
import Testing

/// CURVE, the allowlist, a garbage-spewing TCP client and a flood of oversized frames, on loopback.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SecurityTests {
    /// Runs `stylefarm keygen NAME --dir DIR` and returns the pair.
    func keygen(_ name: String, _ dir: URL) throws -> CurveKeyPair {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let child = try Child(
            ["keygen", name, "--dir", dir.path], log: dir.appendingPathComponent("keygen-\(name).log"))
        child.process.waitUntilExit()
        #expect(child.process.terminationStatus == 0)
        let key = dir.appendingPathComponent("\(name).key")
        let mode = try FileManager.default.attributesOfItem(atPath: key.path)[.posixPermissions] as? Int
        #expect(mode == 0o600, "secret keys are private")
        return try CurveKeyPair.read(secretFile: key)
    }

    func authFailures(_ base: String) throws -> Double {
        let text = String(decoding: try httpGet(base + "metrics").1, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix("stylefarm_auth_failures_total ") }
            .flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    }

    /// A request that must not go through: the handshake is refused, nothing reaches the coordinator. Returns what the
    /// client was told (a handshake failure names its key; a plaintext client only hears nothing), nil if it went through.
    func refused(_ endpoint: String, _ security: ClientSecurity) -> String? {
        do {
            _ = try FarmClient(endpoint: endpoint, security: security, timeout: 1.5, retries: 1).status()
            return nil
        } catch let e as FarmClient.ClientError {
            switch e {
            case .noAnswer, .handshake: return "\(e)"
            case .refused, .busy: return nil
            }
        } catch { return nil }
    }

    /// `error` answers come back as `ClientError.refused`: its text, or nil when the request went through.
    func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let FarmClient.ClientError.refused(why) {
            return why
        } catch {
            return "\(error)"
        }
    }

    /// One CURVE farm: keys by role from `stylefarm keygen` (a directory of workers, a client file and a client key
    /// inline, an admin), a job rendered byte-identical to the plaintext farm's while strangers are refused and
    /// counted, and every role kept to its own commands and jobs (Docs/security.md, "Threat model").
    @Test func curveFarmRendersForAllowedKeysAndRefusesEveryoneElse() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let keys = farm.dir.appendingPathComponent("keys")
        let server = try keygen("coordinator", keys),
            worker = try keygen("worker", keys.appendingPathComponent("workers"))
        let client = try keygen("client", keys), stranger = try keygen("stranger", keys)
        let other = try keygen("other", keys), admin = try keygen("admin", keys)
        try farm.startCoordinator(
            extra: ["--dashboard", "127.0.0.1:0"],
            security: [
                "--curve-secret", keys.appendingPathComponent("coordinator.key").path,
                "--allow-workers", keys.appendingPathComponent("workers").path,
                "--allow-clients", keys.appendingPathComponent("client.pub").path, "--allow-clients=\(other.publicKey)",
                "--allow-admins", keys.appendingPathComponent("admin.pub").path
            ])
        let base = try farm.dashboardURL()
        #expect(farm.coordinator!.output.contains("CURVE, allowed keys: 1 worker, 2 clients, 1 admin"))
        try farm.startWorker(security: [
            "--server-key", keys.appendingPathComponent("coordinator.pub").path,
            "--curve-secret", keys.appendingPathComponent("workers/worker.key").path
        ])
        farm.clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: client)
        let job = try SmallJob.submit(farm.client)
        func as_(_ keys: CurveKeyPair) -> FarmClient {
            FarmClient(
                endpoint: farm.endpoint, security: ClientSecurity(serverKey: server.publicKey, keys: keys), timeout: 5,
                retries: 1)
        }

        // Each kind of stranger is refused and counted, while the job runs.
        var failures = try authFailures(base)
        for (what, security) in [
            ("plaintext", ClientSecurity.plaintext),
            ("wrong server key", ClientSecurity(serverKey: stranger.publicKey, keys: client)),
            ("key not on the allowlist", ClientSecurity(serverKey: server.publicKey, keys: stranger))
        ] {
            let told = refused(farm.endpoint, security)
            #expect(told != nil, "\(what) must be refused")
            if what == "key not on the allowlist" {
                // Told at once, naming the key, not "no answer … is it running?" after the timeout.
                #expect(
                    told?.contains("refused this client key (public key \(stranger.publicKey))") == true,
                    "\(told ?? "")")
            }
            Thread.sleep(forTimeInterval: 0.3)
            let now = try authFailures(base)
            #expect(now > failures, "\(what) is counted")
            failures = now
        }
        // A worker key cannot act as a client: submit, list, cancel, fetch.
        let w = as_(worker)
        for (what, request) in [
            ("submit", { _ = try SmallJob.submit(w) }), ("status", { _ = try w.status() }),
            ("cancel", { _ = try w.cancel(job: job) }), ("fetch", { _ = try w.output(job: job) })
        ] as [(String, () throws -> Void)] {
            #expect(refusal(request)?.contains("a worker key may not send") == true, "a worker key may not \(what)")
        }
        // Another client sees none of this job and cannot touch it, nor register as a worker.
        let o = as_(other)
        #expect(try o.status().jobs.isEmpty && (try o.status().workers.allSatisfy { $0.leases.isEmpty }))
        #expect(refusal { _ = try o.status(job: job) }?.contains("no job") == true)
        #expect(refusal { _ = try o.cancel(job: job) }?.contains("no job") == true)
        #expect(
            refusal {
                _ = try o.request(
                    Message(.ready, ReadyBody(name: "fake", threads: 64, versions: FarmProtocol.versions, busy: [])))
            }?
            .contains("a client key may not send ready") == true)
        // An admin sees the job and the worker's lease; a routing id taken from that view gets nothing.
        let view = try as_(admin).status()
        #expect(view.jobs.map(\.id) == [job])
        if let victim = view.workers.first {
            let thief = try ZMQSocket(.dealer)
            try ClientSecurity(serverKey: server.publicKey, keys: other).apply(to: thief)
            try thief.setRoutingID(Array(victim.id.rawValue.utf8))
            try thief.connect(farm.endpoint)
            for lease in victim.leases {
                _ = try thief.send(
                    Message(
                        .result, ResultBody(lease: lease, seconds: 1, loss: 0),
                        payload: [[UInt8](repeating: 0, count: 12)]
                    ).frames)
            }
            _ = try thief.send(Message(.status, StatusBody()).frames)
            #expect(try thief.receive(timeout: 2) == nil, "a connection with another peer's routing id gets nothing")
            thief.close()
        }
        // A raw TCP client spewing garbage does not stop the worker.
        let garbage = try RawTCP(port: farm.port)
        for i in 0 ..< 50 { garbage.send((0 ..< 512).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }) }
        #expect(try farm.finish(job) == reference, "CURVE, roles and a thief change nothing in the output")
        garbage.close()
        #expect(
            refusal { _ = try o.output(job: job) }?.contains("has no output") == true, "another client cannot fetch it")
        #expect(try as_(admin).output(job: job) == reference, "an admin can")
    }

    /// Z85's alphabet holds '/' and '.', so a 40-character path looks like a key: the file must win
    /// (a Slurm run directory once made every client send the path as the server key).
    @Test func aPublicKeyFileWhosePathIsFortyCharactersIsReadAsAFile() throws {
        let pair = try CurveKeyPair.generate()
        var dir = "/tmp/"
        dir += String(repeating: "k", count: 40 - dir.count - "/c.pub".count)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.pub"
        try Data((pair.publicKey + "\n").utf8).write(to: URL(fileURLWithPath: path))
        #expect(path.count == 40 && CurveKeyPair.isKey(path))
        #expect(try CurveKeyPair.publicKey(path) == pair.publicKey)
        #expect(try CurveKeyPair.publicKey(pair.publicKey) == pair.publicKey)
    }

    @Test func coordinatorRefusesToStartWithoutKeysOrAnExplicitInsecureFlag() throws {
        let farm = try TestFarm()
        try farm.startCoordinator(security: [])
        farm.coordinator!.process.waitUntilExit()
        #expect(farm.coordinator!.process.terminationStatus != 0)
        #expect(farm.coordinator!.output.contains("--insecure"))
    }

    @Test func floodOfOversizedFramesKeepsMemoryBoundedAndServiceUp() throws {
        let farm = try TestFarm()
        try farm.startCoordinator(extra: ["--dashboard", "off", "--max-message-bytes", "1000000"])
        _ = try farm.waitFor("the coordinator", seconds: 10) { _ in true }
        let pid = farm.coordinator!.process.processIdentifier
        let before = try rssKiB(pid)
        let flooder = try ZMQSocket(.dealer)
        try flooder.connect(farm.endpoint)
        let big = [UInt8](repeating: 7, count: 4_000_000)
        for _ in 0 ..< 100 { _ = try flooder.send([[0x53, 0x46, FarmProtocol.version, 0x10], Array("{}".utf8), big]) }
        Thread.sleep(forTimeInterval: 2)
        flooder.close()
        let after = try rssKiB(pid)
        #expect(
            after - before < 100_000,
            "coordinator RSS grew from \(before) to \(after) KiB under 400 MB of oversized frames")
        #expect(try farm.client.status().jobs.isEmpty, "still answering")
    }
}

/// Resident memory of a process, KiB.
func rssKiB(_ pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// A plain TCP connection to 127.0.0.1.
final class RawTCP {
    let fd: Int32
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw FarmTestError.failed("connect", "") }
    }
    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    func close() { Glibc.close(fd) }
}
