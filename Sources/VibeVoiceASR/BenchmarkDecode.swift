import Foundation
import VibeVoiceCompute
import VibeVoiceModel

/// Decode-side measurements on a loaded model: batched decoding (aggregate tokens/s by batch size) and speculative
/// decoding with forced drafts of known acceptance (random weights never write a transcript a real drafter could
/// predict, so the drafts come from a first plain run of the same prompt).
extension Benchmark {
    /// Aggregate decode throughput with `batch` sequences stepping together.
    public struct BatchPoint: Sendable {
        public var batch: Int
        public var steps: Int
        public var secondsPerStep: Double
        public var tokensPerSecond: Double { Double(batch) / secondsPerStep }
    }

    /// One forced-draft pattern: every draft is `accept` correct tokens followed (when `draft > accept`) by a wrong
    /// one, so each verify step emits `accept + 1` tokens and feeds `draft + 1` rows.
    public struct ForcedDraftPoint: Sendable {
        public var accept: Int
        public var draft: Int
        public var tokens: Int
        public var verifySteps: Int
        public var secondsPerToken: Double
        /// Plain one-token-per-step seconds per token over the secondsPerToken of this pattern.
        public var speedup: Double
        /// The emitted ids equal the plain run's.
        public var identical: Bool
        public var tokensPerStep: Double { Double(tokens) / Double(max(1, verifySteps)) }
    }

    /// A prompt of `count` text ids (seeded; below the audio token, so no special tokens in the released model).
    static func textPrompt(config: VibeVoiceConfig, count: Int, seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        let limit = UInt64(max(1, min(config.decoder.vocabSize, config.audioTokenID, 150_000)))
        return (0..<count).map { _ in Int(rng.next() % limit) }
    }

    /// Prefills `maxBatch` sessions on different text prompts, then, for each batch size, decodes `steps` steps with
    /// that many of them together (one token per step each, no drafts) and times the steps after the first.
    public static func batchDecode(model: VibeVoiceASRModel, batchSizes: [Int], steps: Int, promptTokens: Int = 16,
                                   log: (String) -> Void) throws -> [BatchPoint] {
        let maxBatch = batchSizes.max() ?? 1
        var options = GenerationOptions(maxNewTokens: steps + 2, stopTokenIDs: [])
        options.maxDraftTokens = 0
        options.recordLogProbs = false
        log("prefilling \(maxBatch) sequences of \(promptTokens) tokens ...")
        let sessions = try (0..<maxBatch).map {
            try GenerationSession(model: model, promptIDs: textPrompt(config: model.config, count: promptTokens, seed: UInt64(100 + $0)),
                                  audio: .none, options: options)
        }
        let stepper = BatchDecoder(decoder: model.decoder)
        var points: [BatchPoint] = []
        for b in batchSizes {
            log("decoding \(steps) steps at batch \(b) ...")
            let streams = sessions.prefix(b).map { $0.stream(options: options) }
            stepper.step(streams)                               // warm-up: first step of each (pages, caches)
            let t0 = Date()
            for _ in 0..<steps { stepper.step(streams) }
            points.append(BatchPoint(batch: b, steps: steps, secondsPerStep: Date().timeIntervalSince(t0) / Double(steps)))
        }
        return points
    }

    /// Decodes `tokens` tokens plainly, then once per (accept, draft) pattern with drafts built from the plain
    /// run's ids, and compares the time per token and the emitted ids.
    public static func forcedDrafts(model: VibeVoiceASRModel, tokens: Int, patterns: [(accept: Int, draft: Int)],
                                    promptTokens: Int = 16, log: (String) -> Void) throws -> [ForcedDraftPoint] {
        var plain = GenerationOptions(maxNewTokens: tokens, stopTokenIDs: [])
        plain.maxDraftTokens = 0
        plain.recordLogProbs = false
        let session = try GenerationSession(model: model, promptIDs: textPrompt(config: model.config, count: promptTokens, seed: 7),
                                            audio: .none, options: plain)
        log("decoding \(tokens) tokens one per step ...")
        var t0 = Date()
        let reference = session.generate(options: plain).tokens
        let plainSeconds = Date().timeIntervalSince(t0) / Double(reference.count)
        var points: [ForcedDraftPoint] = []
        let vocab = model.config.decoder.vocabSize
        for p in patterns {
            log("decoding \(tokens) tokens with drafts of \(p.draft), \(p.accept) correct ...")
            var options = plain
            options.maxDraftTokens = p.draft
            let (accept, draft) = (p.accept, p.draft)
            options.drafter = { KnownDrafter(reference: reference, accept: accept, draft: draft, vocab: vocab) }
            t0 = Date()
            let r = session.generate(options: options)
            let seconds = Date().timeIntervalSince(t0) / Double(max(1, r.tokens.count))
            points.append(ForcedDraftPoint(accept: p.accept, draft: p.draft, tokens: r.tokens.count,
                                           verifySteps: r.decodeSteps, secondsPerToken: seconds,
                                           speedup: plainSeconds / seconds, identical: r.tokens == reference))
        }
        return points
    }
}

/// Proposes the known continuation: `accept` correct tokens, then (when `draft > accept`) one wrong one.
final class KnownDrafter: Drafter {
    let reference: [Int]
    let accept: Int
    let draft: Int
    let vocab: Int
    private var contextSeen = false
    private var emitted = 0

    init(reference: [Int], accept: Int, draft: Int, vocab: Int) {
        self.reference = reference
        self.accept = accept
        self.draft = draft
        self.vocab = vocab
    }

    func observe(_ tokens: [Int]) {
        // The first call is the prompt; every later one is emitted tokens.
        if !contextSeen { contextSeen = true; return }
        emitted += tokens.count
    }

    func propose(limit: Int) -> [Int] {
        var out: [Int] = []
        var i = emitted
        while out.count < min(limit, draft), i < reference.count {
            if out.count < accept { out.append(reference[i]) } else { out.append((reference[i] + 1) % vocab) }
            i += 1
        }
        return out
    }
}
