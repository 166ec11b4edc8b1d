import Foundation
import RenderSettings
import TOMLKit

extension JobDescription {
    /// Reads a TOML job file (Configs/examples/*.toml), checks every field and resolves relative paths from the
    /// file's directory. Errors are `JobProblem`s naming the file and the field, e.g.
    /// `poster.toml: tiling.overlap: must be less than half of the tile size`.
    public static func read(_ url: URL) throws -> JobDescription {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw JobProblem(file: url.path, message: "cannot read the job file: \(error.localizedDescription)")
        }
        do {
            var job = try decode(toml: text)
            job.resolvePaths(relativeTo: Self.directory(of: url))
            try job.check()
            return job
        } catch var problem as JobProblem {
            problem.file = url.path
            throw problem
        }
    }

    /// Decodes a job file's text: TOML, checked for unknown fields, then decoded into the Codable model.
    public static func decode(toml text: String) throws -> JobDescription {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw JobProblem(
                message:
                    "not valid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
        try checkFieldNames(table)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in FieldKey(camelCase(path.last?.stringValue ?? "")) }
        do {
            return try decoder.decode(JobDescription.self, from: Data(table.convert(to: .json).utf8))
        } catch let error as DecodingError {
            throw problem(error, in: table)
        }
    }

    /// Every field a job file may hold besides `[[style]]`'s and `[[region]]`'s, as a dotted path.
    public static let fieldPaths: [String] =
        topLevelKeys.filter { !["style", "region"].contains($0) && sections[$0] == nil }
        + sections.sorted { $0.key < $1.key }.flatMap { section, keys in keys.map { "\(section).\($0)" } }

    /// The values a closed field may take.
    public static let choices: [String: [String]] = [
        "optimizer.kind": OptimizerName.allCases.map(\.rawValue), "loss.pooling": PoolingKind.allCases.map(\.rawValue)
    ]

    // MARK: Field names

    static let topLevelKeys = keys(of: JobDescription())
    static let sections: [String: [String]] = [
        "size": keys(of: Size()), "tiling": keys(of: Tiling()), "levels": keys(of: Levels()),
        "optimizer": keys(of: Optimizer()), "loss": keys(of: Loss())
    ]
    static let styleKeys = keys(of: Style(image: ""))
    static let regionKeys = keys(of: Region(color: ""))

    /// A value's stored properties, in kebab case: the model is the one list of fields.
    static func keys(of value: Any) -> [String] {
        Mirror(reflecting: value).children.compactMap { $0.label.map(kebabCase) }
    }

    static func checkFieldNames(_ table: TOMLTable) throws {
        func unknown(_ path: String, among known: [String], prefix: String = "") -> JobProblem {
            let near = known.map { prefix + $0 }.filter { editDistance($0, path) <= 2 }
            return JobProblem(
                field: path,
                message: "unknown field" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: " or "))?)")
                    + "; see Docs/operations.md#job-files")
        }
        for (key, value) in table {
            if let known = ["style": styleKeys, "region": regionKeys][key] {
                for (i, item) in (value.array ?? []).enumerated() {
                    for k in item.table?.keys ?? [] where !known.contains(k) {
                        throw JobProblem(
                            field: "\(key)[\(i + 1)].\(k)",
                            message: "unknown field (a \(key) has \(known.joined(separator: ", ")))")
                    }
                }
            } else if let known = sections[key], let sub = value.table {
                for k in sub.keys where !known.contains(k) {
                    throw unknown("\(key).\(k)", among: known, prefix: "\(key).")
                }
            } else if !topLevelKeys.contains(key) {
                throw unknown(key, among: fieldPaths)
            }
        }
    }

    // MARK: Decoding errors, in the file's terms

    static func problem(_ error: DecodingError, in table: TOMLTable) -> JobProblem {
        func path(_ keys: [CodingKey]) -> String {
            keys.reduce("") { p, k in
                k.intValue.map { p + "[\($0 + 1)]" } ?? (p.isEmpty ? "" : p + ".") + kebabCase(k.stringValue)
            }
        }
        func got(_ keys: [CodingKey]) -> String {
            var value: TOMLValueConvertible? = table
            for k in keys {
                if let i = k.intValue {
                    value = value?.array.flatMap { i < $0.count ? $0[i] : nil }
                } else {
                    value = value?.table?[kebabCase(k.stringValue)]
                }
            }
            return value.map(describe) ?? "nothing"
        }
        switch error {
        case let .typeMismatch(type, context), let .valueNotFound(type, context):
            return JobProblem(
                field: path(context.codingPath),
                message: "expected \(expectation(type)), got \(got(context.codingPath))")
        case let .keyNotFound(key, context):
            return JobProblem(field: path(context.codingPath + [key]), message: "missing")
        case let .dataCorrupted(context):
            let field = path(context.codingPath)
            let allowed = choices[field].map { "expected " + $0.joined(separator: " or ") } ?? "not understood"
            return JobProblem(field: field, message: "\(allowed), got \(got(context.codingPath))")
        @unknown default:
            return JobProblem(message: "\(error)")
        }
    }

    static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        default: "a table"
        }
    }

    static func describe(_ v: TOMLValueConvertible) -> String {
        switch v.type {
        case .string: "the string \"\(v.string ?? "")\""
        case .table: "a table"
        case .array: "a list"
        default: "\(v.type) \(v.tomlValue.debugDescription)"
        }
    }

    // MARK: Paths

    /// Makes the image and output paths absolute, relative paths taken from `base`.
    mutating func resolvePaths(relativeTo base: String) {
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : ((base as NSString).appendingPathComponent(p) as NSString).standardizingPath
        }
        content = content.map(resolve)
        output = output.map(resolve)
        style = style?.map {
            Style(
                image: resolve($0.image), weight: $0.weight, scale: $0.scale, layers: $0.layers,
                mask: $0.mask.map(resolve))
        }
        regionMask = regionMask.map(resolve)
        if let i = initialisation, !["content", "noise"].contains(i) { initialisation = resolve(i) }
    }

    /// The directory a file is in, absolute (plain path strings: URL's relative-path handling loses the base).
    static func directory(of url: URL) -> String {
        let file = url.path
        let absolute =
            file.hasPrefix("/")
            ? file : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(file)
        return (absolute as NSString).deletingLastPathComponent
    }
}

/// A problem with a job: the file and field at fault, when known, and what is wrong.
public struct JobProblem: Error, CustomStringConvertible, Equatable {
    public var file: String?
    /// The field's dotted path (`tiling.overlap`, `style[2].weight`).
    public var field: String?
    public var message: String
    public var description: String { (file.map { "\($0): " } ?? "") + (field.map { "\($0): " } ?? "") + message }

    public init(file: String? = nil, field: String? = nil, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }
}

/// A coding key made from a string (the job file's kebab-case keys, converted).
struct FieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { nil }
}

/// `coarse-size` → `coarseSize`.
func camelCase(_ kebab: String) -> String {
    let parts = kebab.split(separator: "-", omittingEmptySubsequences: false)
    return parts.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
}

/// `coarseSize` → `coarse-size`.
func kebabCase(_ camel: String) -> String {
    camel.reduce(into: "") { out, c in if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) } }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
    var row = Array(0 ... b.count)
    for i in 1 ... a.count {
        var previous = row[0]
        row[0] = i
        for j in 1 ... b.count {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}
