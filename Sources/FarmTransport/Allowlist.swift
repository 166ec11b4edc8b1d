import FarmProtocol
import Foundation

/// The public keys a coordinator admits, each with a role and a name (Docs/security.md, "Keys and roles"). Built
/// from `--allow-workers`, `--allow-clients` and `--allow-admins`, each a `.pub` file, a directory of them, or a key
/// given inline; a key's name is its file's name without `.pub` (`alice.pub` → `alice`), or `key-` and its first
/// eight characters when given inline.
public struct Allowlist: Sendable, Equatable {
    public private(set) var members: [String: Caller] = [:]

    public init() {}

    /// Keys given inline, with their role (tests, the embedded farm).
    public init(_ entries: [(key: String, name: String, role: PeerRole)]) throws {
        for e in entries { try add(key: e.key, name: e.name, role: e.role, from: e.name) }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// Who `key` is, or nil when it is not allowed.
    public func caller(key: String) -> Caller? { members[key] }

    /// How many keys of each role, for the start-up line (`2 workers, 1 client, 1 admin`).
    public var summary: String {
        PeerRole.allCases.map { role in
            let n = members.values.filter { $0.role == role }.count
            return "\(n) \(role.rawValue)\(n == 1 ? "" : "s")"
        }.joined(separator: ", ")
    }

    /// Adds the keys in `paths` (files, directories of `*.pub`, or inline keys) with `role`. A key listed under
    /// two roles is refused: which one was meant cannot be guessed, and the wrong guess gives a worker a client's
    /// rights or the reverse.
    public mutating func add(_ paths: [String], as role: PeerRole) throws {
        for path in paths {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                where name.hasSuffix(".pub") {
                    let file = URL(fileURLWithPath: path).appendingPathComponent(name).path
                    try add(
                        key: try CurveKeyPair.publicKey(file), name: String(name.dropLast(4)), role: role, from: file)
                }
            } else {
                let key = try CurveKeyPair.publicKey(path)
                let name =
                    key == path
                    ? "key-\(key.prefix(8))" : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                try add(key: key, name: name, role: role, from: path)
            }
        }
    }

    mutating func add(key: String, name: String, role: PeerRole, from source: String) throws {
        if let known = members[key], known.role != role {
            throw CurveKeyPair.KeyError.badFile(
                source,
                "this key is already allowed as \(known.role.rawValue) '\(known.name)'; "
                    + "a key has one role (allow it as admin for both)")
        }
        if let other = members.values.first(where: { $0.name == name && $0.key != key }) {
            // A name stands for one key wherever a name is shown or compared (the dashboard shows a client its jobs by it).
            throw CurveKeyPair.KeyError.badFile(
                source,
                "another key (\(other.role.rawValue), \(other.key.prefix(8))…) is already named "
                    + "'\(name)'; give each key its own name (its file's name)")
        }
        members[key] = Caller(key: key, name: name, role: role)
    }
}
