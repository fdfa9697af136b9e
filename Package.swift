// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "AttentionKit",
    products: [
        .library(name: "AttentionKit", targets: ["AttentionKit"]),
        .executable(name: "attn", targets: ["attn"]),
        .executable(name: "attn-bench", targets: ["attn-bench"]),
        .executable(name: "mlp-demo", targets: ["MLPDemo"]),
        .executable(name: "attention-demo", targets: ["AttentionDemo"]),
        .executable(name: "translate-from-run", targets: ["TranslateFromRun"]),
        .executable(name: "sentence-attention", targets: ["SentenceAttention"]),
        .executable(name: "classify-text", targets: ["ClassifyText"]),
        .executable(name: "image-folders-from-cifar", targets: ["ImageFoldersFromCIFAR"]),
        .executable(name: "mlp", targets: ["MLP"]),
        .executable(name: "image-classifier", targets: ["ImageClassifier"]),
        .executable(name: "tokenizers", targets: ["Tokenizers"]),
        .executable(name: "attention-to-numpy", targets: ["AttentionToNumPy"]),
        .executable(name: "course", targets: ["Course"]),
    ],
    traits: [
        // `swift build --traits MPI`: data-parallel training on Open MPI (`mpirun -np N attn train … --distributed`).
        // Off by default, so a plain build needs no MPI installed.
        .trait(name: "MPI", description: "Data-parallel training across processes on Open MPI (Debian: libopenmpi-dev)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        // TensorBoard event files: the Event/Summary protocol buffers are encoded by swift-protobuf's runtime.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `swift package generate-documentation --target AttentionKit`: the DocC catalog in Sources/AttentionKit.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // `attn serve` only (the AttentionServe target): an HTTP server on SwiftNIO, and Prometheus's text format for
        // /metrics. A package that depends on the AttentionKit library does not build either.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System-library shims: module maps only, found through pkg-config.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // No pkgConfig: libutf8proc.pc adds -DUTF8PROC_EXPORTS, a flag SwiftPM refuses with a warning on every
        // build; the header is in /usr/include and the module map links utf8proc.
        .systemLibrary(
            name: "CUTF8Proc",
            providers: [.apt(["libutf8proc-dev"])]
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
            name: "CTurboJPEG",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),
        // Pictures (charts, heatmaps, overlays): cairo draws, Pango lays out the text through fontconfig and
        // FreeType (font fallback for CJK and emoji, HarfBuzz shaping); PNG and SVG out.
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]
        ),
        // int8 inference (`attn quantize`): oneDNN's u8·s8 → s32 GEMM, VNNI where the CPU has it.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // AVX2 versions of the hottest float32 loops, chosen at run time; bit for bit the Swift loops' results.
        .target(name: "CKernels"),
        .target(
            name: "AttentionKit",
            dependencies: [
                "CKernels",
                "COpenBLAS",
                "CDNNL",
                "CUTF8Proc",
                "CZlib",
                "CPNG",
                "CTurboJPEG",
                "CCairo",
                .target(name: "CMPI", condition: .when(traits: ["MPI"])),
                .product(name: "RealModule", package: "swift-numerics"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // `attn serve`: trained runs behind an HTTP API (its own target, so the library does not depend on a server).
        .target(
            name: "AttentionServe",
            dependencies: [
                "AttentionKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "attn",
            dependencies: [
                "AttentionKit",
                "AttentionServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "attn-bench",
            dependencies: ["AttentionKit", "COpenBLAS"],
            path: "Benchmarks/attn-bench"
        ),
        .executableTarget(
            name: "MLPDemo",
            dependencies: ["AttentionKit"],
            path: "Examples/MLPDemo"
        ),
        .executableTarget(
            name: "AttentionDemo",
            dependencies: ["AttentionKit"],
            path: "Examples/AttentionDemo"
        ),
        .executableTarget(name: "TranslateFromRun", dependencies: ["AttentionKit"], path: "Examples/TranslateFromRun"),
        .executableTarget(name: "SentenceAttention", dependencies: ["AttentionKit"], path: "Examples/SentenceAttention"),
        .executableTarget(name: "ClassifyText", dependencies: ["AttentionKit"], path: "Examples/ClassifyText"),
        .executableTarget(name: "ImageFoldersFromCIFAR", dependencies: ["AttentionKit"], path: "Examples/ImageFoldersFromCIFAR"),
        .executableTarget(name: "MLP", dependencies: ["AttentionKit"], path: "Examples/MLP"),
        .executableTarget(name: "ImageClassifier", dependencies: ["AttentionKit"], path: "Examples/ImageClassifier"),
        .executableTarget(name: "Tokenizers", dependencies: ["AttentionKit"], path: "Examples/Tokenizers"),
        .executableTarget(name: "AttentionToNumPy", dependencies: ["AttentionKit"], path: "Examples/AttentionToNumPy"),
        .executableTarget(name: "Course", dependencies: ["AttentionKit"], path: "Examples/Course"),
        .testTarget(
            name: "AttentionKitTests",
            dependencies: ["AttentionKit", "CKernels", "CZlib"],
            exclude: ["Fixtures"]
        ),
    ]
)
