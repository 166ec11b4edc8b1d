import Foundation

/// A message body that checks its own fields: `Message.decode` calls `validateWire()` on every body it decodes,
/// so each field of each message is checked once, at decode, against `WireLimits` (Docs/protocol.md, "Field
/// limits"). A body outside them is refused as `malformedBody`, naming the field and its bound.
public protocol WireValidated {
    func validateWire() throws
}

/// The bounds of every field a message may carry, named once with their reason (the job's own fields are in
/// `JobSpec.Limits`). Optional fields are checked when present.
public enum WireLimits {
    /// Ids: jobs and leases are under 40 bytes; a worker's id is its routing id, at most 255 bytes (libzmq's limit),
    /// written as `0x` and hex when it is not text: 512 bytes.
    public static let idLength = 512
    /// A worker's or a job's name: what the dashboard shows in a column.
    public static let nameLength = 256
    /// Free text (a failure's reason, an error's message): logged and shown, so a screenful.
    public static let textLength = 4096
    /// Threads a worker computes with and cores its machine has: the largest machines today have a few hundred.
    public static let threads = 1 ... 4096
    public static let cores = 1 ... 65_536
    /// Bytes of memory a worker offers for one tile: up to a petabyte, so that sums over workers cannot overflow.
    public static let memoryLimit = 0 ... (1 << 50)
    /// Pixel-iterations per second of a forward and backward pass: a CPU core does about 10^4, the fastest
    /// accelerators 10^8; 10^12 leaves room and keeps placement's products finite.
    public static let speed: ClosedRange<Double> = 0 ... 1e12
    /// Leases a reconnecting worker says it still computes: at most what its threads could hold, with room.
    public static let busyLeases = 10_000
    /// Protocol versions a peer may list.
    public static let versions = 16
    /// A welcome's heartbeat interval and liveness (missed heartbeats before a peer is lost).
    public static let heartbeatSeconds: ClosedRange<Double> = 0.001 ... 3600
    public static let liveness = 1 ... 1000
    /// A loss or a progress count only reported (never computed with) still has to be a finite JSON number.
    public static let iterations = 0 ... 1_000_000_000
    /// Bytes of a blob (the weights, a job's targets): one payload frame.
    public static var blobBytes: ClosedRange<Int> { 1 ... FarmProtocol.Limits.maxPayload }
    /// Bytes of an output file, and so an offset into one: a gigapixel 16-bit TIFF is 6 GiB; 2^40 leaves room.
    public static let outputBytes = 0 ... (1 << 40)
    /// Status replies list at most this many jobs and workers (the peer table's bound is below it).
    public static let listedItems = 1_000_000

    /// Throws `malformedBody` naming `message`'s `field` and why, unless `ok`.
    public static func check(_ ok: Bool, _ message: String, _ field: String, _ why: @autoclosure () -> String) throws {
        if !ok { throw ProtocolError.malformedBody("\(message): \(field): \(why())") }
    }

    /// Whether `s` can name a blob: 1 to 64 ASCII letters, digits or '-' (a SHA-256 is 64 hex digits; what is
    /// stored is checked against the hash of its bytes, so a name that is no hash only finds nothing).
    public static func isBlobName(_ s: String) -> Bool {
        (1 ... 64).contains(s.utf8.count)
            && s.utf8.allSatisfy {
                (0x30 ... 0x39).contains($0) || (0x41 ... 0x5A).contains($0)
                    || (0x61 ... 0x7A).contains($0) || $0 == 0x2D
            }
    }

    static func id(_ s: String) -> Bool { s.utf8.count <= idLength }
    static func id(_ s: String?) -> Bool { s.map(id) ?? true }
    static func id<Name: WireName>(_ s: Name) -> Bool { id(s.rawValue) }
    static func id<Name: WireName>(_ s: Name?) -> Bool { id(s?.rawValue) }
    static func text(_ s: String) -> Bool { s.utf8.count <= textLength }
}

extension ReadyBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(!name.isEmpty && name.utf8.count <= L.nameLength, "ready", "name", "1 to \(L.nameLength) bytes")
        try L.check(L.threads.contains(threads), "ready", "threads", "must be \(L.threads)")
        try L.check(
            !versions.isEmpty && versions.count <= L.versions, "ready", "versions", "1 to \(L.versions) versions")
        try L.check(weights.map(L.isBlobName) ?? true, "ready", "weights", "a blob name (1 to 64 letters, digits or -)")
        try L.check(
            busy.count <= L.busyLeases && busy.allSatisfy(L.id), "ready", "busy",
            "at most \(L.busyLeases) leases of at most \(L.idLength) bytes")
        try L.check(cores.map(L.cores.contains) ?? true, "ready", "cores", "must be \(L.cores)")
        try L.check(
            memoryLimit.map(L.memoryLimit.contains) ?? true, "ready", "memoryLimit", "must be \(L.memoryLimit) bytes")
        try L.check(speed.map { $0.isFinite(in: L.speed) } ?? true, "ready", "speed", "must be finite, \(L.speed)")
        try L.check(kernel.map(L.text) ?? true, "ready", "kernel", "at most \(L.textLength) bytes")
        try L.check(host.map(L.text) ?? true, "ready", "host", "at most \(L.textLength) bytes")
    }
}

extension WelcomeBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(worker), "welcome", "worker", "at most \(L.idLength) bytes")
        try L.check(
            heartbeatSeconds.isFinite(in: L.heartbeatSeconds), "welcome", "heartbeatSeconds",
            "must be finite, \(L.heartbeatSeconds)")
        try L.check(L.liveness.contains(liveness), "welcome", "liveness", "must be \(L.liveness)")
        try L.check(L.isBlobName(weights), "welcome", "weights", "a blob name (1 to 64 letters, digits or -)")
        try L.check(L.blobBytes.contains(weightsBytes), "welcome", "weightsBytes", "must be \(L.blobBytes)")
    }
}

extension FetchBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(BlobKind.known.contains(kind), "fetch", "kind", "one of \(BlobKind.known.map(\.rawValue))")
        try WireLimits.check(
            WireLimits.isBlobName(sha256), "fetch", "sha256", "a blob name (1 to 64 letters, digits or -)")
    }
}

extension AssignBody: WireValidated {
    /// The fields a worker needs to answer at all; the tile and its settings are checked by `validate()`, so that a
    /// tile outside the limits is answered with `failed` under its lease.
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(lease) && L.id(job), "assign", "lease/job", "at most \(L.idLength) bytes")
        try L.check(
            L.isBlobName(targets) && (reference.map(L.isBlobName) ?? true), "assign", "targets/reference",
            "blob names (1 to 64 letters, digits or -)")
    }
}

extension ProgressBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(lease), "progress", "lease", "at most \(L.idLength) bytes")
        try L.check(
            L.iterations.contains(iteration) && L.iterations.contains(iterations), "progress", "iteration/iterations",
            "each must be \(L.iterations)")
        try L.check(loss.isFinite, "progress", "loss", "must be finite")
    }
}

extension ResultBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(lease), "result", "lease", "at most \(L.idLength) bytes")
        // Any finite claim passes here: the scheduler measures a tile's time itself and clamps the claim to the lease's
        // life (`Lease.plausible`), and a result must not be lost for a wrong clock.
        try L.check(seconds.isFinite, "result", "seconds", "must be finite")
        try L.check(loss.isFinite, "result", "loss", "must be finite")
    }
}

extension FailedBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(lease), "failed", "lease", "at most \(WireLimits.idLength) bytes")
        try WireLimits.check(WireLimits.text(reason), "failed", "reason", "at most \(WireLimits.textLength) bytes")
    }
}

extension RejectBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(lease), "reject", "lease", "at most \(WireLimits.idLength) bytes")
        try WireLimits.check(WireLimits.text(reason), "reject", "reason", "at most \(WireLimits.textLength) bytes")
    }
}

extension ErrorBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(code.rawValue), "error", "code", "at most \(WireLimits.idLength) bytes")
        try WireLimits.check(WireLimits.text(message), "error", "message", "at most \(WireLimits.textLength) bytes")
        try WireLimits.check(
            (versions?.count ?? 0) <= WireLimits.versions, "error", "versions", "at most \(WireLimits.versions)")
    }
}

extension SubmitBody: WireValidated {
    public func validateWire() throws { try spec.validate() }
}

extension SubmittedBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(job), "submitted", "job", "at most \(WireLimits.idLength) bytes")
    }
}

extension StatusBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(job), "status", "job", "at most \(WireLimits.idLength) bytes")
    }
}

extension CancelBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(job), "cancel", "job", "at most \(WireLimits.idLength) bytes")
    }
}

extension ControlBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(job), "control", "job", "at most \(L.idLength) bytes")
        try L.check(L.id(worker), "control", "worker", "an id or name of at most \(L.idLength) bytes")
        try L.check(
            priority.map(JobSpec.Limits.priority.contains) ?? true, "control", "priority",
            "must be \(JobSpec.Limits.priority)")
    }
}

extension OutputRequestBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(WireLimits.id(job), "fetchOutput", "job", "at most \(WireLimits.idLength) bytes")
        try WireLimits.check(
            offset.map(WireLimits.outputBytes.contains) ?? true, "fetchOutput", "offset",
            "must be \(WireLimits.outputBytes)")
    }
}

extension OutputBody: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(L.id(job), "output", "job", "at most \(L.idLength) bytes")
        try L.check(file.utf8.count <= L.nameLength, "output", "file", "at most \(L.nameLength) bytes")
        try L.check(
            [offset, size].allSatisfy { $0.map(L.outputBytes.contains) ?? true } && (offset ?? 0) <= (size ?? .max),
            "output",
            "offset/size", "each \(L.outputBytes), the offset within the size")
    }
}

extension JobStatus: WireValidated {
    /// A client prints these: counts and fractions it would turn into bars and columns must be in range.
    public func validateWire() throws {
        typealias L = WireLimits
        let counts = [priority, stage, stages, tilesDone, tilesTotal]
        try L.check(
            counts.allSatisfy { (0 ... L.iterations.upperBound).contains($0) }, "job \(id)", "counts",
            "must be \(L.iterations)")
        try L.check(workFraction.isFinite(in: 0 ... 2), "job \(id)", "workFraction", "must be finite, 0 ... 2")
        try L.check(
            [elapsed, submitted ?? 0, started ?? 0, finished ?? 0].allSatisfy { $0.isFinite(in: 0 ... 1e11) },
            "job \(id)",
            "elapsed/submitted/started/finished", "must be finite seconds, 0 ... 1e11")
    }
}

extension WorkerStatus: WireValidated {
    public func validateWire() throws {
        typealias L = WireLimits
        try L.check(
            L.threads.contains(threads) && tiles >= 0, "worker \(name)", "threads/tiles",
            "threads \(L.threads), tiles not negative")
        try L.check(
            [computeSeconds, silentFor ?? 0].allSatisfy { $0.isFinite(in: 0 ... 1e11) }, "worker \(name)",
            "computeSeconds/silentFor", "must be finite seconds")
        try L.check(
            speed.map { $0.isFinite(in: L.speed) } ?? true, "worker \(name)", "speed", "must be finite, \(L.speed)")
        try L.check(
            memoryLimit.map(L.memoryLimit.contains) ?? true, "worker \(name)", "memoryLimit", "must be \(L.memoryLimit)"
        )
    }
}

extension StatusReplyBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(
            jobs.count + workers.count <= WireLimits.listedItems, "statusReply", "jobs/workers", "too many")
        for job in jobs { try job.validateWire() }
        for worker in workers { try worker.validateWire() }
    }
}

extension ControlledBody: WireValidated {
    public func validateWire() throws {
        try WireLimits.check(
            WireLimits.text(message), "controlled", "message", "at most \(WireLimits.textLength) bytes")
        try job?.validateWire()
        try worker?.validateWire()
    }
}
