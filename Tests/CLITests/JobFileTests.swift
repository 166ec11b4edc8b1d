import Foundation
import StyleFarmCLI
import Testing

@Suite struct JobFileTests {
    /// The repository root (Configs/ lives there).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func write(_ toml: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("job.toml")
        try Data(toml.utf8).write(to: url)
        return url
    }

    /// The message a bad job file gets.
    func problem(_ toml: String) throws -> String {
        let url = try write(toml)
        do { _ = try JobFile.read(url) } catch { return "\(error)" }
        Issue.record("job file accepted: \(toml)")
        return ""
    }

    @Test func fieldsBecomeRenderArgumentsWithPathsRelativeToTheFile() throws {
        let url = try write("""
            name = "mural"
            priority = 70
            content = "in/photo.png"
            output = "out.png"
            preserve-colors = true
            [[style]]
            image = "a.jpg"
            weight = 3
            [[style]]
            image = "/abs/b.jpg"
            weight = 0.5
            [size]
            pixels = 512
            dpi = 300.5
            [tiling]
            shift = false
            local-targets = true
            [levels]
            iterations = [100, 40]
            [loss]
            style-layers = ["relu1_1", "relu3_1"]
            """)
        let dir = url.deletingLastPathComponent().path
        let job = try JobFile.read(url)
        #expect(job.name == "mural" && job.priority == 70)
        let args = job.arguments
        #expect(Array(args.prefix(3)) == ["\(dir)/in/photo.png", "\(dir)/a.jpg", "/abs/b.jpg"])
        let options = Array(args.dropFirst(3))
        #expect(options.contains("--preserve-colors") && options.contains("--no-shift") && !options.contains("--global-tile-targets"))
        for (k, v) in [("--size", "512"), ("--dpi", "300.5"), ("--level-iterations", "100,40"), ("--output", "\(dir)/out.png"),
                       ("--style-blend", "3,0.5"), ("--style-layers", "relu1_1,relu3_1")] {
            let i = try #require(options.firstIndex(of: k), "\(k) missing from \(options)")
            #expect(options[i + 1] == v)
        }
    }

    @Test func relativeJobFilePathsResolveFromTheWorkingDirectory() throws {
        let url = try write("content = \"../x/photo.png\"\noutput = \"o.png\"\n[[style]]\nimage = \"s.jpg\"\n")
        let dir = url.deletingLastPathComponent()
        let saved = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.deletingLastPathComponent().path)
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        let job = try JobFile.read(URL(fileURLWithPath: "\(dir.lastPathComponent)/job.toml"))
        #expect(job.arguments.first == dir.deletingLastPathComponent().appendingPathComponent("x/photo.png").path)
    }

    @Test func badFilesNameTheFieldAndTheProblem() throws {
        let base = "content = \"a.png\"\noutput = \"o.png\"\n[[style]]\nimage = \"s.jpg\"\n"
        #expect(try problem(base + "[tiling]\noverlpa = 64\n").contains("tiling.overlpa: unknown field (did you mean tiling.overlap?)"))
        #expect(try problem(base + "[tiling]\ntile = \"big\"\n").contains("tiling.tile: expected an integer, got the string \"big\""))
        // render's own checks come back under the field that set the option.
        #expect(try problem(base + "[tiling]\ntile = 256\noverlap = 200\n").contains("tiling.overlap: --overlap must be less than half of --tile"))
        #expect(try problem(base + "[optimizer]\nkind = \"sgd\"\n").contains("optimizer.kind: --optimizer must be lbfgs or adam"))
        #expect(try problem(base + "[size]\nprint = \"B7\"\n").contains("size.print: --print: unknown print size 'B7'"))
        #expect(try problem(base + "[levels]\niterations = [100, \"x\"]\n").contains("levels.iterations: expected a list of integers"))
        #expect(try problem("priority = 500\n" + base).contains("priority: expected an integer 0...100, got integer 500"))
        #expect(try problem("output = \"o.png\"\n[[style]]\nimage = \"s.jpg\"\n").contains("content: missing"))
        #expect(try problem("content = \"a.png\"\noutput = \"o.png\"\n").contains("style: missing"))
        #expect(try problem(base + "[[style]]\nimage = \"t.jpg\"\nwieght = 2\n").contains("style[2].wieght: unknown field"))
        #expect(try problem(base + "[tiling\ntile = 3\n").contains("not valid TOML at line 5"))
        _ = try JobFile.read(write(base))  // the same file without the faults is fine
        let missing = URL(fileURLWithPath: "/nonexistent/job.toml")
        #expect { try JobFile.read(missing) } throws: { "\($0)".contains("/nonexistent/job.toml: cannot read the job file") }
    }

    /// The shipped examples parse, and reference.toml documents every field a job file may hold.
    @Test func examplesParseAndTheReferenceListsEveryField() throws {
        let dir = Self.repo.appendingPathComponent("Configs/examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }.sorted()
        #expect(files.contains("poster.toml") && files.contains("reference.toml"))
        for f in files {
            let job = try JobFile.read(dir.appendingPathComponent(f))
            for path in job.arguments.prefix(while: { !$0.hasPrefix("--") }) {
                #expect(FileManager.default.fileExists(atPath: path), "\(f) names \(path), which does not exist")
            }
        }
        let reference = try String(contentsOf: dir.appendingPathComponent("reference.toml"), encoding: .utf8)
        for path in JobFile.fieldPaths {
            let key = path.split(separator: ".").last!
            #expect(reference.contains("\n\(key) =") || reference.contains("\n# \(key) ="), "reference.toml lacks \(path)")
        }
    }
}
