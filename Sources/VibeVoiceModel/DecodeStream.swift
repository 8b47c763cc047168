import Foundation
import VibeVoiceCompute

/// One sequence being decoded: its KV cache, sampler, emitted tokens and (greedy only) speculative drafts.
/// A step feeds `rows()` (the last sampled token, then any draft) through a forward that may carry other
/// sequences' rows too, then `consume` samples from each row's logits in order: while the model's choice
/// equals the next draft token it is accepted, the first choice that differs (or the one after a fully
/// accepted draft) becomes the next token to feed, and rows past it are rolled back. The emitted tokens are
/// exactly those one-token-at-a-time decoding emits, because every row's logits are bit-identical to a
/// one-row step's (see `Qwen2Decoder.decodeForward`).
final class DecodeStream {
    let cache: KVCache
    let options: GenerationOptions
    private var sampler: TokenSampler
    private var seen: Set<Int>
    private let drafter: Drafter?
    private let onToken: (Int) -> Bool
    private var scratch: [Float]
    private(set) var output = DecodeLoop.Output()
    private(set) var finished = false
    /// Sampled and not yet fed.
    private var pending = 0
    private var draft: [Int] = []
    /// Draft statistics: proposed and accepted tokens, verify steps.
    private(set) var proposed = 0
    private(set) var accepted = 0
    private(set) var steps = 0

    /// Samples the first token from `logits` (the model's prediction after everything in `cache`).
    init(cache: KVCache, logits: UnsafeBufferPointer<Float>, context: [Int], options: GenerationOptions,
         onToken: @escaping (Int) -> Bool) {
        self.cache = cache
        self.options = options
        sampler = TokenSampler(temperature: options.temperature, topP: options.topP,
                               repetitionPenalty: options.repetitionPenalty, seed: options.seed)
        seen = Set(context)
        // Drafts are verified against greedy choices only (sampling would need exact speculative sampling).
        drafter = options.temperature <= 0 && options.maxDraftTokens > 0 ? (options.drafter?() ?? NGramDrafter()) : nil
        drafter?.observe(context)
        self.onToken = onToken
        scratch = [Float](repeating: 0, count: logits.count)
        if options.maxNewTokens <= 0 {
            finished = true
            return
        }
        _ = emit(from: logits.baseAddress!)
    }

    /// The rows to feed this step: the pending token and a fresh draft.
    func rows() -> [Int] {
        precondition(!finished, "the stream has finished")
        let room = options.maxNewTokens - output.tokens.count - 1   // an accepted draft token is an emitted one
        draft = room > 0 ? (drafter?.propose(limit: min(room, options.maxDraftTokens)) ?? []) : []
        return [pending] + draft
    }

    /// Samples from each row's logits (`[rows().count, vocab]`) and keeps the cache consistent.
    func consume(_ rowLogits: UnsafePointer<Float>) {
        let vocab = scratch.count
        let base = cache.length - (draft.count + 1)
        steps += 1
        proposed += draft.count
        var i = 0
        while true {
            let token = emit(from: rowLogits + i * vocab)
            if !finished, i < draft.count, draft[i] == token {
                accepted += 1
                i += 1
                continue
            }
            break
        }
        // Rows 0...i hold the tokens before the last emitted one; the rest were rejected.
        cache.length = base + i + 1
    }

    /// Samples one token, records it and applies the stop rules. Returns the token.
    private func emit(from logits: UnsafePointer<Float>) -> Int {
        scratch.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: logits, count: $0.count) }
        var lse = 0.0
        if options.recordLogProbs { lse = LogSoftmax.logSumExp(logits, count: scratch.count) }
        let token = sampler.next(logits: &scratch, seen: seen)
        output.tokens.append(token)
        if options.recordLogProbs { output.logProbs.append(Double(logits[token]) - lse) }
        seen.insert(token)
        drafter?.observe([token])
        pending = token
        if options.stopTokenIDs.contains(token) {
            output.reason = .stopToken
            finished = true
        } else if !onToken(token) {
            output.reason = .cancelled
            finished = true
        } else if output.tokens.count >= options.maxNewTokens {
            output.reason = .maxNewTokens
            finished = true
        }
        return token
    }
}

/// Runs one decode step for several streams together: their rows stacked into one forward, so each weight
/// is streamed once for all of them.
struct DecodeStepper {
    let decoder: Qwen2Decoder

    func step(_ streams: [DecodeStream]) {
        let active = streams.filter { !$0.finished }
        guard !active.isEmpty else { return }
        let h = decoder.config.hiddenSize, vocab = decoder.config.vocabSize
        let rows = active.map { $0.rows() }
        let n = rows.reduce(0) { $0 + $1.count }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * vocab)
        defer { x.deallocate(); logits.deallocate() }
        var r = 0
        for ids in rows { for id in ids { decoder.embed(id, into: x + r * h); r += 1 } }
        decoder.decodeForward(x, counts: rows.map(\.count), caches: active.map(\.cache))
        decoder.decodeLogits(x, rows: n, into: logits)
        r = 0
        for (s, ids) in zip(active, rows) {
            s.consume(logits + r * vocab)
            r += ids.count
        }
    }
}
