import Foundation
import VibeVoiceJSON

/// One causal convolutional speech encoder (acoustic or semantic; SPEC section 3).
public struct SpeechEncoderConfig: Sendable, Equatable {
    /// Input channels (1: mono waveform).
    public var channels: Int
    /// Width of the output latents (64 acoustic, 128 semantic).
    public var hiddenSize: Int
    /// Width of the stem; doubles after every downsampling stage.
    public var numFilters: Int
    /// Kernel of the stem, the depthwise mixers and the head.
    public var kernelSize: Int
    /// ConvNeXt blocks per stage: stem first, then one entry per downsampling ratio.
    public var depths: [Int]
    /// Strides of the downsampling convolutions, in the order they are applied.
    public var downsamplingRatios: [Int]
    public var ffnExpansion: Int
    public var hiddenAct: String
    public var rmsNormEps: Float
    /// Scale of the optional σ-VAE noise (0: the encoder adds none).
    public var vaeStd: Float

    public init(channels: Int = 1, hiddenSize: Int = 64, numFilters: Int = 32, kernelSize: Int = 7,
                depths: [Int] = [3, 3, 3, 3, 3, 3, 8], downsamplingRatios: [Int] = [2, 2, 4, 5, 5, 8],
                ffnExpansion: Int = 4, hiddenAct: String = "gelu", rmsNormEps: Float = 1e-5, vaeStd: Float = 0.625) {
        self.channels = channels
        self.hiddenSize = hiddenSize
        self.numFilters = numFilters
        self.kernelSize = kernelSize
        self.depths = depths
        self.downsamplingRatios = downsamplingRatios
        self.ffnExpansion = ffnExpansion
        self.hiddenAct = hiddenAct
        self.rmsNormEps = rmsNormEps
        self.vaeStd = vaeStd
    }

    /// Input samples per output latent frame: the product of the downsampling ratios (3200).
    public var hopLength: Int { downsamplingRatios.reduce(1, *) }

    /// Channel width after stage `i` (`numFilters · 2^(i+1)`); `stageWidth(-1)` is the stem width.
    public func stageWidth(_ i: Int) -> Int { numFilters << (i + 1) }
}

/// The Qwen2 text decoder (SPEC section 5).
public struct DecoderConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var tieWordEmbeddings: Bool

    public init(hiddenSize: Int, numLayers: Int, numHeads: Int, numKVHeads: Int, headDim: Int,
                intermediateSize: Int, vocabSize: Int, rmsNormEps: Float = 1e-6, ropeTheta: Double = 1_000_000,
                maxPositionEmbeddings: Int = 131_072, hiddenAct: String = "silu", tieWordEmbeddings: Bool = false) {
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.tieWordEmbeddings = tieWordEmbeddings
    }
}

/// The whole model's configuration, read from either checkpoint layout (SPEC 1.1 and 1.2).
public struct VibeVoiceConfig: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable {
        /// `model_type: "vibevoice_asr"` (microsoft/VibeVoice-ASR-HF).
        case transformers
        /// `model_type: "vibevoice"` (microsoft/VibeVoice-ASR).
        case original
    }

    public var format: Format
    public var acoustic: SpeechEncoderConfig
    public var semantic: SpeechEncoderConfig
    public var decoder: DecoderConfig
    /// `<|box_start|>`: one slot per audio frame in the prompt.
    public var audioTokenID: Int
    /// `<|object_ref_start|>`: opens the audio span.
    public var audioBOSTokenID: Int
    /// `<|object_ref_end|>`: closes the audio span.
    public var audioEOSTokenID: Int
    /// Samples per encoder chunk for long audio (60 s at 24 kHz); a multiple of the hop length.
    public var acousticChunkSize: Int
    /// Which tensors are stored in a block format (checkpoints written by `vibevoice-asr quantize`).
    public var quantization: QuantizationConfig?

    public static let defaultAudioTokenID = 151_648
    public static let defaultAudioBOSTokenID = 151_646
    public static let defaultAudioEOSTokenID = 151_647
    public static let defaultAcousticChunkSize = 1_440_000

    public init(format: Format, acoustic: SpeechEncoderConfig, semantic: SpeechEncoderConfig, decoder: DecoderConfig,
                audioTokenID: Int = VibeVoiceConfig.defaultAudioTokenID,
                audioBOSTokenID: Int = VibeVoiceConfig.defaultAudioBOSTokenID,
                audioEOSTokenID: Int = VibeVoiceConfig.defaultAudioEOSTokenID,
                acousticChunkSize: Int = VibeVoiceConfig.defaultAcousticChunkSize) {
        self.format = format
        self.acoustic = acoustic
        self.semantic = semantic
        self.decoder = decoder
        self.audioTokenID = audioTokenID
        self.audioBOSTokenID = audioBOSTokenID
        self.audioEOSTokenID = audioEOSTokenID
        self.acousticChunkSize = acousticChunkSize
    }

    /// Reads `config.json` from `url`, which may be the file itself or the checkpoint directory.
    public static func load(from url: URL) throws(ConfigError) -> VibeVoiceConfig {
        var file = url
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw .unreadable(file: url.path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            file = url.appendingPathComponent("config.json")
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory),
                  !isDirectory.boolValue else {
                throw .unreadable(file: file.path, reason: "the checkpoint directory has no config.json")
            }
        }
        let data: Data
        do {
            data = try FileContents.read(file)
        } catch {
            throw .unreadable(file: file.path, reason: error.localizedDescription)
        }
        return try VibeVoiceConfig(jsonData: data, source: file.path)
    }

    /// Parses a config from JSON bytes. `source` names the file in error messages.
    public init(jsonData: Data, source: String = "config.json") throws(ConfigError) {
        let root: JSONValue
        do {
            root = try JSONValue.parse(jsonData)
        } catch {
            throw .malformedJSON(file: source, detail: error.description)
        }
        guard case .object(let top) = root else {
            throw .wrongType(file: source, field: "(top level)", expected: "an object", found: root.kindDescription)
        }
        let reader = ConfigReader(file: source, path: "", object: top)
        guard let modelType = try reader.optionalString("model_type") else { throw reader.missing("model_type") }
        switch modelType {
        case "vibevoice_asr": self = try VibeVoiceConfig.parseTransformers(reader)
        case "vibevoice": self = try VibeVoiceConfig.parseOriginal(reader)
        default:
            throw reader.unsupported("model_type", "\"\(modelType)\"", supported: "\"vibevoice_asr\", \"vibevoice\"")
        }
        quantization = try QuantizationConfig.parse(reader)
        try validate(reader)
    }

    // MARK: - transformers layout (SPEC 1.1)

    private static func parseTransformers(_ r: ConfigReader) throws(ConfigError) -> VibeVoiceConfig {
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

    private static func parseOriginal(_ r: ConfigReader) throws(ConfigError) -> VibeVoiceConfig {
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

    // MARK: - Qwen2 decoder (both layouts)

    /// A Qwen2 config. The core dimensions are required: transformers' Qwen2Config defaults describe a model
    /// no VibeVoice checkpoint holds, so a file without them is treated as broken rather than guessed at.
    private static func parseQwen2(_ d: ConfigReader, topLevel: ConfigReader) throws(ConfigError) -> DecoderConfig {
        let modelType = try d.string("model_type", default: "qwen2")
        guard modelType == "qwen2" else {
            throw d.unsupported("model_type", "\"\(modelType)\"", supported: "\"qwen2\"")
        }
        if try d.bool("use_sliding_window", default: false) {
            throw d.unsupported("use_sliding_window", "true", supported: "false (full attention in every layer)")
        }
        if let v = d.value("layer_types") {
            guard case .array(let items) = v else { throw d.wrongType("layer_types", "an array of strings", v) }
            for (i, item) in items.enumerated() where item != .string("full_attention") {
                let shown: String
                if case .string(let s) = item { shown = "\"\(s)\"" } else { shown = item.kindDescription }
                throw ConfigError.unsupported(file: d.file, field: "\(d.field("layer_types"))[\(i)]", value: shown,
                                              supported: "\"full_attention\"")
            }
        }
        let act = try d.string("hidden_act", default: "silu")
        guard act == "silu" else { throw d.unsupported("hidden_act", "\"\(act)\"", supported: "\"silu\"") }

        let hidden = try d.positive("hidden_size", try d.requiredInt("hidden_size"))
        let layers = try d.positive("num_hidden_layers", try d.requiredInt("num_hidden_layers"))
        let heads = try d.positive("num_attention_heads", try d.requiredInt("num_attention_heads"))
        let kvHeads = try d.positive("num_key_value_heads", try d.int("num_key_value_heads", default: heads))
        let intermediate = try d.positive("intermediate_size", try d.requiredInt("intermediate_size"))
        let vocab = try d.positive("vocab_size", try d.requiredInt("vocab_size"))
        guard heads % kvHeads == 0 else {
            throw d.invalid("num_key_value_heads", String(kvHeads),
                            expected: "a divisor of num_attention_heads (\(heads))")
        }
        let headDim: Int
        if let hd = try d.optionalInt("head_dim") {
            headDim = try d.positive("head_dim", hd)
        } else {
            guard hidden % heads == 0 else {
                throw d.invalid("num_attention_heads", String(heads),
                                expected: "a divisor of hidden_size (\(hidden)) when head_dim is not given")
            }
            headDim = hidden / heads
        }
        guard headDim % 2 == 0 else {
            throw d.invalid("head_dim", String(headDim), expected: "an even number (rotary embedding halves)")
        }
        let eps = try d.positive("rms_norm_eps", try d.double("rms_norm_eps", default: 1e-6))
        let theta = try parseRopeTheta(d)
        let maxPos = try d.positive("max_position_embeddings", try d.int("max_position_embeddings", default: 32768))
        // tie_word_embeddings lives in the decoder config; older files also write it at the top level.
        let topTie = try topLevel.optionalBool("tie_word_embeddings")
        let tie = try d.optionalBool("tie_word_embeddings") ?? topTie ?? false
        return DecoderConfig(hiddenSize: hidden, numLayers: layers, numHeads: heads, numKVHeads: kvHeads,
                             headDim: headDim, intermediateSize: intermediate, vocabSize: vocab,
                             rmsNormEps: Float(eps), ropeTheta: theta, maxPositionEmbeddings: maxPos,
                             hiddenAct: act, tieWordEmbeddings: tie)
    }

    /// `rope_parameters.rope_theta` (transformers 5) or `rope_theta` (older files); 10000 when neither is given,
    /// as in transformers. Only plain RoPE is implemented: any scaling type is rejected.
    private static func parseRopeTheta(_ d: ConfigReader) throws(ConfigError) -> Double {
        var theta = try d.optionalDouble("rope_theta")
        var field = "rope_theta"
        if let params = try d.optionalObject("rope_parameters") {
            let legacyType = try params.string("type", default: "default")
            let type = try params.string("rope_type", default: legacyType)
            guard type == "default" else {
                throw params.unsupported("rope_type", "\"\(type)\"", supported: "\"default\"")
            }
            if let t = try params.optionalDouble("rope_theta") {
                if let old = theta, old != t {
                    throw d.invalid("rope_theta", String(old), expected: "rope_parameters.rope_theta (\(t))")
                }
                theta = t
                field = "rope_parameters.rope_theta"
            }
        }
        if let scaling = try d.optionalObject("rope_scaling") {
            let legacyType = try scaling.string("type", default: "default")
            let type = try scaling.string("rope_type", default: legacyType)
            guard type == "default" else {
                throw scaling.unsupported("rope_type", "\"\(type)\"", supported: "\"default\" (no RoPE scaling)")
            }
        }
        let value = theta ?? 10_000
        guard value > 0, value.isFinite else { throw d.invalid(field, String(value), expected: "a positive number") }
        return value
    }

    // MARK: - Validation

    private struct EncoderKeys {
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

    private static func validateEncoder(_ c: SpeechEncoderConfig, _ e: ConfigReader,
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

    private func validate(_ r: ConfigReader) throws(ConfigError) {
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
