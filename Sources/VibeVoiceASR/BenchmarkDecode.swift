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
        /// Seconds per token of a plain (one token per step) run just before, over the secondsPerToken of this pattern.
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

    /// Forced drafts whose acceptance follows a replayed transcript step by step (`DraftReplay.Result.steps`).
    public struct TracedDraftPoint: Sendable {
        public var name: String
        public var point: ForcedDraftPoint
        /// Tokens per step (counted as `ForcedDraftPoint.tokensPerStep` counts them) that the replay's first steps
        /// give over the same tokens: what the measured run should show.
        public var replayTokensPerStep: Double
    }

    /// What `forcedDrafts` measures: each pattern, then each trace, each against a plain run just before it.
    public struct ForcedDraftRun: Sendable {
        /// The median of the plain runs' seconds per token.
        public var plainSecondsPerToken: Double
        public var points: [ForcedDraftPoint]
        public var traced: [TracedDraftPoint]
    }

    /// The verify steps the first steps of `trace` (repeated if need be) take to emit `tokens` tokens after the
    /// first (each step emits its accepted drafts plus one).
    static func stepsToEmit(_ tokens: Int, trace: [DraftReplay.Step]) -> Int {
        guard !trace.isEmpty else { return 0 }
        var emitted = 0, steps = 0
        while emitted < tokens {
            emitted += trace[steps % trace.count].accepted + 1
            steps += 1
        }
        return steps
    }

    /// Decodes `tokens` tokens plainly, then once per (accept, draft) pattern with drafts built from the plain
    /// run's ids, then once per trace (each step's draft as long as the replayed step's proposal, as many of its
    /// tokens correct as the replay accepted; the trace repeats if it is shorter than the run), and compares the
    /// time per token and the emitted ids.
    public static func forcedDrafts(model: VibeVoiceASRModel, tokens: Int, patterns: [(accept: Int, draft: Int)],
                                    traces: [(name: String, steps: [DraftReplay.Step])] = [],
                                    promptTokens: Int = 16, log: (String) -> Void) throws -> ForcedDraftRun {
        var plain = GenerationOptions(maxNewTokens: tokens, stopTokenIDs: [])
        plain.maxDraftTokens = 0
        plain.recordLogProbs = false
        let session = try GenerationSession(model: model, promptIDs: textPrompt(config: model.config, count: promptTokens, seed: 7),
                                            audio: .none, options: plain)
        log("decoding \(tokens) tokens one per step ...")
        let reference = session.generate(options: plain).tokens   // the ids, and a warm-up
        let vocab = model.config.decoder.vocabSize
        // Each speculative run is paired with a plain run just before it (this host's bandwidth drifts over
        // minutes): its speedup is that pair's ratio; the plain figure reported is the median of those runs.
        var plainTimes: [Double] = []
        func pairedRun(steps: [DraftReplay.Step]) -> (result: GenerationResult, seconds: Double, plain: Double, identical: Bool) {
            var t0 = Date()
            let p = session.generate(options: plain)
            let plainSeconds = Date().timeIntervalSince(t0) / Double(max(1, p.tokens.count))
            plainTimes.append(plainSeconds)
            var options = plain
            options.maxDraftTokens = steps.map(\.proposed).max() ?? 0
            options.drafter = { KnownDrafter(reference: reference, pattern: steps, vocab: vocab) }
            t0 = Date()
            let r = session.generate(options: options)
            let seconds = Date().timeIntervalSince(t0) / Double(max(1, r.tokens.count))
            return (r, seconds, plainSeconds, r.tokens == reference && p.tokens == reference)
        }
        var points: [ForcedDraftPoint] = []
        for p in patterns {
            log("decoding \(tokens) tokens plainly, then with drafts of \(p.draft), \(p.accept) correct ...")
            let run = pairedRun(steps: [DraftReplay.Step(proposed: p.draft, accepted: p.accept)])
            points.append(ForcedDraftPoint(accept: p.accept, draft: p.draft, tokens: run.result.tokens.count,
                                           verifySteps: run.result.decodeSteps, secondsPerToken: run.seconds,
                                           speedup: run.plain / run.seconds, identical: run.identical))
        }
        var traced: [TracedDraftPoint] = []
        for t in traces where !t.steps.isEmpty {
            log("decoding \(tokens) tokens plainly, then with the drafts of \(t.name)'s replay ...")
            let steps = t.steps
            let run = pairedRun(steps: steps)
            let used = (0..<run.result.decodeSteps).map { steps[$0 % steps.count] }
            let accepted = used.map(\.accepted).reduce(0, +), proposed = used.map(\.proposed).reduce(0, +)
            traced.append(TracedDraftPoint(
                name: t.name,
                point: ForcedDraftPoint(accept: accepted, draft: proposed, tokens: run.result.tokens.count,
                                        verifySteps: run.result.decodeSteps, secondsPerToken: run.seconds,
                                        speedup: run.plain / run.seconds, identical: run.identical),
                replayTokensPerStep: Double(reference.count) / Double(max(1, stepsToEmit(reference.count - 1, trace: steps)))))
        }
        let sorted = plainTimes.sorted()
        let plainSeconds = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        return ForcedDraftRun(plainSecondsPerToken: plainSeconds, points: points, traced: traced)
    }
}

/// Proposes the known continuation, step by step after `pattern` (repeated): `accepted` correct tokens, then
/// (when `proposed > accepted`) wrong ones up to `proposed` tokens, the first of them never the real next token.
final class KnownDrafter: Drafter {
    let reference: [Int]
    let pattern: [DraftReplay.Step]
    let vocab: Int
    private var contextSeen = false
    private var emitted = 0
    private var step = 0

    init(reference: [Int], pattern: [DraftReplay.Step], vocab: Int) {
        precondition(!pattern.isEmpty)
        self.reference = reference
        self.pattern = pattern
        self.vocab = vocab
    }

    func observe(_ tokens: [Int]) {
        // The first call is the prompt; every later one is emitted tokens.
        if !contextSeen { contextSeen = true; return }
        emitted += tokens.count
    }

    func propose(limit: Int) -> [Int] {
        let p = pattern[step % pattern.count]
        step += 1
        var out: [Int] = []
        var i = emitted
        while out.count < min(limit, p.proposed), i < reference.count {
            if out.count < p.accepted { out.append(reference[i]) } else { out.append((reference[i] + 1) % vocab) }
            i += 1
        }
        return out
    }
}
