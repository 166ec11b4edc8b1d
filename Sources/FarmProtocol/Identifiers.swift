/// A job's id: `j` and a base-36 number, made by the coordinator's journal when the job is submitted.
public struct JobID: WireName {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A worker as the coordinator names its peer: the printable name of its connection's routing id
/// (`Coordinator.peerName`), which the scheduler keys its workers by; a new one on every reconnect.
public struct WorkerID: WireName {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A tile's lease (`epoch-counter`, made by the scheduler): what a worker's progress, result or failure names.
public struct LeaseToken: WireName {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}
