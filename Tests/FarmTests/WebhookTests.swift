import FarmCoordinator
import FarmProtocol
import FarmScheduler
import FarmTestSupport
import Foundation
import Testing

/// The webhooks' pure parts (Docs/operations.md, "Webhooks"): the backoff, the bounded queue on a clock of numbers,
/// the signature, the payload, the URLs and the key; and the core telling the operator exactly once per ending.
@Suite struct WebhookTests {
    static func policy(attempts: Int = 5, queueLimit: Int = 1000) -> WebhookPolicy {
        var p = WebhookPolicy()
        (p.attempts, p.queueLimit) = (attempts, queueLimit)
        return p
    }

    @Test func theBackoffDoublesFromOneSecondAndGivesUpAfterFiveTries() throws {
        let p = WebhookPolicy()
        #expect((1 ... 5).map { p.retryDelay(after: $0) } == [1, 2, 4, 8, nil])
        #expect(p.timeout == 10 && p.queueLimit == 1000)
        // A receiver that fails every try, on a clock of numbers: tried at 0, 1, 3, 7 and 15 s, then given up.
        var q = WebhookQueue<String>(policy: p)
        let none = q.enqueue("e", now: 0)
        #expect(none == nil)
        var tries: [Double] = []
        var now = 0.0
        while let due = q.nextDue {
            let early = q.take(now: due - 0.01)
            #expect(early == nil, "not before it is due")
            now = due
            let taken = q.take(now: now)
            let entry = try #require(taken)
            #expect(entry.attempts == tries.count)
            tries.append(now)
            let (retryAt, dropped) = q.failed(entry, now: now)
            #expect(dropped == nil)
            #expect(retryAt == p.retryDelay(after: tries.count).map { now + $0 })
        }
        #expect(tries == [0, 1, 3, 7, 15] && q.isEmpty && q.dropped == 0)
    }

    @Test func aRetryWaitingDoesNotHoldBackANewerEvent() throws {
        var q = WebhookQueue<String>(policy: Self.policy())
        _ = q.enqueue("old", now: 0)
        let taken = q.take(now: 0)
        let old = try #require(taken)
        _ = q.failed(old, now: 0)  // due again at 1
        _ = q.enqueue("new", now: 0.5)
        let (a, b, c) = (q.take(now: 0.5), q.take(now: 0.9), q.take(now: 1))
        #expect(a?.item == "new" && b == nil && c?.item == "old")
    }

    @Test func theQueueIsBoundedAndDropsTheOldestCountingIt() throws {
        var q = WebhookQueue<Int>(policy: Self.policy(queueLimit: 3))
        let dropped = (0 ..< 5).map { q.enqueue($0, now: Double($0)) }
        #expect(dropped == [nil, nil, nil, 0, 1])
        #expect(q.waiting.map(\.item) == [2, 3, 4] && q.dropped == 2)
        // A try of 2 fails while 5 arrived: 2 is still the oldest when it goes back, and is the one dropped.
        let taken = q.take(now: 10)
        let two = try #require(taken)
        #expect(two.item == 2)
        _ = q.enqueue(5, now: 10)
        let (retryAt, gone) = q.failed(two, now: 10)
        #expect(retryAt == nil && gone == 2 && q.dropped == 3 && q.waiting.map(\.item) == [3, 4, 5])
        // A thousand and ten events into the default queue: the first ten are dropped.
        var big = WebhookQueue<Int>(policy: WebhookPolicy())
        for i in 0 ..< 1010 { _ = big.enqueue(i, now: 0) }
        #expect(big.waiting.count == 1000 && big.dropped == 10 && big.waiting.first?.item == 10)
    }

    /// The same HMAC as Python's `hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()`.
    @Test func theSignatureIsStripesSchemeAndIsVerified() {
        let key = Array("whsec-test-0123456789".utf8), body = Array(#"{"a":1}"#.utf8)
        let header = WebhookSignature.sign(body: body, key: key, time: 1_700_000_000)
        #expect(header == "t=1700000000,v1=ba8ec7f38c4e076a99176a1bf98ae9f2f3f4e18412b46a5913ddcf5685932c6a")
        #expect(WebhookSignature.verify(header, body: body, key: key, now: 1_700_000_100))
        #expect(
            !WebhookSignature.verify(header, body: Array(#"{"a":2}"#.utf8), key: key, now: 1_700_000_100),
            "another body")
        #expect(
            !WebhookSignature.verify(header, body: body, key: Array("whsec-test-0123456788".utf8), now: 1_700_000_100),
            "another key")
        #expect(!WebhookSignature.verify(header, body: body, key: key, now: 1_700_000_400), "replayed too late")
        #expect(!WebhookSignature.verify("t=1700000000", body: body, key: key, now: 1_700_000_000))
    }

    @Test func thePayloadIsTheNoticeWithItsDeliveryID() throws {
        let end = FarmNotice.JobEnd(
            id: "j1", name: "poster", owner: "alice", state: "done", detail: nil, submitted: 1, started: 2, finished: 3,
            output: FarmNotice.Output(path: "/var/lib/stylefarm/outputs/j1.png", bytes: 42))
        let delivery = try WebhookDelivery(FarmNotice(event: .jobDone, time: 3, job: end), id: "d-1")
        let text = String(decoding: delivery.body, as: UTF8.self)
        #expect(
            text
                == #"{"event":"job.done","id":"d-1","job":{"finished":3,"id":"j1","name":"poster","output":{"bytes":42,"#
                + #""path":"/var/lib/stylefarm/outputs/j1.png"},"owner":"alice","started":2,"state":"done","submitted":1},"time":3}"#
        )
        #expect(delivery.event == .jobDone && delivery.id == "d-1")
        #expect(try WebhookDelivery(FarmNotice(event: .workerLost, time: 1)).id.count == 36, "a UUID by default")
    }

    @Test func onlyHTTPAndHTTPSURLsWithAHostAreTaken() {
        for good in ["http://127.0.0.1:8080/hook", "https://hooks.example.com/stylefarm?farm=a", "HTTPS://example.com"]
        {
            #expect((try? WebhookConfig.url(good)) != nil, "\(good)")
        }
        for bad in [
            "ftp://example.com/x", "file:///tmp/x", "hooks.example.com/x", "http://", "https:///path", "",
            "javascript:alert(1)"
        ] {
            #expect(throws: WebhookError.self, "\(bad)") { try WebhookConfig.url(bad) }
        }
    }

    @Test func aMissingKeyIsGeneratedOnceOwnerOnlyAndAGivenOneIsRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "webhook-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try WebhookSecret.load(file: nil, stateDirectory: dir)
        #expect(first.created && first.key.count == 64 && first.file.lastPathComponent == "webhook-secret")
        let mode = try FileManager.default.attributesOfItem(atPath: first.file.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let again = try WebhookSecret.load(file: nil, stateDirectory: dir)
        #expect(!again.created && again.key == first.key, "kept across restarts")
        let given = dir.appendingPathComponent("given")
        try Data("  operator-chosen-key-123\n".utf8).write(to: given)
        #expect(try WebhookSecret.load(file: given, stateDirectory: dir).key == Array("operator-chosen-key-123".utf8))
        try Data("short".utf8).write(to: given)
        #expect(throws: WebhookError.self) { try WebhookSecret.load(file: given, stateDirectory: dir) }
        #expect(throws: WebhookError.self) {
            try WebhookSecret.load(file: dir.appendingPathComponent("none"), stateDirectory: dir)
        }
    }

    /// The core says each ending once, where it happens: done, failed, cancelled, and a lost worker with its requeued tile.
    @Test func theCoreNotifiesEachEndingOnceAndALostWorkersTiles() throws {
        var (h, done) = ControlTests.farm(workers: ["w"])
        CoordinatorCoreTests.renderAll(&h, done, workers: ["w"])
        #expect(h.core.phase(of: done) == .done)
        let cancelledID = h.submit(CoreHarness.smallSpec(name: "to cancel"), from: "alice")
        let cancelled = try #require(cancelledID)
        _ = h.control(ControlBody(.cancel, job: cancelled), from: "alice")
        _ = h.control(ControlBody(.cancel, job: cancelled), from: "alice")  // refused: told once
        let failedID = h.submit(CoreHarness.smallSpec(name: "to fail"), from: "alice")
        let failed = try #require(failedID)
        h.handle(.workFailed(job: failed, reason: "disk on fire", now: h.now))
        h.handle(.workFailed(job: failed, reason: "again", now: h.now))  // already ended: nothing
        let jobs = h.notices.compactMap(\.job)
        #expect(h.notices.map(\.event) == [.jobDone, .jobCancelled, .jobFailed])
        #expect(jobs.map(\.id) == [done, cancelled, failed] && jobs.map(\.state) == ["done", "cancelled", "failed"])
        #expect(
            jobs.map(\.owner) == ["alice", "alice", "alice"] && jobs.map(\.name) == ["small", "to cancel", "to fail"])
        #expect(jobs[0].started != nil && jobs[0].finished != nil && jobs[0].detail == nil)
        #expect(jobs[2].detail == "disk on fire" && jobs[1].detail == "cancelled")

        // A worker holding a tile goes silent: it is lost, and the notice names its tile, requeued.
        let runningID = h.submit(CoreHarness.smallSpec(name: "running"), from: "alice")
        let running = try #require(runningID)
        h.advance(to: h.now + 0.1)
        let lease = try #require(h.leases(of: "w").last)
        #expect(lease.job == running)
        h.advance(to: h.now + 10)
        let lost = try #require(h.notices.last)
        #expect(lost.event == .workerLost && lost.job == nil)
        #expect(lost.worker?.id == "w" && lost.worker?.name == "w" && lost.worker?.key == "node7")
        #expect(lost.worker?.reason.hasPrefix("silent for") == true)
        #expect(
            lost.worker?.requeued == [FarmNotice.Tile(job: running, stage: lease.stage, tile: lease.task.tile.index)])
    }

    /// A job the journal holds as ended is not news at the next start.
    @Test func jobsFoundEndedAtStartAreNotNotified() {
        var h = CoreHarness()
        for (id, state) in [("a", JobState.done), ("b", .failed), ("c", .cancelled)] {
            h.handle(
                .admitted(
                    CoordinatorCore.StoredJobInfo(
                        id: JobID(id), spec: CoreHarness.smallSpec(), state: state, detail: nil, stage: 0, memory: []),
                    replyTo: nil, now: 0))
        }
        #expect(h.core.jobs.count == 3 && h.notices.isEmpty)
    }
}
