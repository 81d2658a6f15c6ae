// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "advd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AdvNN", targets: ["AdvNN"]),
        .library(name: "AdvRobust", targets: ["AdvRobust"]),
        .library(name: "AdvDaemon", targets: ["AdvDaemon"]),
        .executable(name: "advd", targets: ["advd"]),
        .executable(name: "advctl", targets: ["advctl"]),
        .executable(name: "advbench", targets: ["advbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // advd's hand-written vector kernels (AVX-512, AVX2 + FMA, each with a portable twin): the direct
        // convolution and the plane copies that feed it for Conv2D, the dense rows for Linear.
        .target(name: "CKernels"),
        .target(
            name: "AdvNN",
            dependencies: ["COpenBLAS", "CZlib", "CKernels"]
        ),
        // advd's release number, for every module and both executables.
        .target(name: "AdvVersion"),
        .target(
            name: "AdvRobust",
            dependencies: ["AdvNN", "AdvVersion", "CPNG", .product(name: "Yams", package: "Yams")]
        ),
        // The socket protocol shared by the daemon and advctl: versioned, newline-delimited JSON.
        .target(name: "AdvProtocol"),
        // Progress lines for the executables' output: redrawn in place on a terminal, plain in a pipe.
        .target(name: "AdvTerminal"),
        // The service: configuration, spool watcher, job store, worker pool, control server, systemd.
        .target(
            name: "AdvDaemon",
            dependencies: [
                "AdvRobust",
                "AdvProtocol",
                "AdvVersion",
                "CSystemd",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "advd",
            dependencies: [
                "AdvNN",
                "AdvRobust",
                "AdvDaemon",
                "AdvProtocol",
                "AdvTerminal",
                "AdvVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "advctl",
            dependencies: [
                "AdvProtocol",
                "AdvTerminal",
                "AdvVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "advbench",
            dependencies: [
                "AdvNN",
                "AdvRobust",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test support only: counts heap allocations per thread (see its header).
        .target(name: "CAllocationCounter"),
        // Test support shared by the test targets: toy data, temporary folders, running advd.
        .target(name: "AdvTestSupport", dependencies: ["AdvNN"]),
        .testTarget(
            name: "AdvNNTests",
            dependencies: ["AdvNN", "AdvTestSupport", "CAllocationCounter", "CKernels", "CZlib"]
        ),
        .testTarget(
            name: "AdvRobustTests",
            dependencies: ["AdvRobust", "AdvNN", "AdvTestSupport"]
        ),
        .testTarget(
            name: "AdvProtocolTests",
            dependencies: ["AdvProtocol", "AdvTerminal"]
        ),
        .testTarget(
            name: "AdvDaemonTests",
            // advd: the in-process daemon's jobs run as `advd run --supervised` processes
            dependencies: ["AdvDaemon", "AdvProtocol", "AdvTestSupport", "advd", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Logging", package: "swift-log")],
            // read through #filePath: CI runs the tests from the source tree
            exclude: ["Fixtures"]
        ),
        // Runs the built executables as separate processes.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["advd", "advctl", "AdvNN", "AdvRobust", "AdvProtocol", "AdvTestSupport", "AdvVersion"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
