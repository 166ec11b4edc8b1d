import Foundation
import StyleFarmCLI
import Testing

@Suite struct JobFileTests {
    func write(_ json: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("job.json")
        try Data(json.utf8).write(to: url)
        return url
    }

    @Test func optionsBecomeRenderArgumentsWithPathsRelativeToTheFile() throws {
        let url = try write("""
            {"content": "in/photo.png", "styles": ["a.jpg", "/abs/b.jpg"], "output": "out.png", "size": 512,
             "preserve-colors": true, "no-shift": false, "dpi": 300.5, "level-iterations": "100,40"}
            """)
        let dir = url.deletingLastPathComponent().path
        let args = try JobFile.arguments(url)
        #expect(Array(args.prefix(3)) == ["\(dir)/in/photo.png", "\(dir)/a.jpg", "/abs/b.jpg"])
        let options = Array(args.dropFirst(3))
        #expect(options.contains("--preserve-colors") && !options.contains("--no-shift"))
        for (k, v) in [("--size", "512"), ("--dpi", "300.5"), ("--level-iterations", "100,40"), ("--output", "\(dir)/out.png")] {
            let i = try #require(options.firstIndex(of: k))
            #expect(options[i + 1] == v)
        }
    }

    @Test func relativeJobFilePathsResolveFromTheWorkingDirectory() throws {
        let url = try write(#"{"content": "../x/photo.png", "styles": [], "output": "o.png"}"#)
        let dir = url.deletingLastPathComponent()
        let saved = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.deletingLastPathComponent().path)
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        let args = try JobFile.arguments(URL(fileURLWithPath: "\(dir.lastPathComponent)/job.json"))
        #expect(args.first == dir.deletingLastPathComponent().appendingPathComponent("x/photo.png").path)
    }

    @Test func badFilesSayWhatIsWrong() throws {
        #expect(throws: (any Error).self) { try JobFile.arguments(URL(fileURLWithPath: "/nonexistent/job.json")) }
        let notObject = try write("[1, 2]")
        #expect { try JobFile.arguments(notObject) } throws: { "\($0)".contains("not a JSON object") }
        let badValue = try write(#"{"content": "a.png", "tile": [1]}"#)
        #expect { try JobFile.arguments(badValue) } throws: { "\($0)".contains("\"tile\" must be") }
    }
}
