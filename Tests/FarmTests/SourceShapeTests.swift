import Foundation
import Testing

/// Sizes a reader can hold (Docs/architecture.md, "House rules"): no file in Sources over 400 lines, no function,
/// initializer or closure-free body over 60 lines (the pickle reader's opcode switch excepted: one case per opcode
/// reads best in one place), and no `try!` in library code.
@Suite struct SourceShapeTests {
    static let maxFileLines = 400, maxFunctionLines = 60
    static let exempt: Set<String> = ["VGGWeights/Pickle.swift:readPickle"]

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Sources")
    }

    /// Every Swift file under `root`, by its path relative to `root`.
    static func files(_ root: URL) throws -> [(String, String)] {
        let names = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        return try names.filter { $0.hasSuffix(".swift") }.sorted().map {
            ($0, try String(contentsOf: root.appendingPathComponent($0), encoding: .utf8))
        }
    }

    /// The functions (and initializers) of a file longer than `limit` lines, as "NAME (N lines)": a declaration's
    /// line through the line where its braces close, strings and comments ignored.
    static func longFunctions(_ text: String, limit: Int) -> [(name: String, lines: Int)] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let declaration = try? Regex(
            #"^\s*(?:@[\w]+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|final|override|mutating|nonisolated|class)\s+)*(?:func\s+([^\s(<]+)|(init)\??[(<])"#
        )
        var found: [(String, Int)] = [], i = 0
        while i < lines.count {
            guard let declaration, let match = lines[i].firstMatch(of: declaration) else { i += 1; continue }
            let name = (match.output[1].substring ?? match.output[2].substring).map(String.init) ?? "?"
            var depth = 0, started = false, j = i
            scan: while j < lines.count {
                var inString = false, previous: Character = " "
                for c in lines[j] {
                    if inString {
                        if c == "\"" && previous != "\\" { inString = false }
                    } else if c == "\"" {
                        inString = true
                    } else if c == "/" && previous == "/" {
                        break
                    } else if c == "{" {
                        depth += 1; started = true
                    } else if c == "}" {
                        depth -= 1
                    }
                    previous = c
                }
                if started && depth <= 0 { break scan }
                if !started && j > i + 8 { break scan }  // a protocol requirement: no body
                j += 1
            }
            if started && j - i + 1 > limit { found.append((name, j - i + 1)) }
            i = started ? j + 1 : i + 1
        }
        return found
    }

    @Test func noFileOrFunctionPastItsLimitAndNoTryBang() throws {
        var problems: [String] = []
        for (path, text) in try Self.files(Self.sources) {
            let count = text.filter { $0 == "\n" }.count
            if count > Self.maxFileLines { problems.append("\(path): \(count) lines (at most \(Self.maxFileLines))") }
            for f in Self.longFunctions(text, limit: Self.maxFunctionLines)
            where !Self.exempt.contains("\(path):\(f.name)") {
                problems.append("\(path): \(f.name) is \(f.lines) lines (at most \(Self.maxFunctionLines))")
            }
            if text.contains("try!") { problems.append("\(path): try! in library code") }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func theScanFindsALongFunction() {
        let body = (0 ..< 70).map { "        x += \($0)  // a { in a comment" }.joined(separator: "\n")
        let text = "struct A {\n    func long() {\n        let s = \"}\"\n\(body)\n    }\n    func short() { }\n}\n"
        let found = Self.longFunctions(text, limit: 60)
        #expect(found.count == 1 && found.first?.name == "long" && found.first?.lines == 73)
    }
}
