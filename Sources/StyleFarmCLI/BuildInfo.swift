import CBuildInfo

/// What `stylefarm --version` prints: the release number and, in a packaged build, the commit it was built from.
public enum BuildInfo {
    /// The release number. scripts/package.sh reads it from this line: the one place the version is written.
    public static let version = "0.35.0"

    /// "COMMIT DATE" as scripts/package.sh stamped it, or nil in a development build (`swift build`).
    public static var stamp: String? {
        stylefarm_build_stamp().map { String(cString: $0) }
    }

    /// `0.35.0 (commit 1a2b3c4d5e, 2026-12-07)`, or `0.35.0 (development build)`.
    public static var description: String {
        guard let stamp, !stamp.isEmpty else { return "\(version) (development build)" }
        let parts = stamp.split(separator: " ", maxSplits: 1).map(String.init)
        return parts.count == 2 ? "\(version) (commit \(parts[0]), \(parts[1]))" : "\(version) (commit \(stamp))"
    }
}
