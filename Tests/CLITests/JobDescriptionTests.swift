import FarmProtocol
import Foundation
import JobModel
import StyleCore
import Testing

/// Job files: TOML decoded into the job description, every field checked and named in its errors.
@Suite final class JobDescriptionTests {
    /// The repository root (Configs/ lives there).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// This test's job files, removed when it ends.
    let files = FileManager.default.temporaryDirectory.appendingPathComponent("jobfile-\(UUID().uuidString)")

    deinit { try? FileManager.default.removeItem(at: files) }

    func write(_ toml: String) throws -> URL {
        let dir = files.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("job.toml")
        try Data(toml.utf8).write(to: url)
        return url
    }

    /// The message a bad job file gets.
    func problem(_ toml: String) throws -> String {
        let url = try write(toml)
        do { _ = try JobDescription.read(url) } catch { return "\(error)" }
        Issue.record("job file accepted: \(toml)")
        return ""
    }

    @Test func fieldsDecodeIntoTheDescriptionWithPathsRelativeToTheFile() throws {
        let url = try write(
            """
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
            dpi = 300
            [tiling]
            shift = false
            local-targets = true
            [levels]
            iterations = [100, 40]
            [optimizer]
            kind = "adam"
            [loss]
            style-layers = ["relu1_1", "relu3_1"]
            pooling = "average"
            """)
        let dir = url.deletingLastPathComponent().path
        let job = try JobDescription.read(url)
        #expect(job.name == "mural" && job.priority == 70 && job.preserveColors == true)
        #expect(job.content == "\(dir)/in/photo.png" && job.output == "\(dir)/out.png")
        #expect(job.style == [.init(image: "\(dir)/a.jpg", weight: 3), .init(image: "/abs/b.jpg", weight: 0.5)])
        #expect(job.size?.pixels == 512 && job.size?.dpi == 300, "an integer is a number too")
        #expect(job.tiling?.shift == false && job.tiling?.tile == nil && job.levels?.iterations == [100, 40])

        // Resolved: what the file gives over the defaults, which live in PosterSettings alone.
        let settings = try job.settings(contentWidth: 400, contentHeight: 200)
        var expected = PosterSettings(width: 512, height: 256)
        (expected.shiftedPass, expected.iterations, expected.pooling) = (false, [100, 40], .average)
        expected.options.optimizer = .adam()
        expected.options.loss.styleLayers = [("relu1_1", 1), ("relu3_1", 1)]
        #expect(settings.poster == expected)
        #expect(settings.dpi == 300 && settings.bitDepth == 16 && !settings.crop && settings.preserveColors)

        // The command line's description over the file's: given fields win, the rest stay.
        var given = JobDescription()
        given.tiling = .init()
        given.tiling?.tile = 384
        let merged = try job.overriding(given)
        #expect(merged.tiling?.tile == 384 && merged.tiling?.shift == false && merged.name == "mural")
    }

    @Test func relativeJobFilePathsResolveFromTheWorkingDirectory() throws {
        let url = try write("content = \"../x/photo.png\"\noutput = \"o.png\"\n[[style]]\nimage = \"s.jpg\"\n")
        let dir = url.deletingLastPathComponent()
        let saved = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.deletingLastPathComponent().path)
        defer { FileManager.default.changeCurrentDirectoryPath(saved) }
        let job = try JobDescription.read(URL(fileURLWithPath: "\(dir.lastPathComponent)/job.toml"))
        #expect(job.content == dir.deletingLastPathComponent().appendingPathComponent("x/photo.png").path)
    }

    @Test func badFilesNameTheFieldAndTheProblem() throws {
        let base = "content = \"a.png\"\noutput = \"o.png\"\n[[style]]\nimage = \"s.jpg\"\n"
        #expect(
            try problem(base + "[tiling]\noverlpa = 64\n").contains(
                "tiling.overlpa: unknown field (did you mean tiling.overlap?)"))
        #expect(
            try problem(base + "[tiling]\ntile = \"big\"\n").contains(
                "tiling.tile: expected an integer, got the string \"big\""))
        #expect(
            try problem(base + "[tiling]\ntile = 256\noverlap = 200\n").contains(
                "tiling.overlap: must be less than half of the tile size (256)"))
        #expect(
            try problem(base + "[optimizer]\nkind = \"sgd\"\n").contains(
                "optimizer.kind: expected lbfgs or adam, got the string \"sgd\""))
        #expect(
            try problem(base + "[optimizer]\nlbfgs-history = 0\n").contains("optimizer.lbfgs-history: must be 1...1000")
        )
        #expect(try problem(base + "[size]\nprint = \"B7\"\n").contains("size.print: unknown print size 'B7'"))
        #expect(
            try problem(base + "[levels]\niterations = [100, \"x\"]\n").contains(
                "levels.iterations[2]: expected an integer, got the string \"x\""))
        #expect(try problem("size = 3\n" + base).contains("size: expected a table, got integer 3"))
        #expect(try problem("priority = 500\n" + base).contains("priority: must be 0...100"))
        #expect(try problem(base + "[[style]]\nweight = 2\n").contains("style[2].image: missing"))
        #expect(
            try problem(base + "[[style]]\nimage = \"t.jpg\"\nwieght = 2\n").contains("style[2].wieght: unknown field"))
        #expect(try problem(base + "[tiling\ntile = 3\n").contains("not valid TOML at line 5"))
        _ = try JobDescription.read(write(base))  // the same file without the faults is fine
        // A file needs no content or style (the command line may give them); resolving the inputs does.
        #expect { try JobDescription.read(write("output = \"o.png\"\n")).inputs() } throws: {
            "\($0)".contains("content: missing")
        }
        let missing = URL(fileURLWithPath: "/nonexistent/job.toml")
        #expect { try JobDescription.read(missing) } throws: {
            "\($0)".contains("/nonexistent/job.toml: cannot read the job file")
        }
    }

    /// Perceptual control in a job file: per-style scale, layers and mask, colour matching, a region mask and
    /// `[[region]]` tables, into the settings' `StyleControl`; and the mistakes, each named.
    @Test func regionsAndPerStyleControlDecodeAndTheirMistakesAreNamed() throws {
        let url = try write(
            """
            content = "c.png"
            output = "o.png"
            color-match = true
            region-mask = "masks/regions.png"
            region-feather = 0.02
            [[style]]
            image = "a.jpg"
            scale = 1.5
            layers = ["relu1_1", "relu2_1"]
            [[style]]
            image = "b.jpg"
            mask = "b-sky.png"
            [[region]]
            color = "#87ceeb"
            styles = [1, 2]
            blend = [0.7, 0.3]
            [[region]]
            color = "128"
            styles = [2]
            weight = 2
            [[region]]
            color = "0, 0, 0"
            """)
        let job = try JobDescription.read(url)
        let dir = url.deletingLastPathComponent().path
        #expect(job.regionMask == dir + "/masks/regions.png" && job.style?[1].mask == dir + "/b-sky.png")
        let control = try #require(try job.settings(contentWidth: 300, contentHeight: 200).poster.control)
        #expect(control.colorMatch && control.feather == 0.02)
        #expect(control.styles == [.init(scale: 1.5, layers: ["relu1_1", "relu2_1"]), .init(masked: true)])
        #expect(
            control.regions == [
                .init(color: [135, 206, 235], styles: [0, 1], blend: [0.7, 0.3]),
                .init(color: [128, 128, 128], styles: [1], weight: 2),
                .init(color: [0, 0, 0], styles: [])
            ])
        // Without any of it, no control at all (a plain job is unchanged).
        #expect(
            try JobDescription.read(write("content = \"c.png\"\n[[style]]\nimage = \"a.jpg\"\n")).settings(
                contentWidth: 30, contentHeight: 20
            ).poster.control == nil)

        let base = "content = \"a.png\"\noutput = \"o.png\"\nregion-mask = \"r.png\"\n[[style]]\nimage = \"s.jpg\"\n"
        #expect(
            try problem(base + "[[region]]\ncolor = \"#00ff00\"\nstyles = [2]\n").contains(
                "region[1].styles: names style 2, but the job has 1 style image"))
        #expect(
            try problem(base + "[[region]]\ncolor = \"green\"\n").contains(
                "region[1].color: expected #rrggbb, R,G,B or a gray level"))
        #expect(try problem(base).contains("region: a region-mask needs [[region]] tables"))
        #expect(
            try problem(base + "[[region]]\ncolor = \"1\"\n[[region]]\ncolor = \"1,1,1\"\n").contains(
                "region[2].color: [1, 1, 1] names two regions"))
        #expect(try problem(base + "[[region]]\ncolor = \"1\"\nshade = 2\n").contains("region[1].shade: unknown field"))
        #expect(
            try problem("content = \"a.png\"\n[[style]]\nimage = \"s.jpg\"\nlayers = [\"relu9_9\"]\n").contains(
                "style[1].layers: 'relu9_9' is not one of the style layers"))
        #expect(
            try problem("content = \"a.png\"\n[[style]]\nimage = \"s.jpg\"\nscale = 0\n").contains(
                "style[1].scale: must be in (0, 8]"))
        #expect(
            try problem("content = \"a.png\"\n[[style]]\nimage = \"s.jpg\"\n[[region]]\ncolor = \"1\"\n").contains(
                "region-mask: [[region]] tables need a region-mask"))
    }

    /// A farm job with perceptual control, written back as a job file (the dashboard's download), reads back as the
    /// same settings, its masks named as the farm names its inputs.
    @Test func aControlledFarmJobRoundTripsThroughItsJobFile() throws {
        var settings = PosterSettings(width: 300, height: 200)
        var control = StyleControl()
        control.styles = [.init(scale: 0.5, layers: ["relu3_1", "relu4_1"]), .init(masked: true)]
        control.regions = [
            .init(color: [135, 206, 235], styles: [0, 1], blend: [0.7, 0.3], weight: 2),
            .init(color: [0, 0, 0], styles: [])
        ]
        (control.feather, control.colorMatch) = (0.03, true)
        settings.control = control
        let spec = JobSpec(name: "j", poster: settings, styleWeights: [1, 1], crop: true)
        #expect(spec.inputCount == 5)
        let names = spec.inputNames("j")
        #expect(names == ["j-content", "j-style-1", "j-style-2", "j-region-mask", "j-style-2-mask"])
        let description = JobDescription(
            spec: spec, content: names[0], styles: [names[1], names[2]], output: "j.png",
            regionMask: names[3], styleMasks: [nil, names[4]])
        let back = try JobDescription.decode(toml: try description.tomlText())
        #expect(back.regionMask == "j-region-mask" && back.style?.map(\.mask) == [nil, "j-style-2-mask"])
        #expect(try back.settings(contentWidth: 300, contentHeight: 200).poster.control == control)
    }

    /// A video frame's images follow the styles in submit order: its start, the temporal mask, then the target
    /// when it is not the start; a spec from before the target (no `temporalImage`) decodes without one.
    @Test func aFramesInputsAreNamedInSubmitOrder() throws {
        var spec = JobSpec(name: "f", poster: PosterSettings(width: 64, height: 48), styleWeights: [1], crop: true)
        spec.frame = .init(temporalMask: true, temporalImage: true)
        #expect(spec.inputNames("f") == ["f-content", "f-style-1", "f-frame-start", "f-frame-mask", "f-frame-target"])
        #expect(spec.inputCount == 5)
        spec.frame = .init(temporalMask: true)
        #expect(spec.inputNames("f") == ["f-content", "f-style-1", "f-frame-start", "f-frame-mask"])
        let old = try JSONDecoder().decode(JobSpec.FrameInputs.self, from: Data(#"{"temporalMask":true}"#.utf8))
        #expect(old == .init(temporalMask: true) && !old.carriesTemporalImage)
    }

    /// The shipped examples parse, and reference.toml documents every field a job file may hold.
    @Test func examplesParseAndTheReferenceListsEveryField() throws {
        let dir = Self.repo.appendingPathComponent("Configs/examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }
            .sorted()
        #expect(files.contains("poster.toml") && files.contains("reference.toml"))
        for f in files {
            let job = try JobDescription.read(dir.appendingPathComponent(f))
            let inputs = try job.inputs()
            for path in [inputs.content] + inputs.styles + [inputs.regionMask].compactMap({ $0 })
                + inputs.styleMasks.compactMap({ $0 })
            {
                #expect(
                    FileManager.default.fileExists(atPath: path.path), "\(f) names \(path.path), which does not exist")
            }
        }
        let reference = try String(contentsOf: dir.appendingPathComponent("reference.toml"), encoding: .utf8)
        for path in JobDescription.fieldPaths {
            let key = path.split(separator: ".").last!
            #expect(
                reference.contains("\n\(key) =") || reference.contains("\n# \(key) ="), "reference.toml lacks \(path)")
        }
    }
}
