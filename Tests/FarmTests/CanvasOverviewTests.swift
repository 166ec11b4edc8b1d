import FarmCoordinator
import FarmMonitor
import Foundation
import Imaging
import Testing
import Tiling

/// The deep-zoom viewer's zoomed-out tiles come from the stage's overview in memory (Docs/dashboard.md, "The
/// control room"): however many tiles have landed, none of their files is opened for them.
@Suite struct CanvasOverviewTests {
    @Test func zoomedOutTilesReadTheOverviewAndNoLandedTilesFile() throws {
        let base = PlanarImage(width: 1024, height: 512, channels: 3, fill: 0.2)
        let overview = PlanarImage(width: 512, height: 256, channels: 3, fill: 0.6)
        let gone = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-tile-\(UUID().uuidString).px")
        let landed = (0 ..< 500).map { i in
            (rect: PixelRect(x: (i % 16) * 64, y: (i / 16 % 8) * 64, width: 64, height: 64), file: gone)
        }
        let info = CanvasInfo(width: 1024, height: 512, stage: 1, tilesDone: landed.count, version: 1)
        #expect(info.maxZoom == 2)
        let view = CanvasView(job: "j", info: info, base: base, landed: landed, overview: overview)
        for (z, x, y) in [(0, 0, 0), (1, 1, 0)] {
            let png = try #require(try CanvasTiles.render(view, zoom: z, x: x, y: y), "zoom \(z)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("tile-\(UUID().uuidString).png")
            defer { try? FileManager.default.removeItem(at: file) }
            try Data(png).write(to: file)
            let tile = try ImageIO.read(file).image
            #expect(abs(tile.pixels[0] - 0.6) < 0.01, "zoom \(z): the overview's pixel, with the landed tiles in it")
        }
        // Near 1:1 a tile reads the canvas and the landed tiles under it: here their files are gone, so it says so.
        #expect(throws: (any Error).self) { try CanvasTiles.render(view, zoom: 2, x: 0, y: 0) }
        // Without an overview (a finished canvas) every zoom reads the canvas.
        let finished = CanvasView(job: "j", info: info, base: base, landed: [])
        #expect(try CanvasTiles.render(finished, zoom: 0, x: 0, y: 0) != nil)
    }
}
