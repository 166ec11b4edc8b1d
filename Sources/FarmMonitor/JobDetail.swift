import FarmProtocol

/// One entry of a job's farm log on the dashboard: a tile leased, lost, requeued, won by a copy, rejected; the job
/// steered (paused, cancelled, ...) and by whom.
public struct JobEvent: Codable, Sendable, Equatable {
    /// Unix seconds.
    public var time: Double
    /// `leased`, `requeued`, `copy-won`, `rejected`, `failed`, `blocklisted`, `stage`, `control`, `state`.
    public var kind: String
    public var stage: Int?
    public var tile: Int?
    public var worker: String?
    public var message: String

    public init(time: Double, kind: String, stage: Int? = nil, tile: Int? = nil, worker: String? = nil, message: String)
    {
        (self.time, self.kind, self.stage, self.tile, self.worker, self.message) = (
            time, kind, stage, tile, worker, message
        )
    }
}

/// A tile's loss at one iteration, from the worker's progress messages.
public struct LossPoint: Codable, Sendable, Equatable {
    public var iteration: Int
    public var loss: Double
    public init(iteration: Int, loss: Double) { (self.iteration, self.loss) = (iteration, loss) }
}

/// What the coordinator remembers of one tile of one stage: its leases, who finished it, in how long, at what loss,
/// and its loss curve (at most `TileRecord.maxPoints` points: when full, every other point is dropped).
public struct TileRecord: Codable, Sendable, Equatable {
    public static let maxPoints = 128
    public var attempts = 0
    public var worker: String?
    public var seconds: Double?
    public var loss: Double?
    public var curve: [LossPoint] = []

    public init() {}

    /// Adds a progress point, halving the curve's resolution when it is full (the last point is always kept).
    public mutating func record(iteration: Int, loss: Double) {
        guard loss.isFinite else { return }
        if let last = curve.last, last.iteration >= iteration, iteration > 0 {
            curve.removeAll { $0.iteration >= iteration }
        }
        if curve.count >= Self.maxPoints { curve = curve.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) }
        curve.append(LossPoint(iteration: iteration, loss: loss))
    }
}

/// One stage of a job on its page: where it sits in the pyramid and how far it is.
public struct StageSummary: Codable, Sendable, Equatable {
    public var index: Int
    public var level: Int
    /// "coarse", "tiles" or "shifted tiles".
    public var pass: String
    public var width: Int
    public var height: Int
    public var iterations: Int
    public var tiles: Int
    /// "done", "current" or "waiting".
    public var state: String

    public init(
        index: Int, level: Int, pass: String, width: Int, height: Int, iterations: Int, tiles: Int, state: String
    ) {
        (self.index, self.level, self.pass, self.width, self.height) = (index, level, pass, width, height)
        (self.iterations, self.tiles, self.state) = (iterations, tiles, state)
    }
}

/// A job's page: its settings, its stages, one stage's tile grid with each tile's record, and its farm log.
public struct JobDetail: Codable, Sendable {
    public var status: JobStatus
    public var spec: JobSpec
    public var stages: [StageSummary]
    /// The stage whose tiles are listed.
    public var stage: Int
    public var tiles: [TileView]
    /// The newest last, at most `JobDetail.maxEvents`.
    public var events: [JobEvent]

    public static let maxEvents = 500

    public init(
        status: JobStatus, spec: JobSpec, stages: [StageSummary], stage: Int, tiles: [TileView], events: [JobEvent]
    ) {
        (self.status, self.spec, self.stages, self.stage, self.tiles, self.events) = (
            status, spec, stages, stage, tiles, events
        )
    }
}

/// One tile on its own: its rectangle, state and record with the loss curve.
public struct TileDetail: Codable, Sendable {
    public var job: JobID
    public var stage: Int
    public var tile: TileView
    public var curve: [LossPoint]
    public init(job: JobID, stage: Int, tile: TileView, curve: [LossPoint]) {
        (self.job, self.stage, self.tile, self.curve) = (job, stage, tile, curve)
    }
}
