import Imaging
import Testing

@Suite struct MontageTests {
    /// Three images, two per row, one height: the sheet's size, each cell's pixels where it belongs, white gaps and
    /// an empty cell left white.
    @Test func cellsLandInReadingOrderWithWhiteGaps() throws {
        let red = PlanarImage(width: 8, height: 4, channels: 3, fill: 0)
        var green = PlanarImage(width: 4, height: 4, channels: 3, fill: 0)
        for y in 0 ..< 4 { for x in 0 ..< 4 { green[1, y, x] = 1 } }
        let tall = PlanarImage(width: 2, height: 8, channels: 3, fill: 0.5)
        let sheet = try #require(Montage.compose([red, green, tall], columns: 2, height: 4, gap: 3))
        // Cells are as wide as the widest scaled image (8), rows 4 tall: 2*8 + 3 wide, 2*4 + 3 tall.
        #expect(sheet.width == 19 && sheet.height == 11)
        #expect(sheet[0, 0, 0] == 0 && sheet[1, 0, 0] == 0)  // the first image, top left
        #expect(sheet[1, 1, 11] == 1 && sheet[0, 1, 11] == 0)  // the second, after one cell and the gap
        #expect(sheet[0, 2, 9] == 1 && sheet[0, 5, 0] == 1)  // the gaps are white
        #expect(abs(sheet[0, 7, 0] - 0.5) < 1e-4)  // the third, scaled to 1x4, on the second row
        #expect(sheet[0, 7, 12] == 1)  // the empty fourth cell stays white
    }

    @Test func nothingToLayOutIsNil() {
        #expect(Montage.compose([], columns: nil, height: nil, gap: 0) == nil)
        #expect(
            Montage.compose([PlanarImage(width: 2, height: 2, channels: 3, fill: 0)], columns: nil, height: 0, gap: 0)
                == nil)
    }
}
