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
    var model: String?

    @Flag(help: "Only measure what recording token log-probabilities costs: a log-sum-exp over 152064 logits against the LM-head mat-vec (152064 x 3584 bf16) that makes them. Needs no model.")
    var logSoftmax = false

    @Option(help: ArgumentHelp("Seconds of synthetic audio to encode and prefill.", valueName: "s"))
    var seconds: Double = 60

    @Option(help: ArgumentHelp("Tokens to decode.", valueName: "n"))
    var tokens: Int = 16

    @Option(help: ArgumentHelp("Threads (default: all cores).", valueName: "n"))
    var threads: Int?

    func validate() throws {
        if !(seconds > 0) { throw CLIUsageError("--seconds must be positive") }
        if tokens < 1 { throw CLIUsageError("--tokens must be at least 1") }
        if model == nil && !logSoftmax { throw CLIUsageError("give --model DIR (or --log-softmax, which needs none)") }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        if logSoftmax { return runLogSoftmax() }
        let r = try Benchmark.run(modelDirectory: URL(fileURLWithPath: model!), audioSeconds: seconds,
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

    private func runLogSoftmax() {
        FileHandle.standardError.write(Data("measuring the LM-head mat-vec and the log-sum-exp over its logits ...\n".utf8))
        let r = LogSoftmaxBenchmark.run()
        let ms = 1000.0
        print(String(format: "threads                 %d", ComputeThreads.count))
        print(String(format: "LM-head mat-vec         %.2f ms median, %.2f ms best (%d x %d bf16, %.2f GB)", r.matvecMedian * ms,
                     r.matvecBest * ms, r.vocab, r.hidden, Double(r.vocab * r.hidden * 2) / 1e9))
        print(String(format: "log-sum-exp of logits   %.3f ms median, %.3f ms best", r.logSumExpMedian * ms, r.logSumExpBest * ms))
        print(String(format: "ratio                   %.2f%% of the LM-head mat-vec; %.3f%% of a decode step (%.1f GB of weights per token)",
                     100 * r.ratioToLMHead, 100 * r.ratioToDecode, Double(r.decodeBytesPerToken) / 1e9))
    }
}
