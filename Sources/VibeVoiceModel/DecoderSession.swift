import Foundation
import VibeVoiceCompute

/// A KV cache together with the token ids it holds, grown turn by turn: the piece a conversation and
/// teacher-forced scoring need.
///
/// `extend(to:)` is given the whole token sequence wanted so far; it keeps the longest prefix the cache
/// already holds and runs only the rest through the decoder. A follow-up question in a conversation so
/// costs its new tokens (and any tokens after the first place where the new rendering differs from the old
/// one), never a second prefill of the audio. Scored positions get their log-probabilities on the way;
/// `generate` samples from the end and leaves the generated tokens in the cache.
///
/// Audio: every `<|box_start|>` slot of a target sequence takes the next row of `audio`, counting from the
/// sequence's start, so `audio` holds the embeddings of all audio items of the conversation, in order.
public final class DecoderSession: @unchecked Sendable {
    public let model: VibeVoiceASRModel
    public let audioTokenID: Int
    /// The ids whose keys and values are in the cache.
    public private(set) var ids: [Int] = []
    /// Tokens run through the decoder by `extend` since the session began (a measure of the prefill work).
    public private(set) var prefilledTokenCount = 0
    /// Tokens `extend` found already in the cache and kept.
    public private(set) var reusedTokenCount = 0
    private let cache: KVCache
    private var logits: [Float]
    /// `logits` follow `ids.last` (false after a rewind, or after `generate`, whose last token is not fed).
    private var logitsCurrent = false

    public init(model: VibeVoiceASRModel, audioTokenID: Int? = nil, capacity: Int = 1024) {
        self.model = model
        self.audioTokenID = audioTokenID ?? model.config.audioTokenID
        cache = model.decoder.makeCache(capacity: max(1, capacity))
        logits = [Float](repeating: 0, count: model.config.decoder.vocabSize)
    }

    /// Makes the cache hold exactly `target`, and returns `log p(target[p] | target[..<p])` for every
    /// position `p` in `scorePositions` (each in `1..<target.count`), in that order.
    @discardableResult
    public func extend(to target: [Int], audio: AudioFeatures? = nil, scorePositions: [Int] = [],
                       blockSize: Int = 512, progress: (@Sendable (ModelProgress) -> Void)? = nil) throws -> [Double] {
        precondition(!target.isEmpty, "nothing to run")
        for p in scorePositions { precondition(p >= 1 && p < target.count, "score position \(p) outside 1..<\(target.count)") }
        let decoder = model.decoder
        let vocab = model.config.decoder.vocabSize
        for id in target where id < 0 || id >= vocab { throw ModelRunError.tokenOutOfRange(id, vocabularySize: vocab) }
        let slots = target.reduce(0) { $0 + ($1 == audioTokenID ? 1 : 0) }
        let frames = audio?.frames ?? 0
        guard slots == frames else { throw ModelRunError.audioTokenCountMismatch(promptSlots: slots, audioFrames: frames) }

        var keep = 0
        while keep < ids.count, keep < target.count, ids[keep] == target[keep] { keep += 1 }
        // Logits are needed at the row before each scored position and at the last row.
        if let first = scorePositions.min() { keep = min(keep, first - 1) }
        if keep == target.count && !(logitsCurrent && keep == ids.count) { keep -= 1 }
        if keep < ids.count {
            ids.removeLast(ids.count - keep)
            cache.length = keep
            logitsCurrent = false
        }
        reusedTokenCount += keep
        if keep == target.count { return [] }   // already there, logits current, nothing to score

        // Rows to score, by target position; row r (position keep + r) predicts position keep + r + 1.
        var wanted: [Int: [Int]] = [:]
        for (k, p) in scorePositions.enumerated() { wanted[p - 1, default: []].append(k) }
        var scores = [Double](repeating: 0, count: scorePositions.count)

        let h = model.config.decoder.hiddenSize
        let n = target.count - keep
        cache.ensureCapacity(target.count)
        var slot = target[..<keep].reduce(0) { $0 + ($1 == audioTokenID ? 1 : 0) }
        let block = max(1, blockSize)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: min(block, n) * h)
        defer { x.deallocate() }
        var start = keep
        while start < target.count {
            let rows = min(block, target.count - start)
            for r in 0..<rows {
                let id = target[start + r]
                if id == audioTokenID, let audio {
                    audio.embeddings.withUnsafeBufferPointer { (x + r * h).update(from: $0.baseAddress! + slot * h, count: h) }
                    slot += 1
                } else {
                    decoder.embed(id, into: x + r * h)
                }
            }
            decoder.forward(x, rows: rows, cache: cache)
            var scoredRows: [Int] = []
            var targets: [Int] = []
            var slotsOut: [Int] = []
            for r in 0..<rows {
                guard let ks = wanted[start + r] else { continue }
                for k in ks {
                    scoredRows.append(r)
                    targets.append(target[scorePositions[k]])
                    slotsOut.append(k)
                }
            }
            if !scoredRows.isEmpty {
                for (k, lp) in zip(slotsOut, decoder.logProbs(hidden: x, rows: scoredRows, targets: targets)) { scores[k] = lp }
            }
            if start + rows == target.count {
                logits.withUnsafeMutableBufferPointer { decoder.logits(x + (rows - 1) * h, into: $0.baseAddress!) }
            }
            start += rows
            progress?(.prefill(done: start - keep, total: n))
        }
        ids = target
        logitsCurrent = true
        prefilledTokenCount += n
        return scores
    }

    /// Samples up to `options.maxNewTokens` tokens after `ids` (call `extend` first). The generated tokens
    /// but the last are left in the cache; the last is fed by the next `extend` that includes it.
    public func generate(options: GenerationOptions, onToken: (Int) -> Bool = { _ in true }) -> GenerationResult {
        precondition(logitsCurrent, "extend the session before generating")
        let t0 = Date()
        let loop = DecodeLoop(decoder: model.decoder, cache: cache)
        let out = loop.run(logits: &logits, context: ids, options: options, onToken: onToken).output
        ids += out.tokens.dropLast()
        logitsCurrent = false
        var result = GenerationResult(tokens: out.tokens, stopReason: out.reason, prefillSeconds: 0,
                                      decodeSeconds: Date().timeIntervalSince(t0))
        result.logProbs = out.logProbs
        return result
    }

    /// Bytes held by the KV cache.
    public var cacheBytes: Int { cache.byteCount }
}

extension AudioFeatures {
    /// Several items' features end to end, in order (the layout `DecoderSession` expects for a conversation).
    public static func concatenated(_ items: [AudioFeatures]) -> AudioFeatures {
        AudioFeatures(acousticLatents: items.flatMap(\.acousticLatents), semanticLatents: items.flatMap(\.semanticLatents),
                      embeddings: items.flatMap(\.embeddings), frames: items.reduce(0) { $0 + $1.frames })
    }
}
