import Foundation
import Imaging
import Testing
import Tiling

@Suite struct TilePlanTests {
    /// Every pixel is in at least one core; cores stay within the tile size (plus rounding); neighbours
    /// overlap by exactly `overlap`; render rectangles contain their cores and stay on the canvas.
    static func checkInvariants(_ plan: TilePlan) {
        var covered = [Int](repeating: 0, count: plan.canvasWidth * plan.canvasHeight)
        for t in plan.tiles {
            #expect(t.render.contains(t.core))
            #expect(
                t.render.x >= 0 && t.render.y >= 0 && t.render.maxX <= plan.canvasWidth
                    && t.render.maxY <= plan.canvasHeight)
            #expect(t.core.width >= 1 && t.core.height >= 1)
            #expect(
                t.core.width <= plan.tileSize + plan.overlap && t.core.height <= plan.tileSize + plan.overlap,
                "core \(t.core) too large for tile \(plan.tileSize)")
            for y in t.core.y ..< t.core.maxY {
                for x in t.core.x ..< t.core.maxX { covered[y * plan.canvasWidth + x] += 1 }
            }
            if let right = plan.tiles.first(where: { $0.row == t.row && $0.column == t.column + 1 }) {
                #expect(t.core.maxX - right.core.x == plan.overlap)
            }
        }
        #expect(covered.allSatisfy { $0 >= 1 }, "uncovered pixels")
        #expect(plan.tiles.count == plan.rows * plan.columns)
    }

    @Test(arguments: [
        (1, 1), (7, 3), (97, 89), (101, 257), (256, 256), (257, 255), (1000, 17), (2048, 1536), (4099, 2003)
    ])
    func plansCoverAnyCanvas(size: (Int, Int)) {
        for shifted in [false, true] {
            Self.checkInvariants(
                TilePlan(width: size.0, height: size.1, tileSize: 128, overlap: 16, margin: 8, shifted: shifted))
        }
    }

    @Test func smallCanvasIsOneTile() {
        let plan = TilePlan(width: 100, height: 60, tileSize: 128, overlap: 16, margin: 8)
        #expect(plan.tiles.count == 1)
        #expect(plan.tiles[0].core == PixelRect(x: 0, y: 0, width: 100, height: 60))
    }

    @Test func shiftedSeamsFallInsideUnshiftedTiles() {
        let seams = TilePlan.seams(extent: 1000, tile: 256, overlap: 32, shifted: false)
        let shifted = TilePlan.seams(extent: 1000, tile: 256, overlap: 32, shifted: true)
        #expect(seams.count == 4 && shifted.count == 5)
        for s in shifted { #expect(seams.allSatisfy { abs($0 - s) >= 64 }, "shifted seam \(s) near \(seams)") }
    }

    @Test func tilesRoundTripThroughJSON() throws {
        let plan = TilePlan(width: 300, height: 200, tileSize: 128, overlap: 16, margin: 8, shifted: true)
        let data = try JSONEncoder().encode(plan.tiles[3])
        #expect(try JSONDecoder().decode(Tile.self, from: data) == plan.tiles[3])
    }

    @Test func blendWeightsSumToOneAcrossEveryOverlap() {
        let plan = TilePlan(width: 301, height: 203, tileSize: 96, overlap: 20, margin: 0)
        var total = [Float](repeating: 0, count: 301 * 203)
        for t in plan.tiles {
            let w = BlendWindow.weights(core: t.core, canvasWidth: 301, canvasHeight: 203, overlap: 20)
            for y in 0 ..< t.core.height {
                for x in 0 ..< t.core.width { total[(t.core.y + y) * 301 + t.core.x + x] += w[y * t.core.width + x] }
            }
        }
        #expect(total.allSatisfy { abs($0 - 1) < 1e-5 })
    }

    @Test func blendingIdenticalTilesReproducesTheImage() {
        let w = 150, h = 90
        let image = PlanarImage(
            width: w, height: h, channels: 3, pixels: (0 ..< 3 * w * h).map { Float($0 % 251) / 251 })
        let plan = TilePlan(width: w, height: h, tileSize: 64, overlap: 12, margin: 4)
        var blender = TileBlender(width: w, height: h, overlap: 12)
        for t in plan.tiles {
            blender.add(image.cropped(x: t.core.x, y: t.core.y, width: t.core.width, height: t.core.height), at: t.core)
        }
        #expect(blender.uncovered == 0)
        let out = blender.result(fallback: PlanarImage(width: w, height: h, channels: 3, fill: 0))
        #expect(zip(out.pixels, image.pixels).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func seamMetricSeesHardTileEdgesAndNotSmoothOnes() {
        let w = 256, h = 256
        let plan = TilePlan(width: w, height: h, tileSize: 96, overlap: 16, margin: 0)
        // A smooth gradient image scores ~1; the same with a different constant offset per tile, pasted
        // without blending, scores far above 1.
        let smooth = PlanarImage(
            width: w, height: h, channels: 1, pixels: (0 ..< w * h).map { Float($0 % w + $0 / w) / 512 })
        var blocky = smooth
        for t in plan.tiles {
            for y in t.core.y ..< t.core.maxY {
                for x in t.core.x ..< t.core.maxX {
                    blocky.pixels[y * w + x] = smooth.pixels[y * w + x] + Float(t.index % 3) * 0.05
                }
            }
        }
        #expect(abs(SeamMetric.score(smooth, plan: plan) - 1) < 0.05)
        #expect(SeamMetric.score(blocky, plan: plan) > 3)
    }
}

@Suite struct BlendWindowTests {
    @Test(arguments: [1, 7, 31, 90]) func blendingStripByStripEqualsBlendingTheWholeCanvas(rows: Int) {
        let w = 150, h = 90
        let plan = TilePlan(width: w, height: h, tileSize: 64, overlap: 12, margin: 4)
        let cores = plan.tiles.map { t in
            PlanarImage(
                width: t.core.width, height: t.core.height, channels: 3,
                pixels: (0 ..< 3 * t.core.area).map { Float(($0 * 31 + t.index * 97) % 211) / 211 })
        }
        let fallback = PlanarImage(width: w, height: h, channels: 3, fill: 0.25)
        var whole = TileBlender(width: w, height: h, overlap: 12)
        for (t, core) in zip(plan.tiles, cores) { whole.add(core, at: t.core) }
        let expected = whole.result(fallback: fallback)
        var y = 0
        while y < h {
            let n = min(rows, h - y)
            var strip = TileBlender(
                width: w, height: h, overlap: 12, window: PixelRect(x: 0, y: y, width: w, height: n))
            for (t, core) in zip(plan.tiles, cores) { strip.add(core, at: t.core) }
            #expect(strip.uncovered == 0)
            #expect(
                strip.result(fallback: fallback.cropped(x: 0, y: y, width: w, height: n))
                    == expected.cropped(x: 0, y: y, width: w, height: n))
            y += n
        }
    }
}
