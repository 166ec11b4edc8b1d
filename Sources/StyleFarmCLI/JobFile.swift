import ArgumentParser
import Foundation
import TOMLKit

/// A TOML job file (Configs/examples/*.toml): everything `submit` takes, as `render` arguments plus the
/// job's name and priority. Paths are relative to the file. Every field is checked against ``fields``:
/// an unknown field, a value of the wrong type or a value `render` rejects is an error that names the
/// field, e.g. `poster.toml: tiling.overlap: --overlap must be less than half of --tile`.
public struct JobFile {
    /// `render`'s arguments: content, styles, then options.
    public var arguments: [String]
    /// `name`, if the file gives one.
    public var name: String?
    /// `priority`, if the file gives one.
    public var priority: Int?

    /// What a field's value is, and how it becomes a command-line option.
    enum Kind {
        case int, number, string, path
        case flag          // true → the option, a flag
        case inverseFlag   // false → the option (e.g. tiling.shift = false → --no-shift)
        case intList, numberList, stringList  // → comma-separated
    }

    /// A field: its dotted path in the file, its option, its kind.
    struct Field {
        var path: String
        var option: String
        var kind: Kind
    }

    /// The fields a job file may hold, besides `content`, `[[style]]`, `name` and `priority`.
    static let fields: [Field] = [
        Field(path: "output", option: "--output", kind: .path),
        Field(path: "seed", option: "--seed", kind: .int),
        Field(path: "initialisation", option: "--initialisation", kind: .string),
        Field(path: "init-noise", option: "--init-noise", kind: .number),
        Field(path: "preserve-colors", option: "--preserve-colors", kind: .flag),
        Field(path: "size.pixels", option: "--size", kind: .int),
        Field(path: "size.width", option: "--width", kind: .int),
        Field(path: "size.height", option: "--height", kind: .int),
        Field(path: "size.print", option: "--print", kind: .string),
        Field(path: "size.dpi", option: "--dpi", kind: .number),
        Field(path: "size.bit-depth", option: "--bit-depth", kind: .int),
        Field(path: "tiling.coarse-size", option: "--coarse-size", kind: .int),
        Field(path: "tiling.tile", option: "--tile", kind: .int),
        Field(path: "tiling.overlap", option: "--overlap", kind: .int),
        Field(path: "tiling.margin", option: "--margin", kind: .int),
        Field(path: "tiling.shift", option: "--no-shift", kind: .inverseFlag),
        Field(path: "tiling.shifted-fraction", option: "--shifted-fraction", kind: .number),
        Field(path: "tiling.local-targets", option: "--global-tile-targets", kind: .inverseFlag),
        Field(path: "tiling.style-size", option: "--style-size", kind: .int),
        Field(path: "levels.iterations", option: "--level-iterations", kind: .intList),
        Field(path: "optimizer.kind", option: "--optimizer", kind: .string),
        Field(path: "optimizer.iterations", option: "--iterations", kind: .int),
        Field(path: "optimizer.lbfgs-history", option: "--lbfgs-history", kind: .int),
        Field(path: "optimizer.lr", option: "--lr", kind: .number),
        Field(path: "optimizer.beta1", option: "--beta1", kind: .number),
        Field(path: "optimizer.beta2", option: "--beta2", kind: .number),
        Field(path: "optimizer.tolerance", option: "--tolerance", kind: .number),
        Field(path: "loss.content-weight", option: "--content-weight", kind: .number),
        Field(path: "loss.style-weight", option: "--style-weight", kind: .number),
        Field(path: "loss.tv-weight", option: "--tv-weight", kind: .number),
        Field(path: "loss.content-layer", option: "--content-layer", kind: .string),
        Field(path: "loss.style-layers", option: "--style-layers", kind: .stringList),
        Field(path: "loss.style-layer-weights", option: "--style-layer-weights", kind: .numberList),
        Field(path: "loss.layer-weight-exponent", option: "--layer-weight-exponent", kind: .number),
        Field(path: "loss.pooling", option: "--pooling", kind: .string),
        Field(path: "loss.style-scale", option: "--style-scale", kind: .number),
    ]

    /// Every field's dotted path (besides `content`, `[[style]]`, `name` and `priority`).
    public static var fieldPaths: [String] { fields.map(\.path) }

    /// An error in a job file, naming the file and the field.
    public struct Problem: Error, CustomStringConvertible {
        public var file: String
        public var field: String?
        public var message: String
        public var description: String { "\(file): " + (field.map { "\($0): " } ?? "") + message }
    }

    /// Reads and checks a job file. Render options are validated too, by parsing them as `render` would.
    public static func read(_ url: URL) throws -> JobFile {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw Problem(file: url.path, message: "cannot read the job file: \(error.localizedDescription)")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw Problem(file: url.path, message: "not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
        let job = try JobFile(table: table, file: url)
        do { _ = try RenderArguments.parse(job.arguments) } catch {
            throw job.problem(explaining: error, file: url.path)
        }
        return job
    }

    init(table: TOMLTable, file url: URL) throws {
        let file = url.path
        // Plain path strings: URL's relative-path handling loses the base when standardising.
        let absolute = file.hasPrefix("/") ? file : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(file)
        let base = (absolute as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : ((base as NSString).appendingPathComponent(p) as NSString).standardizingPath
        }
        func fail(_ field: String?, _ message: String) -> Problem { Problem(file: file, field: field, message: message) }

        // Flatten one level of tables into dotted paths: `[tiling] tile = 512` → "tiling.tile".
        var values: [(String, TOMLValueConvertible)] = []
        for (key, value) in table {
            if let sub = value.table {
                for (k, v) in sub { values.append(("\(key).\(k)", v)) }
            } else {
                values.append((key, value))
            }
        }

        var content: String?, styles: [(String, Double?)] = [], options: [String] = []
        for (path, value) in values.sorted(by: { $0.0 < $1.0 }) {
            switch path {
            case "name":
                guard let s = value.string else { throw fail(path, "expected a string, got \(Self.describe(value))") }
                name = s
            case "priority":
                guard let n = value.int, (0 ... 100).contains(n) else { throw fail(path, "expected an integer 0...100, got \(Self.describe(value))") }
                priority = n
            case "content":
                guard let s = value.string else { throw fail(path, "expected a path string, got \(Self.describe(value))") }
                content = resolve(s)
            case "style":
                guard let list = value.array else { throw fail(path, "expected [[style]] tables with image and weight") }
                for (i, item) in list.enumerated() {
                    let at = "style[\(i + 1)]"
                    guard let t = item.table else { throw fail(at, "expected a table with image and weight, got \(Self.describe(item))") }
                    for key in t.keys where !["image", "weight"].contains(key) {
                        throw fail("\(at).\(key)", "unknown field (a style has image and weight)")
                    }
                    guard let image = t["image"]?.string else { throw fail("\(at).image", "missing, or not a path string") }
                    var weight: Double?
                    if let w = t["weight"] {
                        guard let d = Self.number(w), d >= 0 else { throw fail("\(at).weight", "expected a non-negative number, got \(Self.describe(w))") }
                        weight = d
                    }
                    styles.append((resolve(image), weight))
                }
            default:
                guard let field = Self.fields.first(where: { $0.path == path }) else {
                    let near = Self.fields.map(\.path).filter { Self.editDistance($0, path) <= 2 }
                    throw fail(path, "unknown field" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: " or "))?)")
                        + "; see Docs/operations.md#job-files")
                }
                options += try Self.option(field, value, resolve: resolve, fail: { fail(path, $0) })
            }
        }
        guard let content else { throw fail("content", "missing: the content image's path") }
        guard !styles.isEmpty else { throw fail("style", "missing: at least one [[style]] with an image") }
        if styles.contains(where: { $0.1 != nil }) {
            options += ["--style-blend", styles.map { Self.format($0.1 ?? 1) }.joined(separator: ",")]
        }
        arguments = [content] + styles.map(\.0) + options
    }

    static func option(_ field: Field, _ value: TOMLValueConvertible, resolve: (String) -> String,
                       fail: (String) -> Problem) throws -> [String] {
        func list(_ element: (TOMLValueConvertible) -> String?, _ what: String) throws -> [String] {
            guard let a = value.array, !a.isEmpty else { throw fail("expected a non-empty list of \(what), got \(describe(value))") }
            let items = a.map(element)
            guard items.allSatisfy({ $0 != nil }) else { throw fail("expected a list of \(what), got \(describe(value))") }
            return [field.option, items.map { $0! }.joined(separator: ",")]
        }
        switch field.kind {
        case .int:
            guard let n = value.int else { throw fail("expected an integer, got \(describe(value))") }
            return [field.option, String(n)]
        case .number:
            guard let d = number(value) else { throw fail("expected a number, got \(describe(value))") }
            return [field.option, format(d)]
        case .string:
            guard let s = value.string else { throw fail("expected a string, got \(describe(value))") }
            return [field.option, s]
        case .path:
            guard let s = value.string else { throw fail("expected a path string, got \(describe(value))") }
            return [field.option, resolve(s)]
        case .flag, .inverseFlag:
            guard let b = value.bool else { throw fail("expected true or false, got \(describe(value))") }
            if case .flag = field.kind { return b ? [field.option] : [] }
            return b ? [] : [field.option]
        case .intList: return try list({ $0.int.map(String.init) }, "integers")
        case .numberList: return try list({ number($0).map(format) }, "numbers")
        case .stringList: return try list({ $0.string }, "strings")
        }
    }

    /// Rewrites `render`'s complaint about an option into one about the field that set it.
    func problem(explaining error: Error, file: String) -> Problem {
        let message = RenderArguments.message(for: error)
        // The option named first in the message is the one at fault ("--overlap must be less than half of --tile").
        let field = Self.fields.filter { arguments.contains($0.option) }
            .compactMap { f in message.range(of: "\(f.option)(?![a-z-])", options: .regularExpression).map { (f, $0.lowerBound) } }
            .min { $0.1 < $1.1 }?.0
        return Problem(file: file, field: field?.path, message: message)
    }

    static func number(_ v: TOMLValueConvertible) -> Double? { v.double ?? v.int.map(Double.init) }

    static func format(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    static func describe(_ v: TOMLValueConvertible) -> String {
        switch v.type {
        case .string: return "the string \"\(v.string ?? "")\""
        case .table: return "a table"
        case .array: return "a list"
        default: return "\(v.type) \(v.tomlValue.debugDescription)"
        }
    }

    /// Levenshtein distance, for "did you mean".
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0 ... b.count)
        for i in 1 ... max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1 ... max(b.count, 1) where !b.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}
