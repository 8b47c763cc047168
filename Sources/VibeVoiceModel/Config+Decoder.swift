import Foundation
import VibeVoiceJSON

extension VibeVoiceConfig {
    // MARK: - Qwen2 decoder (both layouts)

    /// A Qwen2 config. The core dimensions are required: transformers' Qwen2Config defaults describe a model
    /// no VibeVoice checkpoint holds, so a file without them is treated as broken rather than guessed at.
    static func parseQwen2(_ d: ConfigReader, topLevel: ConfigReader) throws(ConfigError) -> DecoderConfig {
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
}
