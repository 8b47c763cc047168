import Foundation

/// Tensor names. The canonical spelling is the one of the HF Hub checkpoint file
/// (`language_model.model.layers.3.self_attn.q_proj.weight`, `acoustic_tokenizer_encoder.stem.conv.conv.weight`);
/// two other spellings are mapped onto it (SPEC 1.3):
/// - transformers' in-memory names, which a re-save may write: `model.language_model.*`, `lm_head.weight`,
///   `model.{acoustic,semantic}_tokenizer_encoder.*`, `model.multi_modal_projector.*`;
/// - the original microsoft/VibeVoice checkpoint: `model.language_model.*`, `lm_head.weight`,
///   `model.{acoustic,semantic}_connector.{fc1,norm,fc2}.*`, `model.{acoustic,semantic}_tokenizer.encoder.*`
///   with `downsample_layers` / `stages` and an extra `.conv` level in convolutions.
public enum CheckpointNames {
    /// The two speech encoders, by their name prefix.
    public static let encoderNames = ["acoustic", "semantic"]

    /// The canonical name of a stored tensor, or nil when the tensor is not part of the ASR model
    /// (the original checkpoint's acoustic decoder, diffusion head, or anything unknown).
    public static func canonical(_ stored: String) -> String? {
        // HF Hub file spelling: canonical already.
        if stored.hasPrefix("language_model.model.") || stored.hasPrefix("language_model.lm_head.") {
            return stored
        }
        for e in encoderNames {
            if stored.hasPrefix("\(e)_tokenizer_encoder.") { return stored }
        }
        if stored.hasPrefix("multi_modal_projector.") { return stored }

        // LM: transformers in memory and the original checkpoint agree.
        if stored == "lm_head.weight" { return "language_model.lm_head.weight" }
        if let rest = stripPrefix(stored, "model.language_model.") { return "language_model.model." + rest }

        // transformers in-memory spelling of the audio parts.
        for e in encoderNames {
            if let rest = stripPrefix(stored, "model.\(e)_tokenizer_encoder.") { return "\(e)_tokenizer_encoder." + rest }
        }
        if let rest = stripPrefix(stored, "model.multi_modal_projector.") { return "multi_modal_projector." + rest }

        // Original spelling: projector.
        for e in encoderNames {
            if let rest = stripPrefix(stored, "model.\(e)_connector.") {
                for (orig, hf) in [("fc1.", "linear_1."), ("norm.", "norm."), ("fc2.", "linear_2.")] {
                    if let param = stripPrefix(rest, orig), !param.isEmpty {
                        return "multi_modal_projector.\(e)_\(hf)\(param)"
                    }
                }
                return nil
            }
        }
        // Original spelling: encoders. `model.acoustic_tokenizer.decoder.*` (TTS half) falls through to nil.
        for e in encoderNames {
            if let rest = stripPrefix(stored, "model.\(e)_tokenizer.encoder.") {
                guard let mapped = canonicalOriginalEncoderPart(rest) else { return nil }
                return "\(e)_tokenizer_encoder." + mapped
            }
        }
        return nil
    }

    /// Whether the canonical tensor `name` is one that block formats apply to: the decoder's matrices
    /// (q, k, v, o, gate, up, down), the LM head and the token embedding (one row read per token). The speech
    /// encoders, projector, norms and biases keep their stored dtype.
    public static func isQuantizable(_ name: String) -> Bool {
        if name == "language_model.model.embed_tokens.weight" || name == "language_model.lm_head.weight" { return true }
        guard name.hasPrefix("language_model.model.layers.") else { return false }
        for m in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                  "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"] where name.hasSuffix("." + m + ".weight") {
            return true
        }
        return false
    }

    /// All stored spellings that map to `canonical` (the canonical one first), for lookups and error messages.
    public static func storedSpellings(of canonical: String) -> [String] {
        var out = [canonical]
        if let rest = stripPrefix(canonical, "language_model.model.") {
            out.append("model.language_model." + rest)
        } else if canonical == "language_model.lm_head.weight" {
            out.append("lm_head.weight")
        } else if let rest = stripPrefix(canonical, "multi_modal_projector.") {
            out.append("model.multi_modal_projector." + rest)
            for e in encoderNames {
                for (hf, orig) in [("linear_1.", "fc1."), ("norm.", "norm."), ("linear_2.", "fc2.")] {
                    if let param = stripPrefix(rest, "\(e)_\(hf)") {
                        out.append("model.\(e)_connector.\(orig)\(param)")
                    }
                }
            }
        } else {
            for e in encoderNames {
                if let rest = stripPrefix(canonical, "\(e)_tokenizer_encoder.") {
                    out.append("model.\(e)_tokenizer_encoder." + rest)
                    if let orig = originalEncoderPart(rest) { out.append("model.\(e)_tokenizer.encoder." + orig) }
                }
            }
        }
        return out
    }

    /// Every tensor the ASR model reads for `config`: canonical name and shape, in model order
    /// (encoders, projector, LM). Linear weights are `[out, in]`, conv weights `[out, in/groups, kernel]`.
    public static func expectedShapes(for config: VibeVoiceConfig) -> [(name: String, shape: [Int])] {
        var out: [(name: String, shape: [Int])] = []
        let hidden = config.decoder.hiddenSize
        for (e, enc) in [("acoustic", config.acoustic), ("semantic", config.semantic)] {
            let p = "\(e)_tokenizer_encoder."
            let f = enc.numFilters
            let k = enc.kernelSize
            out += [("\(p)stem.conv.conv.weight", [f, enc.channels, k]), ("\(p)stem.conv.conv.bias", [f])]
            for j in 0..<(enc.depths.first ?? 0) {
                out += blockShapes("\(p)stem.stage.\(j).", width: f, kernel: k, expansion: enc.ffnExpansion)
            }
            for (i, r) in enc.downsamplingRatios.enumerated() {
                let cin = f << i, cout = f << (i + 1)
                out += [("\(p)conv_layers.\(i).conv.conv.weight", [cout, cin, 2 * r]),
                        ("\(p)conv_layers.\(i).conv.conv.bias", [cout])]
                for j in 0..<enc.depths[i + 1] {
                    out += blockShapes("\(p)conv_layers.\(i).stage.\(j).", width: cout, kernel: k,
                                       expansion: enc.ffnExpansion)
                }
            }
            let last = f << enc.downsamplingRatios.count
            out += [("\(p)head.conv.weight", [enc.hiddenSize, last, k]), ("\(p)head.conv.bias", [enc.hiddenSize])]
        }
        for (e, enc) in [("acoustic", config.acoustic), ("semantic", config.semantic)] {
            let m = "multi_modal_projector.\(e)_"
            out += [("\(m)linear_1.weight", [hidden, enc.hiddenSize]), ("\(m)linear_1.bias", [hidden]),
                    ("\(m)norm.weight", [hidden]),
                    ("\(m)linear_2.weight", [hidden, hidden]), ("\(m)linear_2.bias", [hidden])]
        }
        let d = config.decoder
        let q = d.numHeads * d.headDim, kv = d.numKVHeads * d.headDim
        out.append(("language_model.model.embed_tokens.weight", [d.vocabSize, hidden]))
        for l in 0..<d.numLayers {
            let p = "language_model.model.layers.\(l)."
            out += [("\(p)self_attn.q_proj.weight", [q, hidden]), ("\(p)self_attn.q_proj.bias", [q]),
                    ("\(p)self_attn.k_proj.weight", [kv, hidden]), ("\(p)self_attn.k_proj.bias", [kv]),
                    ("\(p)self_attn.v_proj.weight", [kv, hidden]), ("\(p)self_attn.v_proj.bias", [kv]),
                    ("\(p)self_attn.o_proj.weight", [hidden, q]),
                    ("\(p)mlp.gate_proj.weight", [d.intermediateSize, hidden]),
                    ("\(p)mlp.up_proj.weight", [d.intermediateSize, hidden]),
                    ("\(p)mlp.down_proj.weight", [hidden, d.intermediateSize]),
                    ("\(p)input_layernorm.weight", [hidden]), ("\(p)post_attention_layernorm.weight", [hidden])]
        }
        out.append(("language_model.model.norm.weight", [hidden]))
        if !d.tieWordEmbeddings { out.append(("language_model.lm_head.weight", [d.vocabSize, hidden])) }
        return out
    }

    private static func blockShapes(_ p: String, width d: Int, kernel: Int,
                                    expansion: Int) -> [(name: String, shape: [Int])] {
        [("\(p)norm.weight", [d]), ("\(p)ffn_norm.weight", [d]), ("\(p)gamma", [d]), ("\(p)ffn_gamma", [d]),
         ("\(p)mixer.conv.weight", [d, 1, kernel]), ("\(p)mixer.conv.bias", [d]),
         ("\(p)ffn.linear1.weight", [expansion * d, d]), ("\(p)ffn.linear1.bias", [expansion * d]),
         ("\(p)ffn.linear2.weight", [d, expansion * d]), ("\(p)ffn.linear2.bias", [d])]
    }

    // MARK: - Original encoder layout

    /// `downsample_layers.0.0.conv.conv.P` → `stem.conv.conv.P`; `downsample_layers.K.0.conv.conv.P` →
    /// `conv_layers.(K-1).conv.conv.P`; `stages.0.J.B` → `stem.stage.J.B`; `stages.K.J.B` →
    /// `conv_layers.(K-1).stage.J.B`; `head.conv.conv.P` → `head.conv.P`; in blocks `mixer.conv.conv.conv.P` →
    /// `mixer.conv.P`.
    private static func canonicalOriginalEncoderPart(_ rest: String) -> String? {
        if let tail = stripPrefix(rest, "downsample_layers.") {
            guard let (k, after) = splitIndex(tail), let param = stripPrefix(after, "0.conv.conv."),
                  isParam(param) else { return nil }
            return k == 0 ? "stem.conv.conv." + param : "conv_layers.\(k - 1).conv.conv." + param
        }
        if let tail = stripPrefix(rest, "stages.") {
            guard let (k, afterStage) = splitIndex(tail), let (j, part) = splitIndex(afterStage),
                  let block = canonicalBlockPart(part) else { return nil }
            return k == 0 ? "stem.stage.\(j)." + block : "conv_layers.\(k - 1).stage.\(j)." + block
        }
        if let param = stripPrefix(rest, "head.conv.conv."), isParam(param) { return "head.conv." + param }
        return nil
    }

    private static func originalEncoderPart(_ rest: String) -> String? {
        if let param = stripPrefix(rest, "stem.conv.conv.") { return "downsample_layers.0.0.conv.conv." + param }
        if let tail = stripPrefix(rest, "stem.stage.") { return "stages.0." + originalBlockPart(tail) }
        if let tail = stripPrefix(rest, "conv_layers."), let (i, after) = splitIndex(tail) {
            if let param = stripPrefix(after, "conv.conv.") { return "downsample_layers.\(i + 1).0.conv.conv." + param }
            if let block = stripPrefix(after, "stage.") { return "stages.\(i + 1)." + originalBlockPart(block) }
            return nil
        }
        if let param = stripPrefix(rest, "head.conv.") { return "head.conv.conv." + param }
        return nil
    }

    /// Parts of a ConvNeXt block; the original wraps the depthwise mixer in two more modules.
    private static let blockParts: Set<String> = [
        "norm.weight", "ffn_norm.weight", "gamma", "ffn_gamma", "ffn.linear1.weight", "ffn.linear1.bias",
        "ffn.linear2.weight", "ffn.linear2.bias",
    ]

    private static func canonicalBlockPart(_ part: String) -> String? {
        if let param = stripPrefix(part, "mixer.conv.conv.conv."), isParam(param) { return "mixer.conv." + param }
        return blockParts.contains(part) ? part : nil
    }

    /// `J.mixer.conv.P` → `J.mixer.conv.conv.conv.P`; other block parts unchanged.
    private static func originalBlockPart(_ tail: String) -> String {
        guard let (j, part) = splitIndex(tail) else { return tail }
        if let param = stripPrefix(part, "mixer.conv.") { return "\(j).mixer.conv.conv.conv." + param }
        return "\(j)." + part
    }

    private static func isParam(_ s: String) -> Bool { s == "weight" || s == "bias" }

    // MARK: - String helpers

    private static func stripPrefix(_ s: String, _ prefix: String) -> String? {
        s.hasPrefix(prefix) ? String(s.dropFirst(prefix.count)) : nil
    }

    /// Splits `"12.rest"` into `(12, "rest")`.
    private static func splitIndex(_ s: String) -> (Int, String)? {
        guard let dot = s.firstIndex(of: ".") else { return nil }
        let digits = s[s.startIndex..<dot]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let n = Int(digits) else { return nil }
        return (n, String(s[s.index(after: dot)...]))
    }
}
