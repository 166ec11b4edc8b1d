import FarmClient
import FarmTransport
import Foundation
import Testing

/// CURVE, the allowlist, a garbage-spewing TCP client and a flood of oversized frames, on loopback.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SecurityTests {
    /// Runs `stylefarm keygen NAME --dir DIR` and returns the pair.
    func keygen(_ name: String, _ dir: URL) throws -> CurveKeyPair {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let child = try Child(["keygen", name, "--dir", dir.path], log: dir.appendingPathComponent("keygen-\(name).log"))
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

    /// A request that must go unanswered: the handshake is refused, nothing reaches the coordinator.
    func refused(_ endpoint: String, _ security: ClientSecurity) -> Bool {
        do {
            _ = try FarmClient(endpoint: endpoint, security: security, timeout: 1.5, retries: 1).status()
            return false
        } catch let e as FarmClient.ClientError {
            if case .noAnswer = e { return true }
            return false
        } catch { return false }
    }

    @Test func curveFarmRendersForAllowedKeysAndRefusesEveryoneElse() throws {
        let reference = try SmallJob.reference.get()
        let farm = try TestFarm()
        let keys = farm.dir.appendingPathComponent("keys")
        let server = try keygen("coordinator", keys), worker = try keygen("worker", keys)
        let client = try keygen("client", keys), stranger = try keygen("stranger", keys)
        try farm.startCoordinator(extra: ["--dashboard", "127.0.0.1:0"],
                                  security: ["--curve-secret", keys.appendingPathComponent("coordinator.key").path,
                                             "--allow", keys.appendingPathComponent("worker.pub").path, "--allow=\(client.publicKey)"])
        let base = try farm.dashboardURL()
        #expect(farm.coordinator!.output.contains("CURVE, 2 allowed client keys"))
        try farm.startWorker(security: ["--server-key", keys.appendingPathComponent("coordinator.pub").path,
                                        "--curve-secret", keys.appendingPathComponent("worker.key").path])
        farm.clientSecurity = ClientSecurity(serverKey: server.publicKey, keys: client)
        let job = try SmallJob.submit(farm.client)

        // Each kind of stranger is refused and counted, while the job runs.
        var failures = try authFailures(base)
        for (what, security) in [("plaintext", ClientSecurity.plaintext),
                                 ("wrong server key", ClientSecurity(serverKey: stranger.publicKey, keys: client)),
                                 ("key not on the allowlist", ClientSecurity(serverKey: server.publicKey, keys: stranger))] {
            #expect(refused(farm.endpoint, security), "\(what) must be refused")
            Thread.sleep(forTimeInterval: 0.3)
            let now = try authFailures(base)
            #expect(now > failures, "\(what) is counted")
            failures = now
        }
        // A raw TCP client spewing garbage does not stop the worker.
        let garbage = try RawTCP(port: farm.port)
        for i in 0 ..< 50 { garbage.send((0 ..< 512).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }) }
        #expect(try farm.finish(job) == reference, "CURVE changes nothing in the output")
        garbage.close()
        _ = worker
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
        for _ in 0 ..< 100 { _ = try flooder.send([[0x53, 0x46, 1, 0x10], Array("{}".utf8), big]) }
        Thread.sleep(forTimeInterval: 2)
        flooder.close()
        let after = try rssKiB(pid)
        #expect(after - before < 100_000, "coordinator RSS grew from \(before) to \(after) KiB under 400 MB of oversized frames")
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
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw FarmTestError.failed("connect", "") }
    }
    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    func close() { Glibc.close(fd) }
}
