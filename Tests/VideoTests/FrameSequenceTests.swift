import Foundation
import Imaging
import Testing
import Video

@Suite struct FrameSequenceTests {
    static func directory(_ names: [String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("VideoTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let pixel = PlanarImage(width: 2, height: 2, channels: 3, fill: 0.5)
        for name in names {
            if name.hasSuffix(".txt") {
                try Data("x".utf8).write(to: dir.appendingPathComponent(name))
            } else {
                try ImageIO.write(pixel, to: dir.appendingPathComponent(name), bitDepth: 8)
            }
        }
        return dir
    }

    @Test func directoriesListImagesInNaturalOrder() throws {
        let dir = try Self.directory(["f10.png", "f2.png", "f1.png", "notes.txt", "f3.tif"])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try FrameSequence(dir.path).files.map(\.lastPathComponent) == ["f1.png", "f2.png", "f3.tif", "f10.png"])
    }

    @Test func numberedPatternsRunFromTheLowestToTheFirstGap() throws {
        let dir = try Self.directory(["frame_0003.png", "frame_0004.png", "frame_0005.png", "frame_0007.png"])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            try FrameSequence(dir.appendingPathComponent("frame_%04d.png").path).files.map(\.lastPathComponent)
                == ["frame_0003.png", "frame_0004.png", "frame_0005.png"])
    }

    @Test func globsMatchFileNames() throws {
        let dir = try Self.directory(["a_1.png", "a_12.png", "b_1.png"])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            try FrameSequence(dir.appendingPathComponent("a_*.png").path).files.map(\.lastPathComponent) == [
                "a_1.png", "a_12.png"
            ])
    }

    @Test func missingFramesAreAnErrorThatNamesTheSpec() throws {
        let dir = try Self.directory(["notes.txt"])
        defer { try? FileManager.default.removeItem(at: dir) }
        for spec in [
            dir.path, dir.appendingPathComponent("x_%04d.png").path, dir.appendingPathComponent("*.png").path,
            "/nonexistent/clip.png"
        ] {
            #expect {
                try FrameSequence(spec)
            } throws: { "\($0)".hasPrefix(spec) }
        }
    }
}

@Suite struct VideoManifestTests {
    @Test func roundTripsAndRefusesOtherSettings() throws {
        let dir = try FrameSequenceTests.directory([])
        defer { try? FileManager.default.removeItem(at: dir) }
        var m = try VideoManifest.open(directory: dir, settings: ["start": "previous", "flow": "true"])
        #expect(m.frames.isEmpty)
        m.frames["frame_0001.png"] = .init(number: 1, input: "in/1.png", seconds: 3, flicker: nil, maskCoverage: nil)
        m.pending = .init(output: "frame_0002.png", job: "j1", endpoint: "tcp://127.0.0.1:1")
        try m.save(directory: dir)
        #expect(try VideoManifest.open(directory: dir, settings: ["start": "previous", "flow": "true"]) == m)
        #expect {
            try VideoManifest.open(directory: dir, settings: ["start": "previous", "flow": "false"])
        } throws: { "\($0)".contains("(flow differ)") }
        try Data("{not json".utf8).write(to: dir.appendingPathComponent(VideoManifest.fileName))
        #expect { try VideoManifest.open(directory: dir, settings: [:]) } throws: {
            "\($0)".contains("is not a video manifest")
        }
    }
}
