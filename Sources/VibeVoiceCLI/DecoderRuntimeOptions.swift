import ArgumentParser
import VibeVoiceASR
import VibeVoiceCompute

extension KVCache.Format: ExpressibleByArgument {}

/// `--kv-cache f32|f16` and `--int8-prefill` (transcribe, bench): how the decoder runs, not what it loads.
struct DecoderRuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Key/value cache elements: f32 (exact, the default) or f16 (half the memory for long audio: about 1.55 instead of 3.1 GB for an hour; values rounded to 11 significant bits).",
        valueName: "f32|f16"))
    var kvCache: KVCache.Format = .f32

    @Flag(help: "With 8-bit (q8_0) decoder weights: prefill (and every product of several rows) with integer multiply-adds on activations rounded to 16 bits, instead of sgemm over dequantised tiles. Opt-in: it changes the numerics slightly (see the fidelity command's --int8-prefill).")
    var int8Prefill = false

    /// Turns the integer path on for a loaded decoder, or says why it cannot be.
    func enableInt8Prefill(for format: DType) throws {
        guard int8Prefill else { return }
        guard format == .q8_0 else {
            throw CLIUsageError("--int8-prefill needs 8-bit weights (q8_0); this decoder's weights are \(format.userName)")
        }
        Linear.int8GEMM = true
    }
}
