// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "advd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AdvNN", targets: ["AdvNN"]),
        .library(name: "AdvRobust", targets: ["AdvRobust"]),
        .executable(name: "advd", targets: ["advd"]),
        .executable(name: "advbench", targets: ["advbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
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
        .target(
            name: "AdvNN",
            dependencies: ["COpenBLAS", "CZlib"]
        ),
        .target(
            name: "AdvRobust",
            dependencies: ["AdvNN", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "advd",
            dependencies: [
                "AdvNN",
                "AdvRobust",
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
            dependencies: ["AdvNN", "AdvTestSupport", "CAllocationCounter", "CZlib"]
        ),
        .testTarget(
            name: "AdvRobustTests",
            dependencies: ["AdvRobust", "AdvNN", "AdvTestSupport"]
        ),
        // Runs the built executables as separate processes.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["advd", "AdvTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
