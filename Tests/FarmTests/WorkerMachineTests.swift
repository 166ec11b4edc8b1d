import FarmProtocol
import FarmWorker
import Foundation
import StyleCore
import Testing
import Tiling

/// The worker's state machine, transition by transition, on a fake clock (seconds passed in).
@Suite struct WorkerMachineTests {
    static let identity = WorkerMachine.Identity(name: "w", threads: 2, cores: 4, memoryLimit: 1 << 30)

    /// What went out: each action in one word, messages by command, for comparing whole transitions.
    static func words(_ actions: [WorkerMachine.Action]) -> [String] {
        actions.compactMap { action in
            switch action {
            case .connect: "connect"
            case .disconnect: "disconnect"
            case let .send(m): "send \(m.command)"
            case let .installWeights(sha, _): "install weights \(sha)"
            case let .installTargets(sha, _): "install targets \(sha)"
            case let .render(body, _): "render \(body.lease)"
            case let .cancel(lease): "cancel \(lease)"
            case let .forgetTargets(sha): "forget \(sha)"
            case .log: nil
            }
        }
    }

    static func sent<T: Decodable>(_ actions: [WorkerMachine.Action], _ command: Command, as type: T.Type) -> [T] {
        actions.compactMap { if case let .send(m) = $0, m.command == command { try? m.decode(T.self) } else { nil } }
    }

    static func receive(_ m: Message, at t: Double) -> WorkerMachine.Event { .received(.success(m), now: t) }

    static func welcome(weights: String = "W") -> Message {
        Message(
            .welcome, WelcomeBody(worker: "w-1", heartbeatSeconds: 1, liveness: 3, weights: weights, weightsBytes: 3))
    }

    static func assign(_ lease: LeaseToken, targets: String = "T", reference: String? = nil) -> Message {
        let tile = TilePlan(width: 64, height: 48, tileSize: 32, overlap: 8, margin: 4).tiles[0]
        return Message(
            .assign,
            AssignBody(
                lease: lease, job: "j", stage: 0, task: TileTask(level: 0, pass: 0, tile: tile, iterations: 5),
                options: RenderOptions(), pooling: .max, targets: targets, reference: reference,
                leaseSeconds: 60), payload: [[], []])
    }

    static func blob(_ kind: BlobKind, _ bytes: [UInt8]) -> Message {
        Message(.blob, FetchBody(kind: kind, sha256: ContentHash.sha256(bytes)), payload: [bytes])
    }

    /// A machine that has registered, installed weights "W" and targets "T" at time 1.
    static func working() -> WorkerMachine {
        var m = WorkerMachine(identity: identity)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.weightsInstalled(sha: "W", speed: 100))
        _ = m.handle(.targetsInstalled(sha: "T"))
        _ = m.handle(receive(welcome(), at: 1))
        return m
    }

    @Test func startConnectsAndSaysReadyWithWhatItHas() {
        var m = WorkerMachine(identity: Self.identity)
        let actions = m.handle(.start(now: 0))
        #expect(Self.words(actions) == ["connect", "send ready"])
        let ready = Self.sent(actions, .ready, as: ReadyBody.self)
        #expect(
            ready.first?.name == "w" && ready.first?.busy == [] && ready.first?.weights == nil
                && ready.first?.memoryLimit == 1 << 30)
        #expect(m.phase == .registering)
    }

    @Test func welcomeRegistersAndFetchesMissingWeightsOnce() {
        var m = WorkerMachine(identity: Self.identity)
        _ = m.handle(.start(now: 0))
        #expect(Self.words(m.handle(Self.receive(Self.welcome(), at: 1))) == ["send fetch"])
        #expect(m.connection == .registered && m.phase == .fetching)
        #expect(
            Self.words(m.handle(Self.receive(Self.welcome(), at: 2))) == [], "a second welcome does not fetch again")
        let installed = Self.working()
        #expect(installed.phase == .idle, "weights already installed: nothing to fetch")
    }

    @Test func unansweredReadyBacksOffDoublingThenRetries() {
        var m = WorkerMachine(identity: Self.identity)
        _ = m.handle(.start(now: 0))
        #expect(Self.words(m.handle(.tick(now: 10))) == [], "the register timeout is 10 s")
        #expect(Self.words(m.handle(.tick(now: 10.5))) == ["disconnect"])
        #expect(m.connection == .backingOff(until: 11.5) && m.backoff == 2)
        #expect(Self.words(m.handle(.tick(now: 11))) == [], "no sleeping: ticks before the backoff ends do nothing")
        #expect(Self.words(m.handle(.tick(now: 11.5))) == ["connect", "send ready"])
        _ = m.handle(.tick(now: 22))
        #expect(m.connection == .backingOff(until: 24) && m.backoff == 4)
        var capped = WorkerMachine(identity: Self.identity)
        for i in 0 ..< 10 {
            _ = capped.handle(.tick(now: Double(i) * 100)); _ = capped.handle(.tick(now: Double(i) * 100 + 11))
        }
        #expect(capped.backoff == 32, "the backoff stops doubling at 32 s")
    }

    @Test func heartbeatsWhenQuietAndBacksOffWhenTheCoordinatorFallsSilent() {
        var m = Self.working()
        #expect(Self.words(m.handle(.tick(now: 1.5))) == ["send heartbeat"], "a second after `ready`")
        #expect(Self.words(m.handle(.tick(now: 2))) == [])
        #expect(Self.words(m.handle(.tick(now: 2.5))) == ["send heartbeat"])
        #expect(Self.words(m.handle(.tick(now: 4.1))) == ["disconnect"], "silent for more than heartbeat × liveness")
        #expect(m.phase == .backingOff && m.backoff == 2)
        _ = m.handle(.tick(now: 5.1))
        _ = m.handle(Self.receive(Self.welcome(), at: 5.2))
        #expect(m.backoff == 1, "welcome resets the backoff")
    }

    @Test func anAssignWaitsForItsTargetsFetchedOnceThenRenders() {
        var m = WorkerMachine(identity: Self.identity)
        _ = m.handle(.start(now: 0))
        _ = m.handle(.weightsInstalled(sha: "W", speed: 100))
        _ = m.handle(Self.receive(Self.welcome(), at: 1))
        let bytes: [UInt8] = [1, 2, 3], sha = ContentHash.sha256(bytes)
        #expect(Self.words(m.handle(Self.receive(Self.assign("e-1", targets: sha), at: 2))) == ["send fetch"])
        #expect(Self.words(m.handle(Self.receive(Self.assign("e-2", targets: sha), at: 2))) == [], "one fetch per SHA")
        #expect(m.phase == .fetching && m.waiting.count == 2)
        #expect(Self.words(m.handle(Self.receive(Self.blob("targets", bytes), at: 3))) == ["install targets \(sha)"])
        #expect(Self.words(m.handle(.targetsInstalled(sha: sha))) == ["render e-1", "render e-2"])
        #expect(m.phase == .rendering && m.rendering == ["e-1", "e-2"] && m.waiting.isEmpty)
    }

    /// Decoded targets are a bounded cache: past `cachedTargets` the least recently used go, never those a waiting
    /// tile needs; a tile that needs forgotten targets later fetches them again.
    @Test func theTargetCacheForgetsTheLeastRecentlyUsedButNeverWhatATileWaitsFor() {
        var m = Self.working()  // "T" installed first
        let n = WorkerMachine.cachedTargets
        // waits for R-missing, needs T
        _ = m.handle(Self.receive(Self.assign("e-1", targets: "T", reference: "R-missing"), at: 2))
        var forgotten: [String] = []
        for i in 1 ... n + 2 {
            forgotten += Self.words(m.handle(.targetsInstalled(sha: "S\(i)"))).filter { $0.hasPrefix("forget") }
        }
        #expect(forgotten == ["forget S1", "forget S2", "forget S3"], "T is older but a waiting tile needs it")
        #expect(m.targets.count == n && m.targets.contains("T"))
        #expect(
            Self.words(m.handle(.targetsInstalled(sha: "R-missing"))) == ["render e-1", "forget S4"],
            "T was just used: the oldest is now S4")
        #expect(
            Self.words(m.handle(Self.receive(Self.assign("e-2", targets: "S1"), at: 3))) == ["send fetch"],
            "forgotten: fetched again")
    }

    @Test func aBlobThatDoesNotMatchItsSHAIsRefused() {
        var m = Self.working()
        let forged = Message(.blob, FetchBody(kind: "weights", sha256: ContentHash.sha256([9])), payload: [[1]])
        let actions = m.handle(Self.receive(forged, at: 2))
        #expect(Self.words(actions) == [])
        #expect(
            actions.contains {
                if case let .log(level, text, _) = $0 { level == .warning && text.contains("sha256") } else { false }
            })
    }

    @Test func renderedTilesGoBackAsResults() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1"), at: 2))
        let result = Message(.result, ResultBody(lease: "e-1", seconds: 1, loss: 2), payload: [[0]])
        #expect(Self.words(m.handle(.rendered(lease: "e-1", result: result))) == ["send result"])
        #expect(m.phase == .idle)
    }

    @Test func aRevokedLeaseIsCancelledAndGivenUpWithFailed() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1"), at: 2))
        let reject = Message(.reject, RejectBody(lease: "e-1", reason: "another copy won"))
        #expect(Self.words(m.handle(Self.receive(reject, at: 3))) == ["cancel e-1"])
        #expect(m.phase == .givingUp)
        #expect(Self.words(m.handle(Self.receive(reject, at: 3))) == [], "cancelled once")
        #expect(
            Self.words(m.handle(.progress(ProgressBody(lease: "e-1", iteration: 1, iterations: 5, loss: 1), now: 4)))
                == [],
            "no progress for a lease being given up")
        let actions = m.handle(.stoppedTile(lease: "e-1", reason: "stopped"))
        #expect(Self.sent(actions, .failed, as: FailedBody.self).map(\.reason) == ["stopped: the lease was revoked"])
        #expect(m.phase == .idle)
        // A result that raced the reject is given up the same way.
        _ = m.handle(Self.receive(Self.assign("e-2"), at: 5))
        _ = m.handle(Self.receive(Message(.reject, RejectBody(lease: "e-2", reason: "lapsed")), at: 5))
        #expect(Self.words(m.handle(.rendered(lease: "e-2", result: Message(.result)))) == ["send failed"])
    }

    @Test func aRejectOfAWaitingAssignDropsItWithoutCancelling() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1", targets: "U"), at: 2))
        #expect(
            Self.words(m.handle(Self.receive(Message(.reject, RejectBody(lease: "e-1", reason: "x")), at: 3))) == [])
        #expect(m.waiting.isEmpty)
        #expect(Self.words(m.handle(.targetsInstalled(sha: "U"))) == [], "nothing left to render")
    }

    @Test func progressIsThrottledPerLease() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1"), at: 2))
        let p = { (t: Double) in ProgressBody(lease: "e-1", iteration: Int(t), iterations: 9, loss: 1) }
        #expect(Self.words(m.handle(.progress(p(2), now: 2))) == ["send progress"])
        #expect(Self.words(m.handle(.progress(p(2.2), now: 2.2))) == [])
        #expect(Self.words(m.handle(.progress(p(2.5), now: 2.5))) == ["send progress"])
        #expect(
            Self.words(m.handle(.progress(ProgressBody(lease: "x", iteration: 1, iterations: 9, loss: 1), now: 9)))
                == [],
            "progress of an unknown lease is not sent")
    }

    @Test func unknownWorkerReregistersWithItsBusyLeases() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1"), at: 2))
        let error = Message(.error, ErrorBody(code: "unknown-worker", message: "say ready first"))
        #expect(Self.words(m.handle(Self.receive(error, at: 3))) == ["disconnect"])
        let again = m.handle(.tick(now: 4))
        #expect(Self.words(again) == ["connect", "send ready"])
        #expect(
            Self.sent(again, .ready, as: ReadyBody.self).first?.busy == ["e-1"], "the tile still rendering holds credit"
        )
        #expect(Self.sent(again, .ready, as: ReadyBody.self).first?.weights == "W")
        let other = Message(.error, ErrorBody(code: "malformed", message: "x"))
        _ = m.handle(Self.receive(Self.welcome(), at: 5))
        #expect(Self.words(m.handle(Self.receive(other, at: 6))) == [] && m.connection == .registered)
    }

    @Test func nothingIsSentWhileBackingOff() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1"), at: 2))
        _ = m.handle(.tick(now: 10))
        #expect(m.phase == .backingOff)
        #expect(Self.words(m.handle(.rendered(lease: "e-1", result: Message(.result)))) == [])
    }

    @Test func aFailedInstallFailsTheTilesWaitingForIt() {
        var m = Self.working()
        _ = m.handle(Self.receive(Self.assign("e-1", targets: "U"), at: 2))
        let actions = m.handle(.installFailed(kind: "targets", sha: "U", reason: "corrupt"))
        #expect(Self.sent(actions, .failed, as: FailedBody.self).map(\.lease) == ["e-1"])
        #expect(m.waiting.isEmpty)
    }

    @Test func malformedMessagesAreLoggedAndProveTheCoordinatorAlive() {
        var m = Self.working()
        let actions = m.handle(.received(.failure(.badHeader), now: 3.9))
        #expect(Self.words(actions) == [] && !actions.isEmpty)
        #expect(Self.words(m.handle(.tick(now: 6))) == ["send heartbeat"], "heard at 3.9: not silent at 6")
    }

    @Test func stopSaysGoodbyeOnlyWhenRegistered() {
        var m = Self.working()
        #expect(Self.words(m.handle(.stop)) == ["send goodbye", "disconnect"])
        #expect(m.phase == .stopped && Self.words(m.handle(.tick(now: 100))) == [])
        var fresh = WorkerMachine(identity: Self.identity)
        _ = fresh.handle(.start(now: 0))
        #expect(Self.words(fresh.handle(.stop)) == ["disconnect"])
    }

    /// An assignment outside the limits (history 0 once hit a precondition in L-BFGS) is refused with `failed`,
    /// never rendered, and the worker takes the next one.
    @Test func anAssignOutsideTheLimitsIsRefusedNotRendered() throws {
        var m = Self.working()
        var body = try Self.assign("bad").decode(AssignBody.self)
        body.options.optimizer = .lbfgs(history: 0)
        let refused = m.handle(Self.receive(Message(.assign, body, payload: [[], []]), at: 2))
        #expect(Self.words(refused) == ["send failed"])
        #expect(Self.sent(refused, .failed, as: FailedBody.self).first?.reason.contains("lbfgs.history") == true)
        body.task.tile.render.x = Int.max  // the sums of a rectangle must not trap either
        #expect(Self.words(m.handle(Self.receive(Message(.assign, body, payload: [[], []]), at: 2))) == ["send failed"])
        #expect(Self.words(m.handle(Self.receive(Self.assign("good"), at: 3))) == ["render good"])
    }
}
