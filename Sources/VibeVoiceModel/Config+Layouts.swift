import Foundation
import VibeVoiceJSON

extension VibeVoiceConfig {
    // MARK: - transformers layout (SPEC 1.1)

    static func parseTransformers(_ r: ConfigReader) throws(ConfigError) -> VibeVoiceConfig {
        // Sub-configs absent from the file take transformers' defaults (VibeVoiceAsrConfig.sub_configs_defaults).
        let acoustic = try parseTransformersEncoder(try r.optionalObject("acoustic_tokenizer_encoder_config"),
                                                    defaultHiddenSize: 64, file: r.file,
                                                    path: "acoustic_tokenizer_encoder_config")
        let semantic = try parseTransformersEncoder(try r.optionalObject("semantic_tokenizer_encoder_config"),
                                                    defaultHiddenSize: 128, file: r.file,
                                                    path: "semantic_tokenizer_encoder_config")
        let decoder = try parseQwen2(try r.requiredObject("text_config"), topLevel: r)
        return VibeVoiceConfig(
            format: .transformers, acoustic: acoustic, semantic: semantic, decoder: decoder,
            audioTokenID: try r.int("audio_token_id", default: defaultAudioTokenID),
            audioBOSTokenID: try r.int("audio_bos_token_id", default: defaultAudioBOSTokenID),
            audioEOSTokenID: try r.int("audio_eos_token_id", default: defaultAudioEOSTokenID),
            acousticChunkSize: try r.int("acoustic_tokenizer_chunk_size", default: defaultAcousticChunkSize))
    }

    /// `VibeVoiceAcousticTokenizerEncoderConfig`, defaults from transformers 5.23.0.
    private static func parseTransformersEncoder(_ sub: ConfigReader?, defaultHiddenSize: Int, file: String,
                                                 path: String) throws(ConfigError) -> SpeechEncoderConfig {
        let e = sub ?? ConfigReader(file: file, path: path, object: [:])
        if let mt = try e.optionalString("model_type"),
           !["vibevoice_acoustic_tokenizer_encoder", "vibevoice_acoustic_tokenizer"].contains(mt) {
            throw e.unsupported("model_type", "\"\(mt)\"", supported: "\"vibevoice_acoustic_tokenizer_encoder\"")
        }
        let act = try e.string("hidden_act", default: "gelu")
        guard act == "gelu" else { throw e.unsupported("hidden_act", "\"\(act)\"", supported: "\"gelu\"") }
        let cfg = SpeechEncoderConfig(
            channels: try e.int("channels", default: 1),
            hiddenSize: try e.int("hidden_size", default: defaultHiddenSize),
            numFilters: try e.int("num_filters", default: 32),
            kernelSize: try e.int("kernel_size", default: 7),
            depths: try e.optionalIntArray("depths") ?? [3, 3, 3, 3, 3, 3, 8],
            downsamplingRatios: try e.optionalIntArray("downsampling_ratios") ?? [2, 2, 4, 5, 5, 8],
            ffnExpansion: try e.int("ffn_expansion", default: 4),
            hiddenAct: act,
            rmsNormEps: Float(try e.double("rms_norm_eps", default: 1e-5)),
            vaeStd: Float(try e.double("vae_std", default: 0.625)))
        try validateEncoder(cfg, e, keys: EncoderKeys.transformers)
        return cfg
    }

    // MARK: - original layout (SPEC 1.2)

    static func parseOriginal(_ r: ConfigReader) throws(ConfigError) -> VibeVoiceConfig {
        let acoustic = try parseOriginalEncoder(try r.optionalObject("acoustic_tokenizer_config"), top: r,
                                                path: "acoustic_tokenizer_config", vaeDimKey: "acoustic_vae_dim",
                                                defaultVaeDim: 64, defaultFixStd: 0.5, defaultDist: "gaussian")
        let semantic = try parseOriginalEncoder(try r.optionalObject("semantic_tokenizer_config"), top: r,
                                                path: "semantic_tokenizer_config", vaeDimKey: "semantic_vae_dim",
                                                defaultVaeDim: 64, defaultFixStd: 0, defaultDist: "none")
        let decoder = try parseQwen2(try r.requiredObject("decoder_config"), topLevel: r)
        // The original layout has no audio token fields; accept them if a file carries them anyway.
        return VibeVoiceConfig(
            format: .original, acoustic: acoustic, semantic: semantic, decoder: decoder,
            audioTokenID: try r.int("audio_token_id", default: defaultAudioTokenID),
            audioBOSTokenID: try r.int("audio_bos_token_id", default: defaultAudioBOSTokenID),
            audioEOSTokenID: try r.int("audio_eos_token_id", default: defaultAudioEOSTokenID),
            acousticChunkSize: try r.int("acoustic_tokenizer_chunk_size", default: defaultAcousticChunkSize))
    }

    /// `VibeVoiceAcousticTokenizerConfig` / `VibeVoiceSemanticTokenizerConfig` of microsoft/VibeVoice,
    /// mapped onto the transformers encoder fields. Defaults are those of the original classes.
    private static func parseOriginalEncoder(_ sub: ConfigReader?, top: ConfigReader, path: String, vaeDimKey: String,
                                             defaultVaeDim: Int, defaultFixStd: Double,
                                             defaultDist: String) throws(ConfigError) -> SpeechEncoderConfig {
        let e = sub ?? ConfigReader(file: top.file, path: path, object: [:])
        // Options the reference offers but the released encoders never use: accept only the value implemented.
        try e.require("causal", equals: true)
        try e.require("layernorm", equals: "RMSNorm")
        try e.require("mixer_layer", equals: "depthwise_conv")
        try e.require("conv_norm", equals: "none")
        try e.require("pad_mode", equals: "constant")
        try e.require("disable_last_norm", equals: true)
        try e.require("layernorm_elementwise_affine", equals: true)
        try e.require("conv_bias", equals: true)

        // Width of the latents: the sub-config's vae_dim and the top-level *_vae_dim must agree when both exist.
        let subDim = try e.optionalInt("vae_dim")
        let topDim = try top.optionalInt(vaeDimKey)
        if let s = subDim, let t = topDim, s != t {
            throw top.invalid(vaeDimKey, String(t), expected: "\(e.field("vae_dim")) (\(s))")
        }
        let hidden = subDim ?? topDim ?? defaultVaeDim

        let depths: [Int]
        if let v = e.value("encoder_depths") {
            switch v {
            case .string(let s): depths = try parseDepthString(s, e, key: "encoder_depths")
            case .array: depths = try e.optionalIntArray("encoder_depths") ?? []
            default: throw e.wrongType("encoder_depths", "a string like \"3-3-3-3-3-3-8\"", v)
            }
        } else {
            depths = [3, 3, 3, 3, 3, 3, 8]
        }
        // The original encoder applies its ratios reversed (TokenizerEncoder: `reversed(config.ratios)`).
        let ratios = Array((try e.optionalIntArray("encoder_ratios") ?? [8, 5, 5, 4, 2, 2]).reversed())

        let fixStd = try e.nonNegative("fix_std", try e.double("fix_std", default: defaultFixStd))
        let dist = try e.string("std_dist_type", default: defaultDist)
        let vaeStd: Double
        switch dist {
        case "gaussian": vaeStd = fixStd / 0.8
        case "none": vaeStd = 0
        default: throw e.unsupported("std_dist_type", "\"\(dist)\"", supported: "\"gaussian\", \"none\"")
        }
        let cfg = SpeechEncoderConfig(
            channels: try e.int("channels", default: 1),
            hiddenSize: hidden,
            numFilters: try e.int("encoder_n_filters", default: 32),
            kernelSize: 7, depths: depths, downsamplingRatios: ratios, ffnExpansion: 4, hiddenAct: "gelu",
            rmsNormEps: Float(try e.double("layernorm_eps", default: 1e-5)),
            vaeStd: Float(vaeStd))
        try validateEncoder(cfg, e, keys: EncoderKeys.original)
        return cfg
    }

    private static func parseDepthString(_ s: String, _ e: ConfigReader, key: String) throws(ConfigError) -> [Int] {
        var out: [Int] = []
        for part in s.split(separator: "-", omittingEmptySubsequences: false) {
            guard let n = Int(part), n >= 0 else {
                throw e.invalid(key, "\"\(s)\"", expected: "non-negative integers joined by '-', like \"3-3-3-3-3-3-8\"")
            }
            out.append(n)
        }
        return out
    }
}
