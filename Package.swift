// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Ember",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .executable(name: "ember", targets: ["ember"]),
        .library(name: "EmberServe", targets: ["EmberServe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML (and so JSON) experiment configs for `ember train`.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // `ember serve`: the HTTP server (Hummingbird 2 on SwiftNIO), its logs, metrics and signal handling.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // ONNX models are protobuf: the generated Swift code for onnx.proto is committed (scripts/gen-onnx-proto).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // .npz archives (zip) in EmberData.
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // OpenBLAS (Debian: libopenblas-dev), used for GEMM only.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // zlib (Debian: zlib1g-dev), for gzip files in EmberData. Named CEmberZlib because ZIPFoundation (the .npz
        // reader) brings a module of its own called CZlib.
        .systemLibrary(
            name: "CEmberZlib",
            path: "Sources/CEmberZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libpng 1.6 (Debian: libpng-dev) and libjpeg-turbo (Debian: libjpeg-dev / libjpeg62-turbo-dev), for the image
        // module in EmberData; CEmberImage is the C bridge that catches their longjmp errors.
        .systemLibrary(
            name: "CPNG",
            path: "Sources/CPNG",
            providers: [.apt(["libpng-dev"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            path: "Sources/CJPEG",
            providers: [.apt(["libjpeg-dev"])]
        ),
        .target(name: "CEmberImage", dependencies: ["CPNG", "CJPEG"], path: "Sources/CEmberImage"),
        // Hand-vectorized CPU kernels (AVX2/FMA selected at run time, portable fallback).
        .target(name: "CEmberKernels", path: "Sources/CEmberKernels"),
        // The core: tensors, dtypes, RNG, autodiff, ops, backend protocol and the CPU backend.
        .target(
            name: "EmberCore",
            dependencies: ["CBLAS", "CEmberKernels"],
            path: "Sources/EmberCore"
        ),
        // Datasets, loaders, readers (IDX, CIFAR, CSV, npy), images (PNG/JPEG, resize, image folders), preparation
        // and augmentation.
        .target(
            name: "EmberData",
            dependencies: ["EmberCore", "CEmberZlib", "CEmberImage", "CPNG", "CJPEG", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Sources/EmberData",
            resources: [.copy("Resources")]
        ),
        // Modules, layers, initializers, losses, optimizers, schedules.
        .target(name: "EmberNN", dependencies: ["EmberCore"], path: "Sources/EmberNN"),
        // File formats: safetensors (more to come), atomic writes.
        .target(name: "EmberIO", dependencies: ["EmberCore"], path: "Sources/EmberIO"),
        // The training loop: fit with callbacks, checkpoints and resume.
        .target(name: "EmberTrain", dependencies: ["EmberNN", "EmberData", "EmberIO"], path: "Sources/EmberTrain"),
        // ONNX export (from the tracer's graph) and import (an ONNX graph run on Ember's ops).
        .target(
            name: "EmberONNX",
            dependencies: ["EmberCore", "EmberNN", "EmberIO", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/EmberONNX"
        ),
        // Metrics equal to scikit-learn's, streaming accumulators, diagnosis, error analysis, attribution, fairness, HTML reports.
        .target(name: "EmberMetrics", dependencies: ["EmberCore", "EmberNN", "EmberTrain"], path: "Sources/EmberMetrics"),
        // Experiment tracking: TensorBoard event files (hand-written protobuf, PNG through EmberData's image module) and
        // MLflow (REST + file store).
        .target(name: "EmberTrack", dependencies: ["EmberCore", "EmberNN", "EmberTrain", "EmberIO"], path: "Sources/EmberTrack"),
        // PCA and k-means (float64, equal to scikit-learn's): unsupervised learning on feature matrices.
        .target(name: "EmberUnsupervised", dependencies: ["EmberCore"], path: "Sources/EmberUnsupervised"),
        // Umbrella module: `import Ember` brings every Ember module.
        .target(name: "Ember", dependencies: ["EmberCore", "EmberData", "EmberNN", "EmberIO", "EmberTrain", "EmberMetrics", "EmberTrack", "EmberONNX", "EmberUnsupervised"], path: "Sources/Ember"),
        // The `ember` command line's logic (train, evaluate, predict, inspect, datasets), a library so tests call it
        // in-process; the `ember` executable is a thin shell over it.
        .target(
            name: "EmberCLI",
            dependencies: ["EmberTrain", "EmberMetrics", "EmberTrack", "EmberONNX", "EmberUnsupervised", .product(name: "Yams", package: "Yams"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/EmberCLI"
        ),
        // `ember serve`: Open Inference Protocol (KServe v2) and SageMaker endpoints over saved run directories, with
        // dynamic batching, Prometheus metrics and a page per model.
        .target(
            name: "EmberServe",
            dependencies: ["EmberCLI", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/EmberServe"
        ),
        .executableTarget(
            name: "ember",
            dependencies: ["Ember", "EmberCLI", "EmberServe", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/ember"
        ),
        .testTarget(
            name: "EmberCoreTests",
            dependencies: ["EmberCore", "EmberTestSupport"],
            path: "Tests/EmberCoreTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberNNTests",
            dependencies: ["EmberNN", "EmberTestSupport"],
            path: "Tests/EmberNNTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberTrainTests",
            dependencies: ["EmberTrain", "EmberTestSupport"],
            path: "Tests/EmberTrainTests"
        ),
        // Helpers for the tests that run real outside tools (tensorboard, mlflow, an mlflow server, Chromium, datasets):
        // skipped locally when missing, failures in CI.
        .target(name: "EmberTestSupport", path: "Tests/EmberTestSupport"),
        .testTarget(
            name: "EmberTrackTests",
            dependencies: ["EmberTrack", "EmberTestSupport"],
            path: "Tests/EmberTrackTests"
        ),
        .testTarget(
            name: "EmberMetricsTests",
            dependencies: ["EmberMetrics", "EmberTestSupport"],
            path: "Tests/EmberMetricsTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberIOTests",
            dependencies: ["EmberIO", "EmberTestSupport"],
            path: "Tests/EmberIOTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberCLITests",
            dependencies: ["EmberCLI", "EmberTestSupport"],
            path: "Tests/EmberCLITests"
        ),
        .testTarget(
            name: "EmberServeTests",
            dependencies: ["EmberServe", "EmberTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/EmberServeTests"
        ),
        .testTarget(
            name: "EmberONNXTests",
            dependencies: ["EmberONNX", "EmberTestSupport"],
            path: "Tests/EmberONNXTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberUnsupervisedTests",
            dependencies: ["EmberUnsupervised", "EmberMetrics", "EmberData", "EmberTestSupport"],
            path: "Tests/EmberUnsupervisedTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmberDataTests",
            dependencies: ["EmberData", "EmberTestSupport"],
            path: "Tests/EmberDataTests",
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
