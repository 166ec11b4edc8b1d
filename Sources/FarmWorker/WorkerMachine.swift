import FarmProtocol
import Logging

/// A worker's protocol, as a pure state machine (Docs/protocol.md, "Worker"): events in (a message, a tick of
/// the clock, something the compute thread finished), actions out (connect, send, install, render, cancel,
/// log). No I/O and no clock of its own, so every transition is tested directly (WorkerMachineTests).
///
/// Connection: `registering` (a fresh socket, `ready` sent) → `registered` on `welcome` → `backingOff` when
/// the coordinator falls silent, says it does not know us, or stops → `registering` again when the backoff
/// ends. Work, while registered: an `assign` renders at once when the weights and its targets are installed,
/// else waits while they are fetched; a `reject` of a lease in progress gives it up (`failed` is sent when the
/// compute thread stops, so the coordinator frees the credit).
public struct WorkerMachine: Sendable {
    /// What the worker tells the coordinator about itself in `ready`.
    public struct Identity: Sendable {
        public var name: String
        public var threads: Int
        public var cores: Int
        /// The most planned peak memory of a tile it accepts (bytes).
        public var memoryLimit: Int
        /// The BLAS kernel it computes with and why (`KernelInUse.line`).
        public var kernel: String?
        /// The machine's host name (shown on the dashboard).
        public var host: String?
        public init(
            name: String, threads: Int, cores: Int, memoryLimit: Int, kernel: String? = nil, host: String? = nil
        ) {
            (self.name, self.threads, self.cores, self.memoryLimit, self.kernel, self.host) = (
                name, threads, cores, memoryLimit, kernel, host
            )
        }
    }

    /// The machine's timeouts, named once.
    public struct Timing: Sendable {
        /// How long `ready` may go unanswered before the worker gives up on this connection and backs off.
        public var registerTimeout = 10.0
        /// The first backoff after a lost connection; it doubles on each failure up to `maxBackoff` and returns to
        /// this on `welcome`.
        public var firstBackoff = 1.0
        public var maxBackoff = 32.0
        /// Progress of one tile is sent at most this often (each one renews the lease).
        public var progressInterval = 0.5
        public init() {}
    }

    public enum Connection: Equatable, Sendable {
        /// A socket is open and `ready` was sent at `since`; waiting for `welcome`.
        case registering(since: Double)
        case registered
        /// No socket; the next try is at `until`.
        case backingOff(until: Double)
        case stopped
    }

    /// What the worker is doing, in one word (logs, tests).
    public enum Phase: String, Sendable {
        case registering, idle, fetching, rendering, givingUp = "giving up", backingOff = "backing off", stopped
    }

    public enum Event: Sendable {
        /// Start: open the first connection.
        case start(now: Double)
        /// Time passed: heartbeats, silence, backoff.
        case tick(now: Double)
        /// A message from the coordinator (frames without routing id), or `nil` with the decoding error.
        case received(Result<Message, ProtocolError>, now: Double)
        /// The compute thread installed the weights (`speed`: pixel-iterations per second measured on them).
        case weightsInstalled(sha: String, speed: Double)
        /// Decoded Gram targets are cached.
        case targetsInstalled(sha: String)
        /// An install failed (the bytes did not decode).
        case installFailed(kind: BlobKind, sha: String, reason: String)
        /// The compute thread rendered a tile and its message (`result`) is ready to go.
        case rendered(lease: LeaseToken, result: Message)
        /// The compute thread stopped a tile because its lease was revoked, or could not start it.
        case stoppedTile(lease: LeaseToken, reason: String)
        /// The compute thread's progress on a tile.
        case progress(ProgressBody, now: Double)
        /// Say goodbye and stop.
        case stop
    }

    public enum Action: Sendable {
        /// Close any socket and open a fresh one (a new routing id).
        case connect
        case disconnect
        case send(Message)
        /// Decode, measure and cache these weights off the network thread, then report `weightsInstalled`.
        case installWeights(sha: String, bytes: [UInt8])
        /// Decode and cache these targets, then report `targetsInstalled`.
        case installTargets(sha: String, bytes: [UInt8])
        /// Drop these decoded targets: no waiting tile needs them and the cache is full (`cachedTargets`).
        case forgetTargets(sha: String)
        /// Decode the crops and render the tile on the compute thread.
        case render(AssignBody, payload: [[UInt8]])
        /// Stop the tile under this lease at its next iteration.
        case cancel(lease: LeaseToken)
        case log(Logger.Level, String, lease: LeaseToken?)
    }

    public let identity: Identity
    public let timing: Timing
    public private(set) var connection: Connection = .backingOff(until: 0)
    /// Heartbeat interval and liveness, from `welcome`.
    public private(set) var heartbeat = 1.0
    public private(set) var liveness = 3
    var lastHeard = 0.0
    var lastSent = 0.0
    public private(set) var backoff: Double
    /// The installed weights' SHA-256 and the speed measured on them.
    public private(set) var weights: String?
    var speed: Double?
    /// The weights requested from the coordinator (at most one fetch in flight).
    var fetchingWeights: String?
    public private(set) var targets: Set<String> = []
    /// The installed targets, least recently used first.
    var targetUse: [String] = []
    /// Decoded targets kept at most: a job's and its current stage's reference for several jobs at once. A stage's
    /// region reference may be 16 regions × 2.4 MB; without a bound a long-running worker grows with every stage.
    public static let cachedTargets = 16
    /// Assignments held while their weights or targets arrive: a coordinator sends at most its credit (1 or 2) plus
    /// what a reconnect left; each holds its crops, so a coordinator that sends more is refused past this.
    public static let maxWaiting = 8
    var fetchingTargets: Set<String> = []
    /// Assignments waiting for their weights or targets.
    public private(set) var waiting: [(body: AssignBody, payload: [[UInt8]])] = []
    /// Leases on the compute thread (queued or running), and those of them being given up.
    public private(set) var rendering: Set<LeaseToken> = []
    public private(set) var givingUp: Set<LeaseToken> = []
    var lastProgress: [LeaseToken: Double] = [:]

    public init(identity: Identity, timing: Timing = Timing()) {
        self.identity = identity
        self.timing = timing
        backoff = timing.firstBackoff
    }

    public var phase: Phase {
        switch connection {
        case .stopped: return .stopped
        case .backingOff: return .backingOff
        case .registering: return .registering
        case .registered:
            if !givingUp.isEmpty { return .givingUp }
            if !rendering.isEmpty { return .rendering }
            return waiting.isEmpty && fetchingWeights == nil ? .idle : .fetching
        }
    }

    var connected: Bool {
        switch connection {
        case .registering, .registered: true
        case .backingOff, .stopped: false
        }
    }

    // MARK: Events

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case let .start(now): return register(now: now)
        case let .tick(now): return tick(now: now)
        case let .received(.success(m), now):
            lastHeard = now
            do { return try receive(m, now: now) } catch {
                return [.log(.warning, "cannot handle \(m.command): \(error)", lease: nil)]
            }
        case let .received(.failure(e), now):
            lastHeard = now
            return [.log(.warning, "bad message from the coordinator: \(e)", lease: nil)]
        case let .weightsInstalled(sha, speed):
            (weights, self.speed) = (sha, speed)
            if fetchingWeights == sha { fetchingWeights = nil }
            return [.log(.info, "weights \(sha.prefix(12)) installed", lease: nil)] + release()
        case let .targetsInstalled(sha):
            targets.insert(sha)
            targetUse.removeAll { $0 == sha }
            targetUse.append(sha)
            fetchingTargets.remove(sha)
            return release() + evictTargets()
        case let .installFailed(kind, sha, reason):
            if fetchingWeights == sha { fetchingWeights = nil }
            fetchingTargets.remove(sha)
            let stuck = waiting.filter { $0.body.targets == sha || $0.body.reference == sha }.map(\.body.lease)
            waiting.removeAll { stuck.contains($0.body.lease) }
            return [.log(.error, "\(kind) \(sha.prefix(12)) rejected: \(reason)", lease: nil)]
                + stuck.flatMap {
                    send(Message(.failed, FailedBody(lease: $0, reason: "\(kind) did not install: \(reason)")))
                }
        case let .rendered(lease, result):
            rendering.remove(lease)
            lastProgress[lease] = nil
            if givingUp.remove(lease) != nil { return giveUp(lease) }
            return send(result)
        case let .stoppedTile(lease, reason):
            rendering.remove(lease)
            lastProgress[lease] = nil
            if givingUp.remove(lease) != nil { return giveUp(lease) }
            return send(Message(.failed, FailedBody(lease: lease, reason: reason)))
        case let .progress(body, now):
            guard rendering.contains(body.lease), !givingUp.contains(body.lease),
                now - (lastProgress[body.lease] ?? -.infinity) >= timing.progressInterval
            else { return [] }
            lastProgress[body.lease] = now
            return send(Message(.progress, body))
        case .stop:
            let bye: [Action] = connection == .registered ? send(Message(.goodbye)) : []
            connection = .stopped
            return bye + [.disconnect]
        }
    }

    /// A given-up lease: `failed`, so that a coordinator still counting it as busy (after a reconnect) frees the credit.
    mutating func giveUp(_ lease: LeaseToken) -> [Action] {
        [.log(.info, "stopped: the coordinator revoked the lease", lease: lease)]
            + send(Message(.failed, FailedBody(lease: lease, reason: "stopped: the lease was revoked")))
    }

    mutating func tick(now: Double) -> [Action] {
        switch connection {
        case .stopped:
            return []
        case let .backingOff(until):
            return now >= until ? register(now: now) : []
        case let .registering(since):
            guard now - since > timing.registerTimeout else { return [] }
            return backOff(now: now, why: "no answer to ready within \(Int(saturating: timing.registerTimeout)) s")
        case .registered:
            if now - lastHeard > heartbeat * Double(liveness) {
                return backOff(
                    now: now, why: "coordinator silent for \(Int(saturating: heartbeat * Double(liveness))) s")
            }
            return now - lastSent >= heartbeat ? send(Message(.heartbeat), now: now) : []
        }
    }

    /// A fresh connection and `ready`, with the leases still on the compute thread (they hold our credit).
    mutating func register(now: Double) -> [Action] {
        connection = .registering(since: now)
        lastHeard = now
        let ready = ReadyBody(
            name: identity.name, threads: identity.threads, versions: FarmProtocol.versions, weights: weights,
            busy: rendering.sorted(), cores: identity.cores, memoryLimit: identity.memoryLimit, speed: speed,
            kernel: identity.kernel, host: identity.host)
        return [.connect] + send(Message(.ready, ready), now: now)
    }

    /// Drops the connection and waits `backoff` seconds (doubling it) before registering again. Work waiting for
    /// blobs is dropped: the coordinator requeues it when this lease lapses.
    mutating func backOff(now: Double, why: String) -> [Action] {
        let wait = backoff
        connection = .backingOff(until: now + wait)
        backoff = min(timing.maxBackoff, backoff * 2)
        waiting = []
        fetchingWeights = nil
        fetchingTargets = []
        return [.disconnect, .log(.warning, "\(why); reconnecting in \(Int(saturating: wait)) s", lease: nil)]
    }

    mutating func send(_ m: Message, now: Double? = nil) -> [Action] {
        guard connected else { return [.log(.debug, "not connected: \(m.command) dropped", lease: nil)] }
        if let now { lastSent = now }
        return [.send(m)]
    }

    mutating func receive(_ m: Message, now: Double) throws -> [Action] {
        switch m.command {
        case .welcome:
            let body = try m.decode(WelcomeBody.self)
            connection = .registered
            backoff = timing.firstBackoff
            (heartbeat, liveness) = (body.heartbeatSeconds, body.liveness)
            var actions: [Action] = [.log(.info, "joined as \(body.worker)", lease: nil)]
            if body.weights != weights, fetchingWeights != body.weights {
                fetchingWeights = body.weights
                actions += send(Message(.fetch, FetchBody(kind: .weights, sha256: body.weights)), now: now)
            }
            return actions
        case .heartbeat:
            return []
        case .reject:
            let body = try m.decode(RejectBody.self)
            var actions: [Action] = [.log(.info, "coordinator rejected it: \(body.reason)", lease: body.lease)]
            if let lease = body.lease {
                waiting.removeAll { $0.body.lease == lease }
                if rendering.contains(lease), givingUp.insert(lease).inserted { actions.append(.cancel(lease: lease)) }
            }
            return actions
        case .blob:
            let body = try m.decode(FetchBody.self)
            guard m.payload.count == 1, ContentHash.sha256(m.payload[0]) == body.sha256 else {
                throw ProtocolError.malformedBody("\(body.kind) blob does not match its sha256")
            }
            return body.kind == .weights
                ? [.installWeights(sha: body.sha256, bytes: m.payload[0])]
                : [.installTargets(sha: body.sha256, bytes: m.payload[0])]
        case .assign:
            return accept(try m.decode(AssignBody.self), payload: m.payload, now: now)
        case .error:
            let body = try m.decode(ErrorBody.self)
            guard body.code == .unknownWorker || body.code == .shutdown else {
                return [.log(.warning, "coordinator error \(body.code): \(body.message)", lease: nil)]
            }
            return backOff(now: now, why: "coordinator says \(body.code)")
        default:
            return [.log(.warning, "unexpected \(m.command) from the coordinator", lease: nil)]
        }
    }

    /// An assignment: refused under its lease when outside the limits or when too many wait; else it waits for its
    /// weights and targets (fetched once each).
    mutating func accept(_ body: AssignBody, payload: [[UInt8]], now: Double) -> [Action] {
        do { try body.validate() } catch {
            // Refused, not computed: a tile outside the limits must not take the worker down.
            return [.log(.warning, "refused: \(error)", lease: body.lease)]
                + send(Message(.failed, FailedBody(lease: body.lease, reason: "refused by the worker: \(error)")))
        }
        guard waiting.count < Self.maxWaiting else {
            // A coordinator keeps at most its credit of tiles out per worker; more waiting than this is not one, and
            // each holds its crops (up to 256 MiB).
            return [
                .log(.warning, "refused: \(waiting.count) tiles already wait for weights or targets", lease: body.lease)
            ]
                + send(
                    Message(
                        .failed,
                        FailedBody(
                            lease: body.lease, reason: "refused by the worker: \(waiting.count) tiles already wait")))
        }
        waiting.append((body, payload))
        var actions: [Action] = []
        for sha in [body.targets] + (body.reference.map { [$0] } ?? []) where !targets.contains(sha) {
            if fetchingTargets.insert(sha).inserted {
                actions += send(Message(.fetch, FetchBody(kind: .targets, sha256: sha)), now: now)
            }
        }
        return actions + release() + evictTargets()
    }

    /// Hands every waiting assignment whose weights and targets are installed to the compute thread.
    mutating func release() -> [Action] {
        guard weights != nil else { return [] }
        let ready = waiting.filter { a in
            targets.contains(a.body.targets) && (a.body.reference.map(targets.contains) ?? true)
        }
        waiting.removeAll { a in ready.contains { $0.body.lease == a.body.lease } }
        for sha in ready.flatMap({ [$0.body.targets] + ($0.body.reference.map { [$0] } ?? []) }) {  // recently used
            targetUse.removeAll { $0 == sha }
            targetUse.append(sha)
        }
        return ready.map { a in
            rendering.insert(a.body.lease)
            return .render(a.body, payload: a.payload)
        }
    }

    /// Past `cachedTargets`, forgets the least recently used targets that no waiting assignment needs (a tile already
    /// handed to the compute thread carries its own decoded copy; one that comes later fetches them again).
    mutating func evictTargets() -> [Action] {
        let needed = Set(waiting.flatMap { [$0.body.targets] + ($0.body.reference.map { [$0] } ?? []) })
        var actions: [Action] = []
        var i = 0
        while targets.count > Self.cachedTargets, i < targetUse.count {
            let sha = targetUse[i]
            guard !needed.contains(sha) else { i += 1; continue }
            targetUse.remove(at: i)
            targets.remove(sha)
            actions.append(.forgetTargets(sha: sha))
        }
        return actions
    }
}
