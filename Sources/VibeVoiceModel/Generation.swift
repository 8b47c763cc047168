import Foundation
import VibeVoiceCompute

/// Generation settings. Defaults: greedy, stop on `<|endoftext|>`.
public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var stopTokenIDs: Set<Int>
    public var temperature: Float
    public var topP: Float
    public var repetitionPenalty: Float
    public var seed: UInt64
    /// Rows per prefill block: bounds scratch memory (scores are rows × context per head).
    public var prefillBlockSize: Int
    /// Record each generated token's log-probability (`GenerationResult.logProbs`): one log-sum-exp pass
    /// over the logits per token, cheap next to the mat-vecs (`bench --log-softmax` measures it).
    public var recordLogProbs = true
    /// Exact speculative decoding (greedy only): up to this many drafted tokens are verified per step in one
    /// multi-row forward (0 turns it off). The output is identical either way.
    public var maxDraftTokens = 7
    /// Makes the drafter for one generation (default: prompt-lookup `NGramDrafter`).
    public var drafter: (@Sendable () -> Drafter)?

    public init(maxNewTokens: Int, stopTokenIDs: Set<Int> = [151643], temperature: Float = 0, topP: Float = 1,
                repetitionPenalty: Float = 1, seed: UInt64 = 0, prefillBlockSize: Int = 512) {
        self.maxNewTokens = maxNewTokens
        self.stopTokenIDs = stopTokenIDs
        self.temperature = temperature
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
        self.prefillBlockSize = prefillBlockSize
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable {
    case stopToken = "stop_token"
    case maxNewTokens = "max_new_tokens"
    case cancelled
}

public struct GenerationResult: Sendable {
    public var tokens: [Int]
    public var stopReason: StopReason
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// `log p(tokens[i])` under the model's own distribution (log-softmax of the raw logits, before
    /// repetition penalty and temperature); empty unless `GenerationOptions.recordLogProbs`.
    public var logProbs: [Double] = []
    /// The same for the teacher-forced `prefix` of `GenerationSession.generate(prefix:)`.
    public var prefixLogProbs: [Double] = []
    /// Speculative decoding: forward steps taken, draft tokens proposed and accepted.
    public var decodeSteps = 0
    public var draftedTokens = 0
    public var acceptedDraftTokens = 0
}

/// A prefilled prompt whose KV cache can be rewound to the end of the prompt, so generation can be
/// restarted (for example after a repetition loop) with another assistant prefix without paying
/// for the prompt (and its audio) again.
public final class GenerationSession: @unchecked Sendable {
    public let model: VibeVoiceASRModel
    public let promptIDs: [Int]
    public let prefillSeconds: Double
    private let cache: KVCache
    private let promptLogits: [Float]

    public init(model: VibeVoiceASRModel, promptIDs: [Int], audio: AudioFeatures, audioTokenID: Int? = nil,
                options: GenerationOptions, progress: (@Sendable (ModelProgress) -> Void)? = nil) throws {
        self.model = model
        self.promptIDs = promptIDs
        let decoder = model.decoder
        let h = model.config.decoder.hiddenSize
        var x = try model.fusedEmbeddings(promptIDs: promptIDs, audio: audio, audioTokenID: audioTokenID)
        let n = promptIDs.count
        cache = decoder.makeCache(capacity: n + min(max(0, options.maxNewTokens), 1024))
        var logits = [Float](repeating: 0, count: model.config.decoder.vocabSize)
        let t0 = Date()
        let block = max(1, options.prefillBlockSize)
        let cache = self.cache
        x.withUnsafeMutableBufferPointer { xp in
            var start = 0
            while start < n {
                let rows = min(block, n - start)
                decoder.forward(xp.baseAddress! + start * h, rows: rows, cache: cache)
                start += rows
                progress?(.prefill(done: start, total: n))
            }
            logits.withUnsafeMutableBufferPointer { lp in
                decoder.logits(xp.baseAddress! + (n - 1) * h, into: lp.baseAddress!)
            }
        }
        promptLogits = logits
        prefillSeconds = Date().timeIntervalSince(t0)
    }

    /// Rewinds to the end of the prompt, feeds `prefix` (ids the assistant is taken to have written
    /// already), then samples up to `options.maxNewTokens` new tokens (the prefix not included).
    public func generate(prefix: [Int] = [], options: GenerationOptions,
                         onToken: (Int) -> Bool = { _ in true }) -> GenerationResult {
        withoutActuallyEscaping(onToken) { onToken in
            let s = stream(prefix: prefix, options: options, onToken: onToken)
            let stepper = BatchDecoder(decoder: model.decoder)
            while !s.isFinished { stepper.step([s]) }
            return s.result
        }
    }

    /// The same generation, one step at a time (`BatchDecoder.step`), so that several sessions can decode
    /// together. Rewinds to the end of the prompt and feeds `prefix` now; the first token is sampled now too.
    public func stream(prefix: [Int] = [], options: GenerationOptions,
                       onToken: @escaping (Int) -> Bool = { _ in true }) -> GenerationStream {
        let decoder = model.decoder
        let h = model.config.decoder.hiddenSize
        let t1 = Date()
        cache.length = promptIDs.count
        var logits = promptLogits
        var prefixLogProbs: [Double] = []
        if !prefix.isEmpty {
            if options.recordLogProbs {
                prefixLogProbs.append(promptLogits.withUnsafeBufferPointer {
                    LogSoftmax.logProb(of: prefix[0], logits: $0.baseAddress!, count: $0.count)
                })
            }
            var x = [Float](repeating: 0, count: prefix.count * h)
            x.withUnsafeMutableBufferPointer { xp in
                for (i, id) in prefix.enumerated() { decoder.embed(id, into: xp.baseAddress! + i * h) }
                decoder.forward(xp.baseAddress!, rows: prefix.count, cache: cache)
                logits.withUnsafeMutableBufferPointer { lp in
                    decoder.logits(xp.baseAddress! + (prefix.count - 1) * h, into: lp.baseAddress!)
                }
                if options.recordLogProbs && prefix.count > 1 {
                    prefixLogProbs += decoder.logProbs(hidden: xp.baseAddress!, rows: Array(0..<(prefix.count - 1)),
                                                       targets: Array(prefix.dropFirst()))
                }
            }
        }
        let inner = logits.withUnsafeBufferPointer {
            DecodeStream(cache: cache, logits: $0, context: promptIDs + prefix, options: options, onToken: onToken)
        }
        return GenerationStream(inner: inner, prefillSeconds: prefillSeconds, started: t1, prefixLogProbs: prefixLogProbs)
    }
}

/// One generation in progress (`GenerationSession.stream`), advanced by `BatchDecoder.step`.
public final class GenerationStream: @unchecked Sendable {
    // @unchecked: a stream is advanced by one thread at a time (the decoder loop that owns it).
    let inner: DecodeStream
    private let prefillSeconds: Double
    private let started: Date
    private let prefixLogProbs: [Double]
    private var finishedAt: Date?

    init(inner: DecodeStream, prefillSeconds: Double, started: Date, prefixLogProbs: [Double]) {
        self.inner = inner
        self.prefillSeconds = prefillSeconds
        self.started = started
        self.prefixLogProbs = prefixLogProbs
        if inner.finished { finishedAt = started }
    }

    public var isFinished: Bool { inner.finished }

    /// Tokens emitted so far.
    public var tokens: [Int] { inner.output.tokens }

    func markFinished() { if finishedAt == nil && inner.finished { finishedAt = Date() } }

    /// What `GenerationSession.generate` returns (decode time: from the stream's start to its end, or to now).
    public var result: GenerationResult {
        var r = GenerationResult(tokens: inner.output.tokens, stopReason: inner.output.reason, prefillSeconds: prefillSeconds,
                                 decodeSeconds: (finishedAt ?? Date()).timeIntervalSince(started))
        r.logProbs = inner.output.logProbs
        r.prefixLogProbs = prefixLogProbs
        r.decodeSteps = inner.steps
        r.draftedTokens = inner.proposed
        r.acceptedDraftTokens = inner.accepted
        return r
    }
}

/// Advances several generations (of one model) by one step together: their rows go through one forward, so
/// each weight is streamed once for all of them, and each gets exactly the tokens it would get alone.
public struct BatchDecoder: Sendable {
    public let decoder: Qwen2Decoder

    public init(decoder: Qwen2Decoder) { self.decoder = decoder }

    public func step(_ streams: [GenerationStream]) {
        let active = streams.filter { !$0.isFinished }
        guard !active.isEmpty else { return }
        DecodeStepper(decoder: decoder).step(active.map(\.inner))
        for s in active { s.markFinished() }
    }
}
