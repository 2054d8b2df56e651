// swift-tools-version:6.0
// Tally: a self-hosted human-feedback labeling server. See Docs/ARCHITECTURE.md for the
// module map; the arrows below follow it (each C module has exactly one Swift importer).
import PackageDescription

let package = Package(
    name: "Tally",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tally", targets: ["tally"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries, reached through pkg-config. Each has a small header of static inline
        // functions for what Swift cannot import (macros, variadic functions).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinux"),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        .target(name: "Cryptography", dependencies: ["COpenSSL"]),
        .target(name: "JSON"),
        .target(name: "HTTP", dependencies: [
            "Cryptography", "JSON", "CLinux",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Requests Tally makes to other servers (an OpenAI-compatible endpoint's answers).
        .target(name: "OutgoingHTTP", dependencies: ["Cryptography"]),
        .target(name: "Storage", dependencies: ["CSQLite"]),
        // Optimized in debug builds too: its kernels (SIMD loops, per-element work) run tens of
        // times slower unoptimized, which made the tests that sample from a real model crawl.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "TransformerCore", dependencies: ["CBLAS", "CKernels", "JSON"], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Training: SFT and the reward model on the core, from value-type examples; it never
        // reads SQLite or HTTP, so the command line and the worker drive it alike.
        .target(name: "Training", dependencies: ["TransformerCore", "JSON"]),
        .target(name: "Labeling", dependencies: ["Storage", "JSON"]),
        .target(name: "Datasets", dependencies: ["Labeling", "Storage", "JSON", "Cryptography"]),
        // The worker: jobs from the database run on Training, their models registered back.
        .target(name: "BackgroundTraining", dependencies: [
            "Labeling", "Datasets", "Training", "TransformerCore", "Storage", "JSON", "Cryptography", "OutgoingHTTP",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TallyServer", dependencies: [
            "HTTP", "Storage", "Labeling", "Datasets", "BackgroundTraining", "Cryptography", "JSON",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "tally", dependencies: [
            "TallyServer", "Storage", "Labeling", "Datasets", "BackgroundTraining", "Cryptography", "TransformerCore", "Training", "JSON",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "TrainBenchmark", dependencies: ["TransformerCore"], path: "Benchmarks/train/TrainBenchmark"),
        .executableTarget(name: "TrainerBenchmark", dependencies: ["Training", "TransformerCore", "JSON", "Labeling"], path: "Benchmarks/trainers/TrainerBenchmark"),

        // What the test suites share: the raw-socket HTTP client and the temporary files every
        // test writes under one folder removed when the test process exits.
        .target(name: "TallyTestSupport", path: "Tests/TallyTestSupport"),
        .testTarget(name: "CryptographyTests", dependencies: ["Cryptography"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TallyTestSupport"]),
        .testTarget(name: "TransformerCoreTests", dependencies: ["TransformerCore", "TallyTestSupport"], exclude: ["Tools"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TransformerCore", "JSON", "TallyTestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Cryptography", "OutgoingHTTP", "TallyTestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TallyTestSupport"]),
        .testTarget(name: "LabelingTests", dependencies: ["Labeling", "TallyTestSupport"], exclude: ["Tools"]),
        .testTarget(name: "TallyServerTests", dependencies: ["TallyServer", "BackgroundTraining", "HTTP", "Storage", "Labeling", "Cryptography", "TransformerCore", "TallyTestSupport"],
                    exclude: ["Tools"]),
    ]
)
