import Foundation

/// Where StyleFarm looks for its weights file.
///
/// In order: an explicit path (the `--weights` flag), the `STYLEFARM_WEIGHTS` environment variable, then
/// `$XDG_DATA_HOME/stylefarm/vgg19-notop-q.sfw` (default `~/.local/share/stylefarm/vgg19-notop-q.sfw`).
public enum WeightsLocation {
    public static let environmentVariable = "STYLEFARM_WEIGHTS"
    public static let fileName = "vgg19-notop-q.sfw"

    /// The path to use, given an optional explicit one and an environment.
    public static func resolve(
        explicit: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> URL {
        if let explicit, !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        if let env = environment[environmentVariable], !env.isEmpty { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: directory("XDG_DATA_HOME", else: ".local/share", environment: environment))
            .appendingPathComponent("stylefarm").appendingPathComponent(fileName)
    }

    /// An XDG base directory: `$variable` when set, else `$HOME/fallback` (from the environment, so a process run
    /// with another HOME uses another directory).
    public static func directory(
        _ variable: String, else fallback: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/" + fallback)
    }
}
