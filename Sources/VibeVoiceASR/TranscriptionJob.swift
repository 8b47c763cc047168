import Foundation
#if canImport(Glibc)
import Glibc
#endif
import VibeVoiceModel
import VibeVoiceText

/// One window of one input, decoded step by step so that several can share each decode step (batched
/// decoding): encoding and prefill run when the job starts; then every `BatchDecoder` step advances its
/// `stream`, and `advance()` handles what a finished stream means (loop recovery, or the window's result).
/// Alone (one job per step) it is exactly the single-input pipeline.
final class WindowJob: @unchecked Sendable {
    // @unchecked: a job is created, stepped and read by the one thread that drives it.
    private let transcriber: Transcriber
    private let options: TranscriptionOptions
    private let offset: Double
    private let onEvent: @Sendable (TranscriptionEvent) -> Void
    private let rawCount: Int
    private let prompt: [Int]
    private let budget: Int
    private let session: GenerationSession
    private var genOptions: GenerationOptions
    private var timings: [TranscriptionStage: Double] = [:]
    private let detector = RepetitionDetector()
    private var prefix: [Int] = []
    private var recoveries = 0
    private var decodeSeconds = 0.0
    private var attempt = Attempt()
    /// The stream of the current attempt; nil once the window is done.
    private(set) var stream: GenerationStream?
    private(set) var result: TranscriptionResult?

    /// Text state of one attempt (what the loop detector and the segment streamer have seen).
    private struct Attempt {
        var streamer = IncrementalSegmentParser()
        var text = ""
        var decoder: TokenStreamDecoder?
        var looped = false
        var cancelled = false
        var count = 0
    }

    /// Encodes and prefills `raw` (24 kHz mono, before loudness normalisation) and samples the first token.
    init(transcriber: Transcriber, raw: [Float], options: TranscriptionOptions, offset: Double,
         onEvent: @escaping @Sendable (TranscriptionEvent) -> Void) throws {
        self.transcriber = transcriber
        self.options = options
        self.offset = offset
        self.onEvent = onEvent
        rawCount = raw.count
        let model = transcriber.model
        var samples = raw
        LoudnessNormalizer.normalize(&samples)
        let duration = Double(raw.count) / 24000

        try Transcriber.checkCancelled(options)
        onEvent(.stageStarted(.encode))
        let t = Date()
        let features = try model.encodeAudio(samples, noiseSeed: options.acousticNoiseSeed) { p in
            if case let .encoding(done, total) = p { onEvent(.encoding(doneSamples: done, totalSamples: total)) }
        }
        timings[.encode] = Date().timeIntervalSince(t)
        if options.releaseEncoderWeights { model.releaseEncoderWeightPages() }
        onEvent(.stageFinished(.encode, seconds: timings[.encode]!))
        if !model.decoderIsLoaded {
            // A deferred decoder (quantised, or laid out for decode): now that the encoders' pages are released.
            onEvent(.stageStarted(.quantize))
            let tq = Date()
            try model.loadDecoder()
            timings[.quantize] = Date().timeIntervalSince(tq)
            onEvent(.stageFinished(.quantize, seconds: timings[.quantize]!))
        }

        if let custom = options.prompt {
            let request = Conversation([.user([.audio(.samples(raw.count)), .text(custom)])])
            prompt = try ConversationRenderer(promptBuilder: transcriber.promptBuilder).ids(for: request, template: .reference)
        } else {
            prompt = transcriber.promptBuilder.promptIDs(rawSampleCount: raw.count, context: options.context)
        }
        budget = options.maxNewTokens ?? TranscriptionOptions.defaultMaxNewTokens(audioSeconds: duration)
        genOptions = transcriber.generationOptions(options, budget: budget)

        try Transcriber.checkCancelled(options)
        onEvent(.stageStarted(.prefill))
        session = try GenerationSession(model: model, promptIDs: prompt, audio: features,
                                        audioTokenID: transcriber.promptBuilder.audioTokenID, options: genOptions) { p in
            if case let .prefill(done, total) = p { onEvent(.prefill(doneTokens: done, totalTokens: total)) }
        }
        timings[.prefill] = session.prefillSeconds
        onEvent(.stageFinished(.prefill, seconds: session.prefillSeconds))
        try Transcriber.checkCancelled(options)
        onEvent(.stageStarted(.decode))
        startAttempt()
        try advance()
    }

    private func startAttempt() {
        let tokenizer = transcriber.tokenizer
        attempt = Attempt()
        attempt.text = tokenizer.decode(prefix, skipSpecialTokens: true)
        _ = attempt.streamer.append(attempt.text)
        attempt.decoder = TokenStreamDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
        attempt.count = prefix.count
        genOptions.maxNewTokens = max(1, budget - prefix.count)
        stream = session.stream(prefix: prefix, options: genOptions) { [unowned self] id in self.onToken(id) }
    }

    private func onToken(_ id: Int) -> Bool {
        if options.isCancelled?() == true {
            attempt.cancelled = true
            return false
        }
        attempt.count += 1
        onEvent(.token(id: id, generated: attempt.count, budget: budget))
        // Only the tail matters to the loop detector; keep it short.
        attempt.text += attempt.decoder!.append(id)
        if attempt.text.utf8.count > 4096 { attempt.text = String(attempt.text.unicodeScalars.suffix(1024)) }
        for segment in attempt.streamer.appendUTF8(transcriber.tokenizer.decodeBytes([id], skipSpecialTokens: true)) {
            onEvent(.segment(segment.shifted(by: offset)))
        }
        if options.loopRecovery && recoveries < options.maxLoopRecoveries && detector.isLooping(attempt.text) {
            attempt.looped = true
            return false
        }
        return true
    }

    /// After a step: a finished attempt either restarts after a repetition loop or completes the window.
    func advance() throws {
        guard let s = stream, s.isFinished else { return }
        let r = s.result
        decodeSeconds += r.decodeSeconds
        if attempt.cancelled { throw TranscriberError.cancelled }
        try Transcriber.checkCancelled(options)
        let generated = prefix + r.tokens
        if attempt.looped {
            // Cut back to the last complete segment and resume, sampling gently.
            recoveries += 1
            let tokenizer = transcriber.tokenizer
            let kept = TranscriptParser.completeSegmentPrefix(tokenizer.decode(generated, skipSpecialTokens: true)) ?? ""
            let body = Transcriber.stripAssistantHeader(kept)
            prefix = transcriber.promptBuilder.assistantPrefixIDs(body.isEmpty ? "" : body)
            genOptions.temperature = options.recoveryTemperature
            genOptions.topP = 0.95
            genOptions.seed = options.seed &+ UInt64(recoveries)
            genOptions.maxDraftTokens = 0          // sampling: no drafts
            onEvent(.loopRecovered(attempt: recoveries, keptSegments: TranscriptParser.parse(kept).segments.count))
            startAttempt()
            return try advance()
        }
        stream = nil
        timings[.decode] = decodeSeconds
        onEvent(.stageFinished(.decode, seconds: decodeSeconds))
        result = finish(generated: generated, last: r)
    }

    private func finish(generated: [Int], last r: GenerationResult) -> TranscriptionResult {
        let tokenizer = transcriber.tokenizer
        let duration = Double(rawCount) / 24000
        var transcript = TranscriptParser.parse(tokenizer.decode(generated, skipSpecialTokens: true))
        // avg_logprob of each segment, from the final attempt's tokens (a resumed prefix is teacher-forced,
        // so its tokens have their log-probabilities too).
        let logProbs = r.prefixLogProbs + r.logProbs
        if let owners = SegmentLogProbs.owners(tokens: generated, tokenizer: tokenizer),
           owners.count == transcript.segments.count {
            for (i, idx) in owners.enumerated() where !idx.isEmpty {
                transcript.segments[i].tokens = idx.map { generated[$0] }
                if logProbs.count == generated.count {
                    transcript.segments[i].avgLogprob = idx.reduce(0) { $0 + logProbs[$1] } / Double(idx.count)
                }
            }
        }
        transcript.segments = transcript.segments.map { $0.shifted(by: offset) }
        transcript.duration = duration
        transcript.tokens = generated
        transcript.tokenLogprobs = logProbs.count == generated.count ? logProbs : nil
        transcript.promptTokens = prompt.count
        transcript.temperature = Double(options.temperature)
        var out = TranscriptionResult(transcript: transcript, audioSeconds: duration, stopReason: r.stopReason,
                                      timings: timings)
        out.loopRecoveries = recoveries
        out.decodeSteps = r.decodeSteps
        out.acceptedDraftTokens = r.acceptedDraftTokens
        return out
    }
}

/// One input: its windows one after another (each a `WindowJob`), merged into one result.
final class InputJob: @unchecked Sendable {
    private let transcriber: Transcriber
    private let raw: [Float]
    private let options: TranscriptionOptions
    private let onEvent: @Sendable (TranscriptionEvent) -> Void
    private let windows: [Range<Int>]
    private var next = 0
    private var parts: [TranscriptionResult] = []
    private(set) var window: WindowJob?
    private(set) var result: TranscriptionResult?

    init(transcriber: Transcriber, samples raw: [Float], options: TranscriptionOptions,
         onEvent: @escaping @Sendable (TranscriptionEvent) -> Void) throws {
        self.transcriber = transcriber
        self.raw = raw
        self.options = options
        self.onEvent = onEvent
        windows = Transcriber.windowBounds(samples: raw, maxWindow: Int(options.maxSinglePassSeconds * 24000))
        try advance()
    }

    /// The stream to step, if the input is still decoding.
    var stream: GenerationStream? { window?.stream }

    /// After a step (or at the start): finishes windows and starts the next one until one is decoding.
    func advance() throws {
        while result == nil {
            if let w = window {
                try w.advance()
                guard let r = w.result else { return }      // still decoding
                parts.append(r)
                window = nil
            } else if next < windows.count {
                let w = windows[next]
                try Transcriber.checkCancelled(options)
                let start = Double(w.lowerBound) / 24000
                if windows.count > 1 {
                    onEvent(.window(index: next + 1, count: windows.count, start: start, end: Double(w.upperBound) / 24000))
                }
                next += 1
                try Self.ensureMemory(forWindow: w.count, transcriber: transcriber, options: options)
                window = try WindowJob(transcriber: transcriber, raw: windows.count == 1 ? raw : Array(raw[w]),
                                       options: options, offset: start, onEvent: onEvent)
            } else {
                result = merged()
            }
        }
    }

    /// Swift traps when an allocation fails; under a memory limit (ulimit -v, a cgroup) the large buffers of a
    /// window are tried first with malloc, so that their failure is an error, not a crash: the window's copy and
    /// its normalised copy, the encoders' activations for one chunk, and the KV cache of its prompt and first
    /// stretch of generation.
    static func ensureMemory(forWindow samples: Int, transcriber: Transcriber, options: TranscriptionOptions) throws {
        let config = transcriber.model.config
        let chunk = min(samples, config.acousticChunkSize)
        let encoder = 8 * chunk * max(config.acoustic.numFilters, config.semantic.numFilters) * 4
        let d = config.decoder
        let tokens = samples / max(1, transcriber.model.hopLength) + 128 + min(1024, options.maxNewTokens ?? 1024)
        let cache = tokens * d.numLayers * d.numKVHeads * d.headDim * 2 * 4
        let bytes = 2 * samples * 4 + encoder + cache
        guard let probe = malloc(bytes) else {
            throw TranscriberError.outOfMemory(audioSeconds: Double(samples) / 24000, bytes: bytes)
        }
        free(probe)
    }

    private func merged() -> TranscriptionResult {
        if parts.count == 1 { return parts[0] }
        var merged = Transcript(segments: [])
        var total = TranscriptionResult(transcript: merged, audioSeconds: Double(raw.count) / 24000,
                                        stopReason: .stopToken, timings: [:], windows: parts.count)
        var tokens: [Int] = []
        var logprobs: [Double]? = []
        var promptTokens = 0
        var rawParts: [String] = []
        for r in parts {
            merged.segments += r.transcript.segments
            merged.isTruncated = merged.isTruncated || r.transcript.isTruncated
            if let p = r.transcript.plainText { rawParts.append(p) }
            tokens += r.transcript.tokens ?? []
            if let l = r.transcript.tokenLogprobs, logprobs != nil { logprobs! += l } else { logprobs = nil }
            promptTokens += r.transcript.promptTokens ?? 0
            for (stage, t) in r.timings { total.timings[stage, default: 0] += t }
            total.loopRecoveries += r.loopRecoveries
            total.decodeSteps += r.decodeSteps
            total.acceptedDraftTokens += r.acceptedDraftTokens
            if r.stopReason != .stopToken { total.stopReason = r.stopReason }
        }
        merged.rawText = rawParts.joined(separator: "\n")
        merged.duration = total.audioSeconds
        merged.tokens = tokens
        merged.tokenLogprobs = logprobs
        merged.promptTokens = promptTokens
        merged.temperature = Double(options.temperature)
        total.transcript = merged
        return total
    }
}
