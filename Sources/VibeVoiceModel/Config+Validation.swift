import Foundation
import VibeVoiceJSON

extension VibeVoiceConfig {
    // MARK: - Validation

    struct EncoderKeys {
        let channels, hiddenSize, numFilters, kernelSize, depths, ratios, ffn, eps, vaeStd: String
        static let transformers = EncoderKeys(
            channels: "channels", hiddenSize: "hidden_size", numFilters: "num_filters", kernelSize: "kernel_size",
            depths: "depths", ratios: "downsampling_ratios", ffn: "ffn_expansion", eps: "rms_norm_eps",
            vaeStd: "vae_std")
        static let original = EncoderKeys(
            channels: "channels", hiddenSize: "vae_dim", numFilters: "encoder_n_filters", kernelSize: "kernel_size",
            depths: "encoder_depths", ratios: "encoder_ratios", ffn: "ffn_expansion", eps: "layernorm_eps",
            vaeStd: "fix_std")
    }

    static func validateEncoder(_ c: SpeechEncoderConfig, _ e: ConfigReader,
                                        keys: EncoderKeys) throws(ConfigError) {
        _ = try e.positive(keys.channels, c.channels)
        _ = try e.positive(keys.hiddenSize, c.hiddenSize)
        _ = try e.positive(keys.numFilters, c.numFilters)
        _ = try e.positive(keys.kernelSize, c.kernelSize)
        guard c.kernelSize <= 64 else {
            throw e.invalid(keys.kernelSize, String(c.kernelSize), expected: "at most 64 (the depthwise mixer's limit)")
        }
        _ = try e.positive(keys.ffn, c.ffnExpansion)
        _ = try e.positive(keys.eps, Double(c.rmsNormEps))
        _ = try e.nonNegative(keys.vaeStd, Double(c.vaeStd))
        guard !c.downsamplingRatios.isEmpty, c.downsamplingRatios.allSatisfy({ $0 > 0 }) else {
            throw e.invalid(keys.ratios, "\(c.downsamplingRatios)", expected: "a non-empty list of positive integers")
        }
        // Widths double per stage and the hop is the product of the ratios: keep both far from overflow.
        guard c.downsamplingRatios.count <= 16,
              c.numFilters <= (1 << 20) >> c.downsamplingRatios.count,
              c.downsamplingRatios.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 })
                  <= 1 << 24 else {
            throw e.invalid(keys.ratios, "\(c.downsamplingRatios)",
                            expected: "at most 16 stages with a hop length below 2^24 samples")
        }
        guard c.depths.count == c.downsamplingRatios.count + 1, c.depths.allSatisfy({ $0 >= 0 }) else {
            throw e.invalid(keys.depths, "\(c.depths)",
                            expected: "\(c.downsamplingRatios.count + 1) non-negative block counts "
                                + "(the stem, then one per downsampling ratio)")
        }
    }

    func validate(_ r: ConfigReader) throws(ConfigError) {
        let hop = acoustic.hopLength
        guard semantic.hopLength == hop else {
            throw ConfigError.invalidValue(
                file: r.file, field: format == .transformers ? "semantic_tokenizer_encoder_config.downsampling_ratios"
                                                             : "semantic_tokenizer_config.encoder_ratios",
                value: "hop \(semantic.hopLength)", expected: "the acoustic encoder's hop length (\(hop))")
        }
        guard acousticChunkSize > 0, acousticChunkSize % hop == 0 else {
            throw r.invalid("acoustic_tokenizer_chunk_size", String(acousticChunkSize),
                            expected: "a positive multiple of the hop length (\(hop))")
        }
        // Not checked against vocab_size: small test models keep the released ids with a tiny vocabulary.
        for (key, id) in [("audio_token_id", audioTokenID), ("audio_bos_token_id", audioBOSTokenID),
                          ("audio_eos_token_id", audioEOSTokenID)] where id < 0 {
            throw r.invalid(key, String(id), expected: "a non-negative token id")
        }
    }
}
