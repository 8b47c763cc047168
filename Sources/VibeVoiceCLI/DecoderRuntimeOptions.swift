import ArgumentParser
import VibeVoiceASR
import VibeVoiceCompute

extension KVCache.Format: ExpressibleByArgument {}
extension PrefillProducts: ExpressibleByArgument {}

/// `--kv-cache f32|f16` and `--prefill auto|integer|float` (transcribe, bench, serve): how the decoder runs, not what
/// it loads.
struct DecoderRuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Key/value cache elements: f32 (exact, the default) or f16 (half the memory for long audio: about 1.55 instead of 3.1 GB for an hour; values rounded to 11 significant bits).",
        valueName: "f32|f16"))
    var kvCache: KVCache.Format = .f32

    @Option(help: ArgumentHelp(
        "How the prompt is prefilled with q8_0 or q4_0 decoder weights. integer: decode's integer kernels (each prompt row's activations rounded to 8-bit blocks exactly as a decode step rounds them), about 2.5x faster than sgemm where the CPU has AVX-512 VNNI and slower with AVX2 alone; float: sgemm over dequantised tiles (the weights' rounding only); auto (the default): integer on the AVX-512 VNNI kernel path, float elsewhere and for float weights. `fidelity --int8-prefill` measures what integer changes.",
        valueName: "auto|integer|float"))
    var prefill: PrefillProducts = .auto

    @Flag(help: ArgumentHelp("The same as --prefill integer.", visibility: .hidden))
    var int8Prefill = false

    func validate() throws {
        if int8Prefill && prefill == .float {
            throw ValidationError("--int8-prefill and --prefill float contradict each other")
        }
    }

    /// The prefill choice, `--int8-prefill` folded in.
    var prefillProducts: PrefillProducts { int8Prefill ? .integer : prefill }

    /// Puts a loaded decoder of `format` on the prefill path `choice` picks (`Linear.int8GEMM`), or says why it
    /// cannot be. Returns whether the integer kernels are on.
    @discardableResult
    static func applyPrefill(_ choice: PrefillProducts, for format: DType) throws -> Bool {
        guard let integer = choice.resolved(for: format) else {
            throw CLIUsageError("--prefill integer needs block-format weights (q8_0 or q4_0); this decoder's weights are \(format.userName)")
        }
        Linear.int8GEMM = integer
        return integer
    }

    @discardableResult
    func applyPrefill(for format: DType) throws -> Bool {
        try Self.applyPrefill(prefillProducts, for: format)
    }
}
