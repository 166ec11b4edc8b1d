import Dashboard
import Foundation
import Testing

/// The control room's front end as files (Sources/Dashboard/Public): each file is what the server serves, byte for
/// byte and with its type; every module the page loads parses (`node --check`, Debian's nodejs) and imports only
/// names another served module exports. The browser test (ControlRoomTests) runs the page itself.
@Suite struct DashboardAssetsTests {
    static let publicDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/Dashboard/Public")

    static func source(_ name: String) throws -> String {
        try String(contentsOf: publicDirectory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func everyModuleParsesAndImportsWhatItsSourceExports() throws {
        let modules = DashboardAssets.files.keys.filter { $0.hasSuffix(".mjs") }.sorted()
        #expect(modules.count >= 8)
        let node = try runCommand(["node", "--version"])
        try #require(node.status == 0, "node is missing: install Debian's nodejs (scripts/test.sh does)")
        var exports: [String: Set<String>] = [:]
        let exported = try Regex(#"export (?:async )?(?:function|const|let) ([\w$]+)(?: = [^,;\n]*?, ([\w$]+) =)?"#)
        for name in modules {
            let check = try runCommand(["node", "--check", Self.publicDirectory.appendingPathComponent(name).path])
            #expect(check.status == 0, "node --check \(name): \(check.output)")
            exports[name] = Set(
                try Self.source(name).matches(of: exported).flatMap { m in
                    [m.output[1].substring, m.output[2].substring].compactMap { $0.map(String.init) }
                })
        }
        let imports = try Regex(#"import \{([^}]*)\} from "\./([\w.]+)""#)
        var imported: Set<String> = ["main.mjs"]
        for name in modules {
            for m in try Self.source(name).matches(of: imports) {
                let from = String(m.output[2].substring ?? "")
                imported.insert(from)
                let names = (m.output[1].substring ?? "").split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                for n in names {
                    #expect(
                        exports[from]?.contains(n) == true,
                        "\(name) imports \(n) from \(from), which does not export it")
                }
            }
        }
        #expect(imported == Set(modules), "every module is loaded by the page, and only served modules are imported")
    }
}

// Served by a real DashboardServer: in DashboardAPITests' suite, whose servers start one at a time.
extension DashboardAPITests {
    @Test func everyFileIsServedAsItIsInTheRepository() throws {
        let (server, _, _, base, _) = try Self.serve()
        defer { server.stop() }
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: DashboardAssetsTests.publicDirectory.path)
            .filter { $0 != "index.html" }.sorted()
        #expect(
            onDisk == DashboardAssets.files.keys.sorted(),
            "Package.swift's resources and DashboardAssets list every file")
        let page = try httpGet(base), html = try DashboardAssetsTests.source("index.html")
        #expect(page.0 == 200 && page.1 == Data(html.utf8))
        for name in onDisk {
            let (code, body) = try httpGet(base + "app/" + name)
            let file = try Data(contentsOf: DashboardAssetsTests.publicDirectory.appendingPathComponent(name))
            #expect(code == 200 && body == file, "/app/\(name)")
            #expect(
                DashboardAssets.files[name]?.contentType.hasPrefix(
                    name.hasSuffix(".css") ? "text/css" : "text/javascript") == true)
        }
        let missing = try httpGet(base + "app/nothing.mjs")
        #expect(missing.0 == 404)
        // The page loads its styles and its entry module from there.
        #expect(html.contains(#"<link rel="stylesheet" href="/app/style.css">"#))
        #expect(html.contains(#"<script type="module" src="/app/main.mjs"></script>"#))
    }
}
