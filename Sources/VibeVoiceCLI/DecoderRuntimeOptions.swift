import ArgumentParser
import VibeVoiceASR
import VibeVoiceCompute

extension KVCache.Format: ExpressibleByArgument {}

/// `--kv-cache f32|f16` and `--int8-prefill` (transcribe, bench, serve): how the decoder runs, not what it loads.
struct DecoderRuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Key/value cache elements: f32 (exact, the default) or f16 (half the memory for long audio: about 1.55 instead of 3.1 GB for an hour; values rounded to 11 significant bits).",
        valueName: "f32|f16"))
    var kvCache: KVCache.Format = .f32

    @Flag(help: "With q8_0 or q4_0 decoder weights: prefill with decode's integer kernels (each prompt row's activations rounded to 8-bit blocks exactly as a decode step rounds them) instead of sgemm over dequantised tiles. About 2.5x faster where the CPU has AVX-512 VNNI; with AVX2 alone slower than sgemm. Opt-in: it changes the numerics (see the fidelity command's --int8-prefill).")
    var int8Prefill = false

    /// Turns the integer path on for a loaded decoder, or says why it cannot be.
    func enableInt8Prefill(for format: DType) throws {
        guard int8Prefill else { return }
        guard format.isBlockFormat else {
            throw CLIUsageError("--int8-prefill needs block-format weights (q8_0 or q4_0); this decoder's weights are \(format.userName)")
        }
        Linear.int8GEMM = true
    }
}
