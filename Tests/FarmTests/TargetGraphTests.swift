import Foundation
import Testing

/// The target graph's promises (Docs/architecture.md, "The farm's targets"): the wire, the scheduler, the client,
/// the monitor, the job model and the control room reach no compute core and no OpenBLAS, read from the manifest
/// itself (`swift package dump-package`), so a dependency added in Package.swift is caught, not only an import.
@Suite struct TargetGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// Targets that must not lead to the compute core: everything a client, a scheduler or a page links.
    static let computeFree = ["FarmProtocol", "FarmScheduler", "FarmClient", "FarmMonitor", "JobModel", "Dashboard", "RenderSettings"]

    /// Each target's direct dependencies (targets and products, by name), as SwiftPM reads Package.swift.
    static func graph() throws -> [String: [String]] {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch path of its own: the test build holds .build's lock while tests run.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("target-graph-\(getpid())")
        process.arguments = ["swift", "package", "--package-path", root.path, "--scratch-path", scratch.path, "dump-package"]
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: scratch)
        #expect(process.terminationStatus == 0)
        struct Manifest: Decodable {
            struct Target: Decodable { var name: String; var dependencies: [[String: [String?]]] }
            var targets: [Target]
        }
        let manifest = try JSONDecoder().decode(Manifest.self, from: data)
        return Dictionary(uniqueKeysWithValues: manifest.targets.map { target in
            (target.name, target.dependencies.compactMap { $0.values.first?.first ?? nil })
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
            #expect(!reached.contains("COpenBLAS") && !reached.contains("StyleCore"), "\(target) reaches \(reached.sorted())")
        }
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
