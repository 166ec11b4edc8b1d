import ArgumentParser
import Foundation
import StyleCore
import VGGWeights

/// Options shared by every subcommand that runs the network.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Weights file (.sfw). Default: $STYLEFARM_WEIGHTS, else ~/.local/share/stylefarm/\(WeightsLocation.fileName).",
                               valueName: "path"))
    var weights: String?

    @Option(help: "Threads for OpenBLAS and the compute core.")
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
