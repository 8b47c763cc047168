// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer harnesses for the engine's parsers (development only: CI never builds this package).
// Build and run them with `scripts/fuzz.py`, which passes `-sanitize=fuzzer,address`; every harness
// exports `LLVMFuzzerTestOneInput` (libFuzzer supplies `main`, hence `-parse-as-library`).
let harnesses = [
    "FuzzSafetensors", "FuzzShardIndex", "FuzzConfig", "FuzzTokenizerLoad", "FuzzTokenizerEncode",
    "FuzzTokenizerDecode", "FuzzTranscriptParser", "FuzzConvertReader", "FuzzAudioLoader", "FuzzServerRequest",
]

// A path dependency's identity is its folder's name (the clone's name), so it is read from this file's path.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent
let engine: Target.Dependency = .product(name: "VibeVoiceASR", package: root)
let server: Target.Dependency = .product(name: "VibeVoiceServer", package: root)

let package = Package(
    name: "VibeVoiceFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [engine]),
    ] + harnesses.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport", engine] + (name == "FuzzServerRequest" ? [server] : []),
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
)
