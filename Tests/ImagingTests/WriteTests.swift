import Foundation
import Imaging
import Testing

@Suite("Write failures are errors and leave nothing behind")
struct WriteTests {
    let image = PlanarImage(width: 3, height: 2, channels: 3, fill: 0.5)

    @Test("writing into a missing directory", arguments: ["out.png", "out.tif"])
    func missingDirectory(name: String) throws {
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("missing").appendingPathComponent(name)
        let error = imageError { try ImageIO.write(image, to: url) }
        guard case .writeFailed(let path, let reason)? = error else {
            Issue.record("expected .writeFailed, got \(String(describing: error))")
            return
        }
        #expect(path == url.path && reason.contains("No such file or directory"))
        #expect(error!.description.hasPrefix("\(url.path): cannot write: "))
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(try dir.contents().isEmpty)
    }

    @Test("unknown or missing output extension", arguments: ["out.jpg", "out.jpeg", "out.bmp", "out", "out.png.txt"])
    func unknownExtension(name: String) throws {
        let dir = try TemporaryDirectory()
        let url = dir.file(name)
        let error = imageError { try ImageIO.write(image, to: url) }
        guard case .unsupported(let path, let reason)? = error else {
            Issue.record("expected .unsupported, got \(String(describing: error))")
            return
        }
        #expect(path == url.path && reason.contains(".png"))
        #expect(try dir.contents().isEmpty)
    }

    @Test("invalid bit depth, channel count, DPI")
    func invalidRequests() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("out.png")
        for (candidate, depth, dpi) in [
            (image, 12, nil), (image, 1, nil), (image, 16, -3.0), (image, 8, .nan),
            (PlanarImage(width: 2, height: 2, channels: 4, fill: 0), 8, nil),
            (PlanarImage(width: 2, height: 2, channels: 2, fill: 0), 8, nil),
            (PlanarImage(width: 0, height: 2, channels: 3, fill: 0), 8, nil)
        ]
            as [(PlanarImage, Int, Double?)]
        {
            let error = imageError { try ImageIO.write(candidate, to: url, bitDepth: depth, dpi: dpi) }
            if case .unsupported(url.path, _)? = error {
            } else {
                Issue.record("depth \(depth) dpi \(String(describing: dpi)): got \(String(describing: error))")
            }
        }
        #expect(try dir.contents().isEmpty)
    }

    @Test("a failed rename (destination is a directory) cleans up the temporary file")
    func renameFailure() throws {
        let dir = try TemporaryDirectory()
        let url = dir.file("taken.png")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: url.appendingPathComponent("keep"))
        let error = imageError { try ImageIO.write(image, to: url) }
        if case .writeFailed(url.path, _)? = error {} else { Issue.record("got \(String(describing: error))") }
        #expect(try dir.contents() == ["taken.png"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path) == ["keep"])
    }

    @Test("a 1-channel image is written as gray and reads back as RGB")
    func grayWrite() throws {
        let dir = try TemporaryDirectory()
        let gray = PlanarImage(width: 4, height: 1, channels: 1, pixels: [0, 0.25, 0.5, 1])
        try ImageIO.write(gray, to: dir.file("g.png"), bitDepth: 16)
        let loaded = try ImageIO.read(dir.file("g.png"))
        #expect(loaded.image.channels == 3)
        for c in 0 ..< 3 {
            for x in 0 ..< 4 { #expect(abs(loaded.image[c, 0, x] - gray[0, 0, x]) < 1e-4) }
        }
    }

    @Test("concurrent writes and reads of different files")
    func concurrent() async throws {
        let dir = try TemporaryDirectory()
        let base = Fixtures.gradient(width: 33, height: 17, levels: 65535)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0 ..< 16 {
                let url = dir.file("c\(i).\(i.isMultiple(of: 2) ? "png" : "tif")")
                group.addTask {
                    try ImageIO.write(base, to: url, bitDepth: 16, dpi: Double(100 + i))
                    let loaded = try ImageIO.read(url)
                    #expect(loaded.dpi == Double(100 + i))
                    #expect(loaded.image == base)
                }
            }
            try await group.waitForAll()
        }
        #expect(try dir.contents().count == 16)
    }
}
