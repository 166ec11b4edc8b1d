import Foundation
import Testing

/// The target graph's promises (Docs/architecture.md, "The farm's targets"): the wire, the scheduler, the client,
/// the monitor, the job model and the control room reach no compute core and no OpenBLAS, read from the manifest
/// itself (`swift package dump-package`), so a dependency added in Package.swift is caught, not only an import.
@Suite struct TargetGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// Targets that must not lead to the compute core: everything a client, a scheduler or a page links.
    static let computeFree = [
        "FarmProtocol", "FarmScheduler", "FarmClient", "FarmMonitor", "JobModel", "Dashboard", "RenderSettings"
    ]

    /// Each target's direct dependencies (targets and products, by name), as SwiftPM reads Package.swift.
    static func graph() throws -> [String: [String]] { try manifest().dependencies }

    /// The manifest, read once for every test of the suite (each read starts `swift package`).
    static let dumped = Result { try dumpManifest() }

    static func manifest() throws -> (dependencies: [String: [String]], tests: Set<String>) { try dumped.get() }

    struct DumpFailed: Error { var status: Int32 }

    static func dumpManifest() throws -> (dependencies: [String: [String]], tests: Set<String>) {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch path of its own: the test build holds .build's lock while tests run.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("target-graph-\(UUID().uuidString)")
        process.arguments = [
            "swift", "package", "--package-path", root.path, "--scratch-path", scratch.path, "dump-package"
        ]
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: scratch)
        guard process.terminationStatus == 0 else { throw DumpFailed(status: process.terminationStatus) }
        struct Manifest: Decodable {
            struct Target: Decodable { var name: String; var type: String; var dependencies: [[String: [String?]]] }
            var targets: [Target]
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: data)
        let dependencies = Dictionary(
            uniqueKeysWithValues: manifest.targets.map { target in
                (target.name, target.dependencies.compactMap { $0.values.first?.first ?? nil })
            })
        return (dependencies, Set(manifest.targets.filter { $0.type == "test" }.map(\.name)))
    }

    /// The edges of Docs/target-graph.dot (the picture in Docs/architecture.md), as "A -> B".
    static func drawnEdges() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("Docs/target-graph.dot"), encoding: .utf8)
        return Set(
            text.split(separator: "\n").compactMap { line -> String? in
                let parts = line.split(separator: "\"")
                return parts.count == 5 && parts[2].trimmingCharacters(in: .whitespaces) == "->"
                    ? "\(parts[1]) -> \(parts[3])" : nil
            })
    }

    static func reachable(from start: String, in graph: [String: [String]]) -> Set<String> {
        var seen: Set<String> = [], stack = [start]
        while let next = stack.popLast() {
            for dependency in graph[next] ?? [] where seen.insert(dependency).inserted { stack.append(dependency) }
        }
        return seen
    }

    @Test func theWireClientsAndPagesReachNoComputeCore() throws {
        let graph = try Self.graph()
        // The check can fail: the compute core and the worker do reach OpenBLAS.
        #expect(Self.reachable(from: "StyleCore", in: graph).contains("COpenBLAS"))
        #expect(Self.reachable(from: "FarmWorker", in: graph).contains("COpenBLAS"))
        for target in Self.computeFree {
            #expect(graph[target] != nil, "\(target) is not in the manifest")
            let reached = Self.reachable(from: target, in: graph)
            #expect(
                !reached.contains("COpenBLAS") && !reached.contains("StyleCore"),
                "\(target) reaches \(reached.sorted())")
        }
    }

    /// The picture is the manifest's graph: a dependency added or removed in Package.swift without
    /// `scripts/target-graph.sh` is caught (tests are not drawn).
    @Test func thePictureDrawsTheManifest() throws {
        let (graph, tests) = try Self.manifest()
        let manifest = Set(
            graph.filter { !tests.contains($0.key) }.flatMap { target, dependencies in
                dependencies.map { "\(target) -> \($0)" }
            })
        let drawn = try Self.drawnEdges()
        #expect(manifest.count > 50)
        #expect(
            manifest.subtracting(drawn).isEmpty,
            "not drawn: \(manifest.subtracting(drawn).sorted()); run scripts/target-graph.sh")
        #expect(
            drawn.subtracting(manifest).isEmpty,
            "drawn but gone: \(drawn.subtracting(manifest).sorted()); run scripts/target-graph.sh")
    }

    @Test func noComputeFreeTargetImportsTheComputeCore() throws {
        for target in Self.computeFree {
            let folder = Self.root.appendingPathComponent("Sources/\(target)")
            for (path, text) in try SourceShapeTests.files(folder) {
                #expect(!text.contains("import StyleCore") && !text.contains("import COpenBLAS"), "\(target)/\(path)")
            }
        }
    }
}
