import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// Speed and memory figures on a real or synthesised checkpoint, with ratios to this machine's
/// own measured floors.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure load time, peak memory, encoder, prefill and decode speed against the machine's floors."
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("A local model directory.", valueName: "dir"))
    var model: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds of synthetic audio to encode and prefill.", valueName: "s"))
    var seconds: Double = 60

    @Option(parsing: .unconditional, help: ArgumentHelp("Tokens to decode.", valueName: "n"))
    var tokens: Int = 16

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads (default: all cores).", valueName: "n"))
    var threads: Int?

    /// Longest synthetic clip: 3 hours (the 24 kHz signal alone is 1 GB).
    static let maxSeconds = 10_800.0
    static let maxTokens = 32_768

    func validate() throws {
        if !(seconds > 0 && seconds <= Self.maxSeconds) {
            throw CLIUsageError("--seconds must be more than 0 and at most \(Int(Self.maxSeconds)), got \(seconds)")
        }
        if !(1...Self.maxTokens).contains(tokens) {
            throw CLIUsageError("--tokens must be between 1 and \(Self.maxTokens), got \(tokens)")
        }
        try CLILimits.checkThreads(threads)
    }

    func run() throws {
        // A model that cannot be read fails before the (seconds-long) machine measurements.
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue else {
            throw CLIUsageError("--model '\(model)' is not a local checkpoint folder; bench reads a downloaded model "
                                    + "(a Hub repo is fetched by `vibevoice-asr transcribe -m ORG/NAME`)")
        }
        if let threads { ComputeThreads.set(threads) }
        let r = try Benchmark.run(modelDirectory: URL(fileURLWithPath: model), audioSeconds: seconds,
                                  decodeTokens: tokens) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let gb = 1e9
        var lines: [String] = []
        lines.append(String(format: "threads                 %d (SIMD kernels: %@)", ComputeThreads.count, r.kernelsUseSIMD ? "on" : "off"))
        lines.append(String(format: "memory read bandwidth   %.1f GB/s", r.bandwidth / gb))
        lines.append(String(format: "bf16 mat-vec stream     %.1f GB/s (%.2f of the f32 read bandwidth)", r.bf16MatvecBandwidth / gb,
                            r.bf16MatvecBandwidth / r.bandwidth))
        lines.append(String(format: "sgemm rate              %.1f GFLOP/s", r.sgemm / gb))
        lines.append(String(format: "load                    %.2f s", r.loadSeconds))
        lines.append(String(format: "encode                  %.2f s for %.1f s of audio (%.3f s per audio second)",
                            r.encodeSeconds, r.audioSeconds, r.encodeSeconds / r.audioSeconds))
        lines.append(String(format: "prefill                 %d tokens in %.2f s = %.2f tok/s (ceiling %.2f tok/s at the sgemm rate, ratio %.2f)",
                            r.promptTokens, r.prefillSeconds, r.prefillTokensPerSecond, r.prefillCeilingTokensPerSecond,
                            r.prefillTokensPerSecond / r.prefillCeilingTokensPerSecond))
        lines.append(String(format: "decode                  %.3f s/token (floor %.3f s/token streaming %.2f GB at the measured bandwidth, ratio %.2f)",
                            r.decodeSecondsPerToken, r.decodeFloorSecondsPerToken, Double(r.weightBytesPerToken) / gb,
                            r.decodeSecondsPerToken / r.decodeFloorSecondsPerToken))
        if let peak = r.peakResidentBytes {
            lines.append(String(format: "peak resident memory    %.2f GB", Double(peak) / gb))
        }
        print(lines.joined(separator: "\n"))
    }
}
