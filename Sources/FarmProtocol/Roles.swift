/// What an authenticated peer may do (Docs/protocol.md, "Roles"; Docs/security.md, "Threat model"). A role belongs
/// to a CURVE public key on the coordinator's allowlist, never to a routing id: the coordinator authorises every
/// command by the key the ZAP handler authenticated.
public enum PeerRole: String, Sendable, Codable, CaseIterable {
    /// Renders tiles: `ready`, heartbeats, fetching blobs, progress and results of its own leases.
    case worker
    /// Submits jobs and sees, cancels and fetches its own.
    case client
    /// Everything a worker and a client may do, on every job.
    case admin

    /// The commands a peer of this role may send; anything else is refused (`error` code `forbidden`) and counted.
    public var commands: Set<Command> {
        switch self {
        case .worker: Self.workerCommands
        case .client: Self.clientCommands
        case .admin: Self.workerCommands.union(Self.clientCommands)
        }
    }

    public func may(_ command: Command) -> Bool { commands.contains(command) }

    /// Admins see and touch every job; a client only those it submitted.
    public var seesEveryJob: Bool { self == .admin }

    /// Admins steer workers (drain, resume, clear a blocklist); clients steer their own jobs only.
    public var steersWorkers: Bool { self == .admin }

    static let workerCommands: Set<Command> = [.ready, .heartbeat, .goodbye, .fetch, .progress, .result, .failed]
    static let clientCommands: Set<Command> = [.submit, .status, .cancel, .fetchOutput, .control]
}

/// Who sent a message: the authenticated key, the name the allowlist gives it, and its role. With `--insecure`
/// there is no key and every peer is `insecure` (an admin), which is why plaintext is for one trusted machine.
public struct Caller: Sendable, Hashable {
    /// The CURVE public key (Z85), or "" in plaintext.
    public var key: String
    public var name: String
    public var role: PeerRole

    public init(key: String, name: String, role: PeerRole) {
        (self.key, self.name, self.role) = (key, name, role)
    }

    /// Every peer of a plaintext coordinator.
    public static let insecure = Caller(key: "", name: "insecure", role: .admin)
}
