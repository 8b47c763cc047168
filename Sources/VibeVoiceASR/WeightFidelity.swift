import Foundation
import VibeVoiceCompute

/// How closely a quantised decoder follows the stored (reference) weights: the same token sequence is
/// teacher-forced through both, and the next-token distributions at every position are compared (mean KL
/// divergence, top-1 agreement, largest logit error). Used by `vibevoice-asr fidelity`.
public enum WeightFidelity {
    /// The teacher-forced input: prompt ids (audio slots included) with their audio, or plain ids.
    public struct Sequence: Sendable {
        public var ids: [Int]
        public var audio: AudioFeatures
        public var audioTokenID: Int?
        /// Positions that are the prompt (the rest was generated greedily by the reference weights).
        public var promptLength: Int
    }

    public struct Result: Sendable {
        public var weights: String
        public var positions: Int
        public var meanKL: Double
        public var maxKL: Double
        public var top1Agreement: Double
        /// Top-1 agreement over the generated positions only.
        public var generatedTop1Agreement: Double
        public var maxLogitError: Double
        public var meanAbsLogitError: Double
        public var decodeBytesPerToken: Int

        public var json: [String: Any] {
            ["weights": weights, "positions": positions, "mean_kl": meanKL, "max_kl": maxKL, "top1_agreement": top1Agreement,
             "generated_top1_agreement": generatedTop1Agreement, "max_logit_error": maxLogitError,
             "mean_abs_logit_error": meanAbsLogitError, "decode_bytes_per_token": decodeBytesPerToken]
        }
    }

    /// Builds the teacher sequence on the reference model: the prompt for `samples` (24 kHz, normalised here),
    /// followed by `continuation` tokens the reference generates greedily.
    public static func referenceSequence(model: VibeVoiceASRModel, promptBuilder: PromptBuilder?, samples raw: [Float],
                                         continuation: Int) throws -> Sequence {
        var samples = raw
        LoudnessNormalizer.normalize(&samples)
        let audio = try model.encodeAudio(samples)
        let prompt: [Int]
        if let promptBuilder {
            prompt = promptBuilder.promptIDs(rawSampleCount: raw.count, context: nil)
        } else {
            prompt = Benchmark.syntheticPrompt(config: model.config, audioFrames: audio.frames)
        }
        let slot = promptBuilder?.audioTokenID ?? Benchmark.syntheticAudioSlot(config: model.config)
        var ids = prompt
        if continuation > 0 {
            let r = try model.generate(promptIDs: prompt, audio: audio, audioTokenID: slot,
                                       options: GenerationOptions(maxNewTokens: continuation, stopTokenIDs: []))
            ids += r.tokens
        }
        return Sequence(ids: ids, audio: audio, audioTokenID: slot, promptLength: prompt.count)
    }

    /// A text-only sequence (no audio).
    public static func textSequence(_ ids: [Int]) -> Sequence {
        Sequence(ids: ids, audio: .none,
                 audioTokenID: nil, promptLength: ids.count)
    }

    /// Logits `[ids.count, vocab]` of the teacher-forced sequence.
    public static func logits(model: VibeVoiceASRModel, sequence: Sequence) throws -> [Float] {
        try model.promptLogits(promptIDs: sequence.ids, audio: sequence.audio, audioTokenID: sequence.audioTokenID)
    }

    /// Compares `candidate` logits with `reference` logits (both `[positions, vocab]`).
    public static func compare(reference: [Float], candidate: [Float], vocab: Int, promptLength: Int, weights: String,
                               decodeBytesPerToken: Int) -> Result {
        precondition(reference.count == candidate.count && reference.count % vocab == 0)
        let n = reference.count / vocab
        var klSum = 0.0, klMax = 0.0, agree = 0, genAgree = 0, maxErr = 0.0, absSum = 0.0
        reference.withUnsafeBufferPointer { rp in
            candidate.withUnsafeBufferPointer { cp in
                for i in 0..<n {
                    let r = rp.baseAddress! + i * vocab, c = cp.baseAddress! + i * vocab
                    var rMax = -Double.infinity, cMax = -Double.infinity, rArg = 0, cArg = 0
                    for j in 0..<vocab {
                        let a = Double(r[j]), b = Double(c[j])
                        if a > rMax { rMax = a; rArg = j }
                        if b > cMax { cMax = b; cArg = j }
                        let e = abs(a - b)
                        absSum += e
                        if e > maxErr { maxErr = e }
                    }
                    var rSum = 0.0, cSum = 0.0
                    for j in 0..<vocab {
                        rSum += Foundation.exp(Double(r[j]) - rMax)
                        cSum += Foundation.exp(Double(c[j]) - cMax)
                    }
                    let rLog = rMax + Foundation.log(rSum), cLog = cMax + Foundation.log(cSum)
                    // KL(P_ref || P_cand) = Σ p (log p − log q).
                    var kl = 0.0
                    for j in 0..<vocab {
                        let lp = Double(r[j]) - rLog, lq = Double(c[j]) - cLog
                        kl += Foundation.exp(lp) * (lp - lq)
                    }
                    kl = max(0, kl)
                    klSum += kl
                    klMax = max(klMax, kl)
                    if rArg == cArg {
                        agree += 1
                        if i >= promptLength - 1 { genAgree += 1 }
                    }
                }
            }
        }
        let generated = max(0, n - (promptLength - 1))
        return Result(weights: weights, positions: n, meanKL: klSum / Double(n), maxKL: klMax,
                      top1Agreement: Double(agree) / Double(n),
                      generatedTop1Agreement: generated > 0 ? Double(genAgree) / Double(generated) : .nan,
                      maxLogitError: maxErr, meanAbsLogitError: absSum / Double(n * vocab),
                      decodeBytesPerToken: decodeBytesPerToken)
    }
}
