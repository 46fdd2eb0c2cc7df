// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Ember",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .executable(name: "ember", targets: ["ember"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS (Debian: libopenblas-dev), used for GEMM only.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Hand-vectorized CPU kernels (AVX2/FMA selected at run time, portable fallback).
        .target(name: "CEmberKernels", path: "Sources/CEmberKernels"),
        // The core: tensors, dtypes, RNG, autodiff, ops, backend protocol and the CPU backend.
        .target(
            name: "EmberCore",
            dependencies: ["CBLAS", "CEmberKernels"],
            path: "Sources/EmberCore"
        ),
        // Datasets, loaders, readers (IDX, CIFAR, CSV, npy), preparation and augmentation.
        .target(
            name: "EmberData",
            dependencies: ["EmberCore"],
            path: "Sources/EmberData",
            resources: [.copy("Resources")]
        ),
        // Umbrella module: `import Ember` brings every Ember module.
        .target(name: "Ember", dependencies: ["EmberCore", "EmberData"], path: "Sources/Ember"),
        .executableTarget(
            name: "ember",
            dependencies: ["Ember", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/ember"
        ),
        .testTarget(
            name: "EmberCoreTests",
            dependencies: ["EmberCore"],
            path: "Tests/EmberCoreTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberDataTests",
            dependencies: ["EmberData"],
            path: "Tests/EmberDataTests",
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
