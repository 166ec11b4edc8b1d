import ArgumentParser
import Foundation
import Imaging

/// `stylefarm montage`: images side by side in a grid, e.g. a strip of video frames for the docs.
struct MontageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "montage",
        abstract: "Lay images out in a grid (row by row) on a white sheet, each scaled to one height.",
        discussion:
            "  stylefarm montage strip.png out/frame_0001.png out/frame_0010.png out/frame_0020.png --columns 3 --height 135"
    )

    @Argument(help: "Output image (.png, .tif).") var output: String
    @Argument(help: "Images, in reading order.") var images: [String]
    @Option(help: "Images per row (default: all in one row).") var columns: Int?
    @Option(help: "Height of every cell in pixels (default: the first image's).") var height: Int?
    @Option(help: "White gap between cells, pixels.") var gap = 4
    @Option(help: "Output bit depth: 8 or 16.") var bitDepth = 8

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard (columns ?? 1) >= 1, (height ?? 1) >= 1, gap >= 0, [8, 16].contains(bitDepth) else {
            throw ValidationError("--columns and --height must be positive, --gap non-negative, --bit-depth 8 or 16")
        }
    }

    func run() throws {
        let loaded = try images.map { try ImageIO.read(URL(fileURLWithPath: $0)).image }
        guard let sheet = Montage.compose(loaded, columns: columns, height: height, gap: gap) else {
            throw ValidationError("nothing to lay out")
        }
        try ImageIO.write(sheet, to: URL(fileURLWithPath: output), bitDepth: bitDepth)
        print("wrote \(output) (\(sheet.width)x\(sheet.height), \(loaded.count) images)")
    }
}
