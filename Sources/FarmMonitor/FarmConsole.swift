import FarmProtocol
import Foundation

/// What the dashboard asks of the coordinator beyond the published snapshot: a job's page, a tile's curve, a canvas
/// tile, and the controls. Each is answered on the coordinator's loop (the one owner of its state), so a request
/// waits at most one pass of it (about 100 ms).
public protocol FarmConsole: Sendable {
    /// Performs a control for `caller` (`CoordinatorCore.control`: the same rules as the `control` command).
    func control(_ body: ControlBody, as caller: Caller) async -> Result<ControlledBody, ControlRefusal>
    func jobDetail(_ id: JobID, stage: Int?) async -> JobDetail?
    func tileDetail(job: JobID, stage: Int, tile: Int) async -> TileDetail?
    /// Where a job's input file as submitted is (0: the content, then the styles): the dashboard streams it from there.
    func jobInputFile(job: JobID, index: Int) async -> URL?
    /// A deep-zoom tile of the job's current canvas (`CanvasPyramid`), PNG; nil when there is none.
    func canvasTile(job: JobID, zoom: Int, x: Int, y: Int) async -> [UInt8]?
    /// The current canvas's size and deepest zoom, for the viewer; nil before the job has one.
    func canvasInfo(job: JobID) async -> CanvasInfo?
}

/// A job's canvas as the deep-zoom viewer sees it: `zoom` levels of `CanvasInfo.tileSize`-px tiles, the deepest 1:1.
public struct CanvasInfo: Codable, Sendable, Equatable {
    public static let tileSize = 256
    public var width: Int
    public var height: Int
    /// Zoom 0 shows the whole canvas within one tile; `maxZoom` is 1:1.
    public var maxZoom: Int
    /// The stage whose canvas it is, and how many of its tiles have landed.
    public var stage: Int
    public var tilesDone: Int
    /// Changes whenever the canvas does (for caches and for the viewer to reload).
    public var version: Int

    public init(width: Int, height: Int, stage: Int, tilesDone: Int, version: Int) {
        (self.width, self.height, self.stage, self.tilesDone, self.version) = (width, height, stage, tilesDone, version)
        var z = 0
        while (max(width, height) - 1) >> z >= Self.tileSize { z += 1 }
        maxZoom = z
    }
}
