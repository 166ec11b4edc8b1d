import Imaging
import RenderSettings

// The bodies of the protocol's messages (Docs/protocol.md, "Messages"). Every field is required unless
// it is an optional here.

/// worker → coordinator: first message after connecting (and after every reconnect).
public struct ReadyBody: Codable, Sendable {
    public var name: String
    public var threads: Int
    /// Protocol versions the worker speaks.
    public var versions: [UInt8]
    /// SHA-256 of the weights the worker has cached, if any.
    public var weights: String?
    /// Leases of tiles the worker is still computing from before a reconnect (they hold its credit).
    public var busy: [LeaseToken]
    /// Logical CPUs of its machine.
    public var cores: Int?
    /// The most planned peak memory of a tile it accepts, in bytes (`--max-memory`, else its physical memory).
    public var memoryLimit: Int?
    /// Pixel-iterations per second of a forward+backward pass at 192², measured when its weights load.
    public var speed: Double?
    /// The OpenBLAS kernel it computes with and why (`KernelInUse.line`); informative only (the coordinator keeps
    /// its first 300 characters).
    public var kernel: String?
    /// The host it runs on, for the dashboard (the coordinator keeps its first 100 characters).
    public var host: String?

    public init(
        name: String, threads: Int, versions: [UInt8], weights: String? = nil, busy: [LeaseToken], cores: Int? = nil,
        memoryLimit: Int? = nil, speed: Double? = nil, kernel: String? = nil, host: String? = nil
    ) {
        self.kernel = kernel
        self.host = host
        self.cores = cores
        self.memoryLimit = memoryLimit
        self.speed = speed
        self.name = name
        self.threads = threads
        self.versions = versions
        self.weights = weights
        self.busy = busy
    }
}

/// coordinator → worker: the answer to `ready`.
public struct WelcomeBody: Codable, Sendable {
    public var worker: WorkerID
    public var heartbeatSeconds: Double
    public var liveness: Int
    /// SHA-256 of the weights the farm renders with; the worker fetches them if it lacks them.
    public var weights: String
    public var weightsBytes: Int

    public init(worker: WorkerID, heartbeatSeconds: Double, liveness: Int, weights: String, weightsBytes: Int) {
        self.worker = worker
        self.heartbeatSeconds = heartbeatSeconds
        self.liveness = liveness
        self.weights = weights
        self.weightsBytes = weightsBytes
    }
}

/// Either way: ask for content-addressed bytes of a `BlobKind`.
public struct FetchBody: Codable, Sendable {
    public var kind: BlobKind
    public var sha256: String

    public init(kind: BlobKind, sha256: String) {
        self.kind = kind
        self.sha256 = sha256
    }
}

/// coordinator → worker: one tile to render, under a lease. Payload: the content crop and the start canvas
/// crop of the tile's render rectangle, each (3, h, w) little-endian float32.
public struct AssignBody: Codable, Sendable {
    public var lease: LeaseToken
    public var job: JobID
    public var stage: Int
    public var task: TileTask
    public var options: RenderOptions
    public var pooling: PoolingKind
    /// SHA-256 of the job's Gram targets (fetch them when not cached).
    public var targets: String
    /// SHA-256 of the stage's reference Grams, when tile targets are localised (`GramTargets.localized`);
    /// fetched like the targets.
    public var reference: String?
    /// Seconds after which the lease lapses unless progress renews it.
    public var leaseSeconds: Double

    public init(
        lease: LeaseToken, job: JobID, stage: Int, task: TileTask, options: RenderOptions, pooling: PoolingKind,
        targets: String, reference: String? = nil, leaseSeconds: Double
    ) {
        self.lease = lease
        self.job = job
        self.stage = stage
        self.task = task
        self.options = options
        self.pooling = pooling
        self.targets = targets
        self.reference = reference
        self.leaseSeconds = leaseSeconds
    }
}

/// worker → coordinator: renews a lease.
public struct ProgressBody: Codable, Sendable {
    public var lease: LeaseToken
    public var iteration: Int
    public var iterations: Int
    public var loss: Double

    public init(lease: LeaseToken, iteration: Int, iterations: Int, loss: Double) {
        self.lease = lease
        self.iteration = iteration
        self.iterations = iterations
        self.loss = loss
    }
}

/// worker → coordinator: a finished tile. Payload: the tile's core, (3, h, w) little-endian float32.
public struct ResultBody: Codable, Sendable {
    public var lease: LeaseToken
    public var seconds: Double
    public var loss: Double

    public init(lease: LeaseToken, seconds: Double, loss: Double) {
        self.lease = lease
        self.seconds = seconds
        self.loss = loss
    }
}

/// worker → coordinator: the tile could not be rendered.
public struct FailedBody: Codable, Sendable {
    public var lease: LeaseToken
    public var reason: String

    public init(lease: LeaseToken, reason: String) {
        self.lease = lease
        self.reason = reason
    }
}

/// coordinator → worker or client: a message was refused (stale lease, unknown job, ...). Not fatal.
public struct RejectBody: Codable, Sendable {
    public var lease: LeaseToken?
    public var reason: String

    public init(lease: LeaseToken? = nil, reason: String) {
        self.lease = lease
        self.reason = reason
    }
}

/// Either way: a protocol error (`code` is framing, version, command, size, body, or state). The sender of
/// the offending message should not repeat it.
public struct ErrorBody: Codable, Sendable {
    public var code: ErrorCode
    public var message: String
    public var versions: [UInt8]?

    public init(code: ErrorCode, message: String, versions: [UInt8]? = nil) {
        self.code = code
        self.message = message
        self.versions = versions
    }
}

/// client → coordinator: a job. Payload: the content image file, then each style image file (PNG, JPEG
/// or TIFF bytes, as on disk).
public struct SubmitBody: Codable, Sendable {
    public var spec: JobSpec

    public init(spec: JobSpec) {
        self.spec = spec
    }
}

/// coordinator → client.
public struct SubmittedBody: Codable, Sendable {
    public var job: JobID

    public init(job: JobID) {
        self.job = job
    }
}

/// client → coordinator: `job` nil asks for every job.
public struct StatusBody: Codable, Sendable {
    public var job: JobID?

    public init(job: JobID? = nil) {
        self.job = job
    }
}

/// client → coordinator.
public struct CancelBody: Codable, Sendable {
    public var job: JobID

    public init(job: JobID) {
        self.job = job
    }
}

/// A job as `status` reports it.
public struct JobStatus: Codable, Sendable, Equatable {
    public var id: JobID
    public var name: String
    public var priority: Int
    public var state: JobState
    /// Why it failed, or what it waits for.
    public var detail: String?
    public var stage: Int
    public var stages: Int
    public var tilesDone: Int
    public var tilesTotal: Int
    /// Pixel-iterations done over the job's total (what an ETA should use).
    public var workFraction: Double
    public var elapsed: Double
    /// Its tiles are not leased until it is resumed (`ControlBody.Verb.pause`).
    public var paused: Bool?
    /// The name the allowlist gives the key that submitted it ("insecure" in plaintext).
    public var owner: String?
    /// When it was submitted, first ran and ended (Unix seconds).
    public var submitted: Double?
    public var started: Double?
    public var finished: Double?

    public init(
        id: JobID, name: String, priority: Int, state: JobState, detail: String? = nil, stage: Int, stages: Int,
        tilesDone: Int, tilesTotal: Int, workFraction: Double, elapsed: Double
    ) {
        self.id = id
        self.name = name
        self.priority = priority
        self.state = state
        self.detail = detail
        self.stage = stage
        self.stages = stages
        self.tilesDone = tilesDone
        self.tilesTotal = tilesTotal
        self.workFraction = workFraction
        self.elapsed = elapsed
    }
}

/// A worker as `status` reports it.
public struct WorkerStatus: Codable, Sendable, Equatable {
    public var id: WorkerID
    public var name: String
    public var threads: Int
    public var tiles: Int
    public var computeSeconds: Double
    public var leases: [LeaseToken]
    /// Seconds since the worker's last message.
    public var silentFor: Double?
    /// The memory limit it reported (bytes), and its speed (pixel-iterations per second: measured from its results,
    /// else what it reported).
    public var memoryLimit: Int?
    public var speed: Double?
    /// The BLAS kernel it said it computes with (`ReadyBody.kernel`).
    public var kernel: String?
    /// The host it runs on (`ReadyBody.host`) and the name the allowlist gives its key.
    public var host: String?
    public var keyName: String?
    /// Draining (`ControlBody.Verb.drain`): it finishes the tiles it holds and takes no more.
    public var draining: Bool?
    /// The tiles it renders now (`job/sSTAGE/tTILE`) and the jobs it is blocklisted on.
    public var tilesNow: [String]?
    public var blocklisted: [JobID]?

    public init(
        id: WorkerID, name: String, threads: Int, tiles: Int, computeSeconds: Double, leases: [LeaseToken],
        silentFor: Double? = nil,
        memoryLimit: Int? = nil, speed: Double? = nil, kernel: String? = nil
    ) {
        self.kernel = kernel
        self.memoryLimit = memoryLimit
        self.speed = speed
        self.id = id
        self.name = name
        self.threads = threads
        self.tiles = tiles
        self.computeSeconds = computeSeconds
        self.leases = leases
        self.silentFor = silentFor
    }
}

/// coordinator → client: the answer to `status`, `cancel` and `submit` errors.
public struct StatusReplyBody: Codable, Sendable {
    public var jobs: [JobStatus]
    public var workers: [WorkerStatus]
    /// The whole reply did not fit a body (64 KiB: a farm of more than about a hundred workers), so it is the
    /// JSON of payload frame 0 and this body's lists are empty.
    public var inPayload: Bool?

    public init(jobs: [JobStatus], workers: [WorkerStatus]) {
        self.jobs = jobs
        self.workers = workers
    }

    /// The `statusReply` message: the reply as its body when it fits, else in payload frame 0.
    public var message: Message {
        let inline = Message(.statusReply, self)
        guard inline.body.count > FarmProtocol.Limits.maxBody else { return inline }
        var stub = StatusReplyBody(jobs: [], workers: [])
        stub.inPayload = true
        return Message(.statusReply, stub, payload: [inline.body])
    }

    /// Reads a `statusReply`, from its payload when its body says so.
    public static func decode(_ m: Message) throws -> StatusReplyBody {
        let body = try m.decode(StatusReplyBody.self)
        guard body.inPayload == true else { return body }
        guard m.payload.count == 1 else {
            throw ProtocolError.malformedBody("statusReply says inPayload but has \(m.payload.count) payload frames")
        }
        return try Message(.statusReply, body: m.payload[0]).decode(StatusReplyBody.self)
    }
}

/// client → coordinator: `fetchOutput`, one chunk of a done job's output file from `offset` (0 when absent).
public struct OutputRequestBody: Codable, Sendable {
    public var job: JobID
    public var offset: Int?

    public init(job: JobID, offset: Int? = nil) {
        self.job = job
        self.offset = offset
    }
}

/// coordinator → client: the answer to `fetchOutput`. Payload: `chunk` bytes (or fewer, at the end) of the output file
/// from `offset`; the client asks for the next chunk until it has `size` bytes. Read from disk chunk by chunk, so an
/// output of gigabytes never sits in the coordinator's memory or send queue whole.
public struct OutputBody: Codable, Sendable {
    public var job: JobID
    public var file: String
    public var offset: Int?
    /// The whole file's bytes.
    public var size: Int?

    /// Bytes of one chunk: 4 MiB, so that the up to 100 messages a peer's send queue holds are at most 400 MiB.
    public static let chunk = 4 << 20

    public init(job: JobID, file: String, offset: Int? = nil, size: Int? = nil) {
        (self.job, self.file, self.offset, self.size) = (job, file, offset, size)
    }
}

/// Tile pixels on the wire: planar float32, little-endian.
public enum PixelCodec {
    public static func encode(_ image: PlanarImage) -> [UInt8] {
        image.pixels.withUnsafeBytes { Array($0) }  // little-endian hosts only (x86-64, arm64)
    }

    public static func decode(_ bytes: [UInt8], width: Int, height: Int, channels: Int = 3) throws -> PlanarImage {
        let n = width * height * channels
        guard bytes.count == n * 4 else {
            throw ProtocolError.malformedBody(
                "pixel payload of \(bytes.count) bytes, expected \(n * 4) for \(width)x\(height)x\(channels)")
        }
        var pixels = [Float](repeating: 0, count: n)
        pixels.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        guard pixels.allSatisfy(\.isFinite) else {
            throw ProtocolError.malformedBody("pixel payload has non-finite values")
        }
        return PlanarImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}
