// swift-tools-version:6.1
import PackageDescription

// Numeric code needs a CPU target: without it SIMD FMA lowers to scalar library calls
// (SPEC.md section 10). x86-64 hosts get Haswell (AVX2 + FMA + F16C); the C kernels also
// dispatch per function, so they build everywhere.
#if arch(x86_64)
let numericSwiftFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let numericSwiftFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "VibeVoiceASR",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "VibeVoiceASR", targets: ["VibeVoiceASR"]),
        .library(name: "VibeVoiceHub", targets: ["VibeVoiceHub"]),
        .library(name: "VibeVoiceServer", targets: ["VibeVoiceServer"]),
        .executable(name: "vibevoice-asr", targets: ["VibeVoiceCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // swift-configuration support is not used: leaving that trait off keeps it out of the build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
    ],
    targets: [
        // System-library shims (Debian: libopenblas-dev, libsndfile1-dev, libsoxr-dev, libavformat-dev,
        // libavcodec-dev, libavutil-dev).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"]), .brew(["libsndfile"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr",
                       providers: [.apt(["libsoxr-dev"]), .brew(["libsoxr"])]),
        // FFmpeg's demuxers and decoders (libavformat's pkg-config file gives the include path; the module map
        // links libavcodec and libavutil too).
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev"]), .brew(["ffmpeg"])]),
        // FFmpeg's log, kept per thread for error messages instead of printed.
        .target(name: "CFFmpegLog", dependencies: ["CFFmpeg"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Hand-written hot loops (mat-vec over stored dtypes) with per-function AVX2 targets.
        .target(name: "CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "VibeVoiceCompute",
                dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux])), "CKernels"],
                swiftSettings: numericSwiftFlags),
        // The JSON reader shared by config/safetensors/tokenizer loading.
        .target(name: "VibeVoiceJSON"),
        .target(name: "VibeVoiceModel",
                dependencies: ["VibeVoiceCompute", "VibeVoiceJSON"],
                swiftSettings: numericSwiftFlags),
        .target(name: "VibeVoiceAudio",
                dependencies: ["CSndfile", "CSoxr", "CFFmpeg", "CFFmpegLog"]),
        .target(name: "VibeVoiceText",
                dependencies: ["VibeVoiceJSON", "CZlib"]),
        .target(name: "VibeVoiceASR",
                dependencies: ["VibeVoiceModel", "VibeVoiceAudio", "VibeVoiceText"]),
        // Hugging Face Hub client: cache layout, download, resume, verification.
        .target(name: "VibeVoiceHub",
                dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The OpenAI-compatible HTTP server over the pipeline.
        .target(name: "VibeVoiceServer",
                dependencies: ["VibeVoiceASR",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HummingbirdCore", package: "hummingbird"),
                               .product(name: "MultipartKit", package: "multipart-kit"),
                               .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "VibeVoiceCLI",
                          dependencies: ["VibeVoiceASR", "VibeVoiceHub", "VibeVoiceServer",
                                         .product(name: "Logging", package: "swift-log"),
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "VibeVoiceJSONTests", dependencies: ["VibeVoiceJSON"]),
        .testTarget(name: "VibeVoiceTextTests", dependencies: ["VibeVoiceText"]),
        .testTarget(name: "VibeVoiceComputeTests", dependencies: ["VibeVoiceCompute"]),
        .testTarget(name: "VibeVoiceModelTests", dependencies: ["VibeVoiceModel", "VibeVoiceAudio"]),
        .testTarget(name: "VibeVoiceAudioTests", dependencies: ["VibeVoiceAudio"]),
        .testTarget(name: "VibeVoiceCLITests", dependencies: ["VibeVoiceASR", "VibeVoiceHub", "VibeVoiceCompute", "CSndfile"]),
        .testTarget(name: "VibeVoiceServerTests",
                    dependencies: ["VibeVoiceServer", "VibeVoiceASR",
                                   .product(name: "Logging", package: "swift-log")]),
    ]
)
