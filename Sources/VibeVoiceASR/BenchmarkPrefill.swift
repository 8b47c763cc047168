import Foundation
import VibeVoiceCompute

extension Benchmark {
    /// Prefill and long-audio figures of a bench run: attention time, the exact prefill FLOP count, prefill times at
    /// the 60 s and 300 s prompt shapes, the end-to-end real-time factor of a 60 s clip and the cache size.
    public struct PrefillDetail: Sendable {
        /// The prompt lengths of a 60 s and a 300 s clip (450 and 2250 audio tokens plus 63 text tokens).
        public static let sweepLengths = [513, 2313]

        public var kvCache: KVCache.Format = .f32
        /// Products of several rows used the integer path (Q8_0 or Q4_0 weights, `Linear.int8GEMM`).
        public var int8Prefill = false
        /// Seconds in attention during the run's prefill.
        public var attentionSeconds = 0.0
        /// FLOPs of the run's prefill (2 per multiply-add): every decoder matrix once per prompt row, the LM head for
        /// the last row only, and causal attention (2·headDim per key and query head, for QKᵀ and for PV).
        public var prefillFLOPs = 0.0
        /// Positions in the cache after the last decoded token.
        public var finalContext = 0
        public var kvCacheBytesPerPosition = 0
        /// Prefill seconds by prompt length (the run's own, and the sweep's).
        public var points: [Int: Double] = [:]

        /// Tokens of decode a real-time factor counts for a 60 s clip (about a meeting transcript's density).
        public static let rtfTokens = 400

        func json(report r: Report) -> [String: Any] {
            var out: [String: Any] = [
                "kv_cache": kvCache.rawValue,
                "int8_prefill": int8Prefill,
                "kv_cache_bytes": kvCacheBytesPerPosition * finalContext,
                "decode_context": finalContext,
                "attention_s": attentionSeconds,
                "prefill_flops": prefillFLOPs,
                "prefill_gflops_per_s": prefillFLOPs / r.prefillSeconds / 1e9,
                "prefill_flop_ratio_to_sgemm": prefillFLOPs / r.prefillSeconds / r.sgemm,
            ]
            for n in Self.sweepLengths {
                if let s = points[n] {
                    let rate = Double(n) / s
                    out["prefill_tokens_per_s_\(n)_tokens"] = rate
                    out["prefill_ratio_to_sgemm_\(n)_tokens"] = rate / r.prefillCeilingTokensPerSecond
                } else {
                    out["prefill_tokens_per_s_\(n)_tokens"] = NSNull()
                    out["prefill_ratio_to_sgemm_\(n)_tokens"] = NSNull()
                }
            }
            // (encode + prefill + 400 × decode) / 60, from a run of exactly 60 s with the encoders on.
            if r.audioSeconds == 60, r.encodeSeconds > 0 {
                out["rtf_60s_400_tokens"] = (r.encodeSeconds + r.prefillSeconds + Double(Self.rtfTokens) * r.decodeSecondsPerToken) / 60
            } else {
                out["rtf_60s_400_tokens"] = NSNull()
            }
            return out
        }
    }

    /// FLOPs of prefilling `tokens` positions from an empty cache (see `PrefillDetail.prefillFLOPs`).
    public static func prefillFLOPs(_ c: DecoderConfig, matrixParameters: Int, tokens n: Int) -> Double {
        let lmHead = Double(c.vocabSize) * Double(c.hiddenSize)
        let matrices = 2 * (Double(matrixParameters) - lmHead) * Double(n) + 2 * lmHead
        let attention = 2 * Double(c.headDim) * Double(c.numHeads) * Double(c.numLayers) * Double(n) * Double(n + 1)
        return matrices + attention
    }

    /// Bytes of keys and values one position holds in the cache.
    public static func kvCacheBytesPerPosition(_ c: DecoderConfig, _ format: KVCache.Format) -> Int {
        2 * c.numLayers * c.numKVHeads * c.headDim * (format == .f32 ? 4 : 2)
    }

    /// Seconds to prefill a prompt of the real shape with `tokens` positions (random audio embeddings).
    static func timePrefill(model: VibeVoiceASRModel, tokens: Int, seed: UInt64) throws -> Double {
        let frames = max(0, tokens - 63), h = model.config.decoder.hiddenSize
        var rng = SeededRandom(seed: seed)
        let audio = AudioFeatures(acousticLatents: [], semanticLatents: [],
                                  embeddings: (0..<(frames * h)).map { _ in rng.nextGaussian() * 0.02 }, frames: frames)
        let prompt = syntheticPrompt(config: model.config, audioFrames: frames)
        let session = try GenerationSession(model: model, promptIDs: prompt, audio: audio,
                                            audioTokenID: syntheticAudioSlot(config: model.config),
                                            options: GenerationOptions(maxNewTokens: 1, stopTokenIDs: []))
        return session.prefillSeconds
    }
}

/// A bench request the model cannot serve.
public enum BenchmarkError: Error, CustomStringConvertible, Sendable {
    case int8PrefillNeedsBlockFormat(String)

    public var description: String {
        switch self {
        case let .int8PrefillNeedsBlockFormat(format):
            return "--prefill integer needs block-format decoder weights (q8_0 or q4_0: --weights or a quantised checkpoint); these are \(format)"
        }
    }
}
