import FarmCoordinator
import FarmProtocol
import FarmTestSupport
import FarmTransport
import Foundation
import Testing

/// Roles bound to keys (Docs/security.md, "Threat model"): every command authorised by the key that sent it, jobs
/// owned by the client that submitted them, a routing id bound to one key; and the bounded tables and retention.
@Suite struct RolesTests {
    static let worker = Caller(key: "KW", name: "node7", role: .worker)
    static let alice = Caller(key: "KA", name: "alice", role: .client)
    static let bob = Caller(key: "KB", name: "bob", role: .client)
    static let admin = Caller(key: "KR", name: "root", role: .admin)

    /// A harness where "w" is a worker key, "alice" and "bob" clients and "root" an admin; alice's job is running
    /// on "w".
    static func farm() -> (CoreHarness, JobID) {
        var h = CoreHarness()
        h.callers = ["w": worker, "alice": alice, "bob": bob, "root": admin]
        let id = h.submit(CoreHarness.smallSpec(), from: "alice")!
        h.ready("w")
        h.advance(to: 0.1)
        return (h, id)
    }

    static func lastError(_ h: CoreHarness, to peer: String) -> ErrorBody? {
        h.sent(to: peer, .error, as: ErrorBody.self).last
    }

    @Test(arguments: [Command.submit, .status, .cancel, .fetchOutput])
    func aWorkerKeyCannotActAsAClient(_ command: Command) {
        var (h, id) = Self.farm()
        let drops = h.metrics.filter { $0 == .messageDropped }.count
        h.receive(Message(command, CancelBody(job: id)), from: "w")
        #expect(Self.lastError(h, to: "w")?.code == "forbidden")
        #expect(h.metrics.filter { $0 == .messageDropped }.count == drops + 1, "counted")
        #expect(h.core.phase(of: id) == .running(stage: 0), "nothing happened to the job")
        #expect(h.commands(to: "w").allSatisfy { $0 != .statusReply && $0 != .submitted && $0 != .output })
    }

    @Test(arguments: [Command.ready, .fetch, .result, .progress, .failed, .heartbeat])
    func aClientKeyCannotActAsAWorker(_ command: Command) {
        var (h, _) = Self.farm()
        let lease = h.leases(of: "w")[0]
        let body: Message =
            switch command {
            case .ready:
                Message(.ready, ReadyBody(name: "fake", threads: 64, versions: FarmProtocol.versions, busy: []))
            case .result: Message(.result, ResultBody(lease: lease.lease, seconds: 1, loss: 1), payload: [[]])
            default: Message(command, FailedBody(lease: lease.lease, reason: "x"))
            }
        h.receive(body, from: "bob")
        #expect(Self.lastError(h, to: "bob")?.code == "forbidden")
        #expect(!h.core.scheduler.liveWorkers.contains("bob"), "a client never becomes a worker")
        #expect(h.core.scheduler.lease(lease.lease)?.worker == "w", "the worker's lease is untouched")
    }

    @Test func aClientSeesAndTouchesOnlyItsOwnJobs() throws {
        var (h, id) = Self.farm()
        h.receive(Message(.status, StatusBody()), from: "bob")
        let reply = try #require(h.sent(to: "bob", .statusReply, as: StatusReplyBody.self).last)
        #expect(reply.jobs.isEmpty, "bob sees none of alice's jobs")
        #expect(
            reply.workers.count == 1 && reply.workers[0].leases.isEmpty && reply.workers[0].id == "w",
            "workers by name, without their lease tokens")
        // Each refused with its exact code and text, exactly as for a job that does not exist, and nothing else sent.
        for (m, code, text) in [
            (Message(.status, StatusBody(job: id)), "body", "malformed body: no job \(id)"),
            (Message(.cancel, CancelBody(job: id)), "not-found", "no job \(id)"),
            (
                Message(.fetchOutput, OutputRequestBody(job: id)), "body",
                "malformed body: job \(id) has no output (not done)"
            )
        ] {
            for job in [id, "jnothere"] {
                var m = m
                m.body = Array(
                    String(decoding: m.body, as: UTF8.self).replacingOccurrences(of: id.rawValue, with: job.rawValue)
                        .utf8)
                let before = h.commands(to: "bob").count
                h.receive(m, from: "bob")
                let error = Self.lastError(h, to: "bob")
                #expect(
                    h.commands(to: "bob").count == before + 1 && h.commands(to: "bob").last == .error,
                    "\(m.command): one answer, an error")
                #expect(
                    error?.code.rawValue == code
                        && error?.message == text.replacingOccurrences(of: id.rawValue, with: job.rawValue),
                    "\(m.command) of \(job == id ? "alice's job" : "no job"): \(String(describing: error))")
            }
        }
        #expect(h.core.phase(of: id) == .running(stage: 0))

        h.receive(Message(.status, StatusBody()), from: "alice")
        #expect(h.sent(to: "alice", .statusReply, as: StatusReplyBody.self).last?.jobs.map(\.id) == [id])
        h.receive(Message(.status, StatusBody()), from: "root")
        let full = try #require(h.sent(to: "root", .statusReply, as: StatusReplyBody.self).last)
        #expect(
            full.jobs.map(\.id) == [id] && full.workers[0].leases == [h.leases(of: "w")[0].lease],
            "an admin sees leases")
        h.receive(Message(.cancel, CancelBody(job: id)), from: "root")
        #expect(h.core.phase(of: id) == .cancelled, "an admin may cancel anyone's job")
    }

    @Test func theOwnerCancelsItsJobAndTheJobRemembersItsOwner() {
        var (h, id) = Self.farm()
        #expect(h.core.jobs[id]?.owner == "KA")
        h.receive(Message(.cancel, CancelBody(job: id)), from: "alice")
        #expect(h.core.phase(of: id) == .cancelled && h.commands(to: "alice").last == .statusReply)
    }

    /// A routing id that speaks under another key than the one it was bound to: the message is refused and counted,
    /// the worker that held the id is dropped and its lease goes back to the queue.
    @Test func aStolenRoutingIDGetsNothing() {
        var (h, _) = Self.farm()
        let lease = h.leases(of: "w")[0]
        h.callers["w"] = Self.bob
        h.result(lease, from: "w")
        #expect(Self.lastError(h, to: "w")?.code == "forbidden")
        #expect(h.core.scheduler.lease(lease.lease) == nil, "the lease is revoked, not completed")
        #expect(!h.core.scheduler.liveWorkers.contains("w"))
        #expect(
            h.metrics.contains(.tileRequeued) && !h.metrics.contains { if case .tileDone = $0 { true } else { false } })
    }

    /// A worker whose link drops reconnects with a new routing id; its lost leases count against the worker (its key and
    /// name), not against each connection, so three drops of one machine do not fail a tile "on 3 workers".
    @Test func aWorkerThatReconnectsIsOneWorkerForTheFailureRules() {
        var (h, id) = Self.farm()
        for n in 1 ... 3 {
            let connection = "w-\(n)"
            h.callers[connection] = Self.worker
            h.receive(
                Message(.ready, ReadyBody(name: "node7", threads: 1, versions: FarmProtocol.versions, busy: [])),
                from: connection)
            h.handle(.unreachable(peer: n == 1 ? "w" : "w-\(n - 1)", now: h.now))
            h.advance(to: h.now + 0.1)
        }
        #expect(h.core.phase(of: id) == .running(stage: 0), "the coarse tile was lost three times, by one worker")
        #expect(h.leases(of: "w-3").count == 1, "and the reconnected worker still gets it")
    }

    @Test func idlePeersAreForgottenAndTheTableIsBounded() {
        var config = CoordinatorCore.Config(weightsSHA: "W", weightsBytes: 3)
        (config.peerIdleSeconds, config.maxPeers) = (60, 3)
        var h = CoreHarness(config: config)
        h.ready("w")
        for c in ["c1", "c2"] { h.receive(Message(.status, StatusBody()), from: c) }
        h.receive(Message(.status, StatusBody()), from: "c3")
        #expect(Self.lastError(h, to: "c3")?.code == "busy", "a fourth peer is refused")
        #expect(h.core.peers.count == 3)
        for t in stride(from: 1.0, through: 61, by: 1) {
            h.receive(Message(.heartbeat), from: "w")
            h.advance(to: t)
        }
        #expect(Set(h.core.peers.keys) == ["w"], "the clients are forgotten, the live worker is not")
        h.receive(Message(.status, StatusBody()), from: "c3")
        #expect(h.commands(to: "c3").last == .statusReply)
    }

    /// The weights are tens of MB queued whole for the peer: a peer asking again and again without reading is refused.
    @Test func fetchesAreLimitedPerPeer() {
        var (h, _) = Self.farm()
        func wait(until t: Double) {  // the worker keeps beating meanwhile
            while h.now < t {
                h.receive(Message(.heartbeat), from: "w")
                h.advance(to: min(t, h.now + 1))
            }
        }
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "w")
        wait(until: 10)
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "w")
        #expect(h.commands(to: "w").filter { $0 == .blob }.count == 1)
        #expect(h.sent(to: "w", .reject, as: RejectBody.self).last?.reason.contains("at most once in 30 s") == true)
        wait(until: 61)  // a new minute
        h.clearOutbox()
        for _ in 0 ..< 125 { h.receive(Message(.fetch, FetchBody(kind: "targets", sha256: "T-nothing")), from: "w") }
        let refusals = h.sent(to: "w", .reject, as: RejectBody.self).map(\.reason)
        #expect(refusals.filter { $0.contains("fetches in a minute") }.count == 5, "the 121st to 125th")
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "w")
        #expect(!h.commands(to: "w").contains(.blob), "over the minute's count, even the weights wait")
        wait(until: 122)
        h.receive(Message(.fetch, FetchBody(kind: "weights", sha256: "W")), from: "w")
        #expect(h.commands(to: "w").last == .blob, "a new minute, and 30 s since the last weights")
    }

    @Test func endedJobsArePrunedAfterTheRetention() {
        var config = CoordinatorCore.Config(weightsSHA: "W", weightsBytes: 3)
        config.retention = 100
        var h = CoreHarness(config: config)
        let done = h.submit(CoreHarness.smallSpec())!
        h.ready("a")
        h.advance(to: 0.1)
        CoordinatorCoreTests.renderAll(&h, done)
        let cancelled = h.submit(CoreHarness.smallSpec())!
        h.receive(Message(.cancel, CancelBody(job: cancelled)), from: "client")
        let running = h.submit(CoreHarness.smallSpec())!
        let ended = h.now
        h.advance(to: ended + 99)
        #expect(h.pruned.isEmpty)
        h.advance(to: ended + 101)
        #expect(Set(h.pruned) == [done, cancelled] && h.core.jobs[running] != nil && h.core.jobs[done] == nil)
        #expect(h.core.scheduler.counts(job: done) == nil, "the scheduler forgot it too")
    }

    @Test func theZapHandlerGivesAnAllowedKeyAsItsUserID() throws {
        let pair = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let allowlist = try Allowlist([(pair.publicKey, "node7", .worker)])
        func request(_ key: CurveKeyPair) throws -> [[UInt8]] {
            let raw = try #require(CurveKeyPair.raw(key.publicKey))
            return [
                Array("1.0".utf8), Array("7".utf8), Array("stylefarm".utf8), Array("127.0.0.1".utf8), [],
                Array("CURVE".utf8), raw
            ]
        }
        let (ok, none) = ZapHandler.answer(try request(pair), allowlist: allowlist)
        #expect(
            none == nil && String(decoding: ok[2], as: UTF8.self) == "200"
                && String(decoding: ok[4], as: UTF8.self) == pair.publicKey)
        let (no, refused) = ZapHandler.answer(try request(stranger), allowlist: allowlist)
        #expect(refused == stranger.publicKey && String(decoding: no[2], as: UTF8.self) == "400" && no[4].isEmpty)
    }

    @Test func anAllowlistNamesKeysByFileAndRefusesAKeyInTwoRoles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("allow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        _ = try a.write(directory: dir.appendingPathComponent("workers"), name: "node7")
        _ = try b.write(directory: dir.appendingPathComponent("clients"), name: "alice")
        var list = Allowlist()
        try list.add([dir.appendingPathComponent("workers").path], as: .worker)
        try list.add([dir.appendingPathComponent("clients/alice.pub").path], as: .client)
        #expect(list.caller(key: a.publicKey) == Caller(key: a.publicKey, name: "node7", role: .worker))
        #expect(list.caller(key: b.publicKey)?.role == .client && list.caller(key: b.publicKey)?.name == "alice")
        #expect(list.summary == "1 worker, 1 client, 0 admins")
        #expect(throws: CurveKeyPair.KeyError.self) { try list.add([a.publicKey], as: .admin) }
        try list.add([a.publicKey], as: .worker)
        #expect(list.count == 2, "the same key in the same role twice is one entry")
    }
}
