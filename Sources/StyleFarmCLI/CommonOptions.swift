import ArgumentParser
import Foundation
import Logging
import StyleCore
import VGGWeights

/// Options shared by every subcommand that runs the network.
struct ComputeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Weights file (.sfw). Default: $STYLEFARM_WEIGHTS, else ~/.local/share/stylefarm/\(WeightsLocation.fileName).",
            valueName: "path"))
    var weights: String?

    @Option(help: "Threads of the compute core (its own loops and sgemm calls; OpenBLAS itself runs single-threaded).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
    }

    /// Configures threading and loads the network.
    func loadNetwork(pooling: Pool2x2.Kind = .max) throws -> VGG19 {
        Compute.configure(threads: threads)
        let url = WeightsLocation.resolve(explicit: weights)
        return VGG19(weights: try WeightsFile.read(url), pooling: pooling)
    }
}

/// Prints a message to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--log-level` (and `--quiet`) for the commands that run for long: the coordinator and the worker.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Least severe messages logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info
    @Flag(help: "Log only errors (the same as --log-level error).") var quiet = false

    /// A logger with this level, labelled `label` (the process's role).
    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = quiet ? .error : logLevel
        return logger
    }
}

/// Logs go to standard error (swift-log's stream handler), so standard output carries only results.
public func bootstrapLogging() {
    LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
}
