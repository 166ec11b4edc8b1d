import Foundation

/// A finished command: its exit status and its output (stdout and stderr together).
struct CommandResult {
    var status: Int32
    var output: String
}

/// Runs a program (looked up on PATH via /usr/bin/env) with extra environment, killed after `timeout` s.
/// posix_spawn and waitpid, not Foundation's Process: Process's reaper was seen to leave a child that
/// started daemons (slurmctld, munged) unreaped, and the wait never returned.
@discardableResult
func runCommand(_ args: [String], environment: [String: String] = [:], directory: URL? = nil, timeout: Double = 120)
    throws -> CommandResult
{
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: log) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    // A file, not a pipe: a daemon the command leaves behind must not hold the output open.
    posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
    // sh changes directory (posix_spawn_file_actions_addchdir_np is not imported), then execs env.
    let argv =
        (["/bin/sh", "-c", #"cd "$0" && exec /usr/bin/env "$@""#, directory?.path ?? "."] + args).map { strdup($0) } + [
            nil
        ]
    let envp = env.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() > deadline { kill(pid, SIGKILL) }
        usleep(20_000)
    }
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return CommandResult(status: exit, output: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}
