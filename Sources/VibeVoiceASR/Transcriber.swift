@_exported import VibeVoiceAudio
@_exported import VibeVoiceModel
@_exported import VibeVoiceText
@_exported import enum VibeVoiceCompute.DType
import Foundation

/// What to do for one transcription request.
public struct TranscriptionOptions: Sendable {
    /// Extra information for the model: names, topic, hotwords. Trimmed; blank means none.
    public var context: String?
    /// The custom prompt of transformers' `apply_transcription_request(audio, prompt=...)`: the user turn's
    /// text item, rendered by the reference chat template as the extra info, verbatim (not trimmed; only
    /// an empty string means none). Takes the place of `context` when set.
    public var prompt: String?
    /// Token budget; nil scales it with the audio duration (`defaultMaxNewTokens`).
    public var maxNewTokens: Int?
    /// 0 = greedy (the reference default).
    public var temperature: Float = 0
    public var topP: Float = 1
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0
    /// Also stop at `<|im_end|>` (gives the same transcript, one token sooner).
    public var stopAtImEnd = false
    /// Turns on σ-VAE noise on the acoustic latents with this seed (off: deterministic).
    public var acousticNoiseSeed: UInt64?
    /// Refuse audio longer than this many seconds (nil: no limit).
    public var maxAudioSeconds: Double?
    /// Longest audio transcribed in one pass; longer audio is split into windows at quiet points
    /// (speaker ids then restart in each window). The model was trained on up to about an hour.
    public var maxSinglePassSeconds: Double = 3600
    /// Detect repetition loops and resume from the last complete segment (SPEC.md section 7).
    public var loopRecovery = true
    /// Retries after a loop, each at `recoveryTemperature` and top-p 0.95.
    public var maxLoopRecoveries = 3
    public var recoveryTemperature: Float = 0.3
    /// Drop the encoders' memory-mapped weight pages once the audio is encoded (lower peak memory while
    /// decoding; the next input faults them back in).
    public var releaseEncoderWeights = true

    public init(context: String? = nil, maxNewTokens: Int? = nil) {
        self.context = context
        self.maxNewTokens = maxNewTokens
    }

    /// A generous budget: 512 tokens plus 12 per second of audio, at most 32768 (the reference's cap).
    public static func defaultMaxNewTokens(audioSeconds: Double) -> Int {
        min(32768, 512 + Int((12 * audioSeconds).rounded(.up)))
    }
}

/// Progress of one request, in order.
public enum TranscriptionEvent: Sendable {
    case stageStarted(TranscriptionStage)
    case encoding(doneSamples: Int, totalSamples: Int)
    case prefill(doneTokens: Int, totalTokens: Int)
    case token(id: Int, generated: Int, budget: Int)
    case segment(Segment)
    /// A repetition loop was cut back to the last complete segment and decoding resumed.
    case loopRecovered(attempt: Int, keptSegments: Int)
    /// Long audio: window `index` of `count` starts at `start` seconds.
    case window(index: Int, count: Int, start: Double, end: Double)
    case stageFinished(TranscriptionStage, seconds: Double)
}

public enum TranscriptionStage: String, Sendable {
    case audio, encode, prefill, decode
}

public struct TranscriptionResult: Sendable {
    public var transcript: Transcript
    public var audioSeconds: Double
    public var stopReason: StopReason
    /// Seconds per stage.
    public var timings: [TranscriptionStage: Double]
    /// Repetition loops recovered from.
    public var loopRecoveries: Int = 0
    /// Windows the audio was split into (1 = one pass).
    public var windows: Int = 1
}

/// Errors of the pipeline itself (the stages raise their own typed errors).
public enum TranscriberError: Error, CustomStringConvertible, Sendable {
    case tokenizerNotFound(modelDirectory: String)

    public var description: String {
        switch self {
        case let .tokenizerNotFound(dir):
            return "no tokenizer.json in \(dir); the original microsoft/VibeVoice-ASR checkpoint ships none " +
                "(it uses the Qwen/Qwen2.5-7B tokenizer): pass --tokenizer PATH to a tokenizer.json or a directory holding one"
        }
    }
}

/// Audio in, speaker-attributed transcript out.
public final class Transcriber: Sendable {
    public let model: VibeVoiceASRModel
    public let tokenizer: Tokenizer
    public let promptBuilder: PromptBuilder

    public init(model: VibeVoiceASRModel, tokenizer: Tokenizer) throws {
        self.model = model
        self.tokenizer = tokenizer
        promptBuilder = try PromptBuilder(tokenizer: tokenizer, hopLength: model.hopLength, sampleRate: 24000)
    }

    /// Loads a model directory (either checkpoint layout, stored or quantised). The tokenizer comes from
    /// `tokenizerPath` (a tokenizer.json or a directory holding one), else from the model directory. With
    /// `weights` (`.q8_0`, `.q4_0`), a floating-point checkpoint's decoder is quantised while loading; `kvCache` `.f16`
    /// halves the key/value cache (default f32, exact).
    public convenience init(modelDirectory: URL, tokenizerPath: URL? = nil, weights: DType? = nil,
                            kvCache: KVCache.Format = .f32) throws {
        let tokURL: URL
        if let tokenizerPath {
            tokURL = tokenizerPath
        } else {
            let candidate = modelDirectory.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: candidate.path) else {
                throw TranscriberError.tokenizerNotFound(modelDirectory: modelDirectory.path)
            }
            tokURL = candidate
        }
        let tokenizer = try Tokenizer(url: tokURL)
        let model = try VibeVoiceASRModel(directory: modelDirectory, weights: weights, kvCache: kvCache)
        try self.init(model: model, tokenizer: tokenizer)
    }

    /// Transcribes an audio file (any format the audio module decodes).
    public func transcribe(file: URL, options: TranscriptionOptions = .init(),
                           onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) throws -> TranscriptionResult {
        onEvent(.stageStarted(.audio))
        let t0 = Date()
        let signal = try AudioLoader.load(contentsOf: file, maxDuration: options.maxAudioSeconds)
        let audioSeconds = Date().timeIntervalSince(t0)
        onEvent(.stageFinished(.audio, seconds: audioSeconds))
        var result = try transcribe(samples: signal.samples, options: options, onEvent: onEvent)
        result.timings[.audio] = audioSeconds
        return result
    }

    /// Transcribes 24 kHz mono samples (before loudness normalisation, which is applied here).
    /// Audio longer than `maxSinglePassSeconds` is split into windows at quiet points.
    public func transcribe(samples raw: [Float], options: TranscriptionOptions = .init(),
                           onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) throws -> TranscriptionResult {
        let windows = Self.windowBounds(samples: raw, maxWindow: Int(options.maxSinglePassSeconds * 24000))
        if windows.count == 1 {
            return try transcribeWindow(raw, options: options, offset: 0, onEvent: onEvent)
        }
        var merged = Transcript(segments: [])
        var total = TranscriptionResult(transcript: merged, audioSeconds: Double(raw.count) / 24000,
                                        stopReason: .stopToken, timings: [:], windows: windows.count)
        var tokens: [Int] = []
        var logprobs: [Double]? = []
        var promptTokens = 0
        var rawParts: [String] = []
        for (k, w) in windows.enumerated() {
            let start = Double(w.lowerBound) / 24000
            onEvent(.window(index: k + 1, count: windows.count, start: start, end: Double(w.upperBound) / 24000))
            let r = try transcribeWindow(Array(raw[w]), options: options, offset: start, onEvent: onEvent)
            merged.segments += r.transcript.segments
            merged.isTruncated = merged.isTruncated || r.transcript.isTruncated
            if let p = r.transcript.plainText { rawParts.append(p) }
            tokens += r.transcript.tokens ?? []
            if let l = r.transcript.tokenLogprobs, logprobs != nil { logprobs! += l } else { logprobs = nil }
            promptTokens += r.transcript.promptTokens ?? 0
            for (stage, t) in r.timings { total.timings[stage, default: 0] += t }
            total.loopRecoveries += r.loopRecoveries
            if r.stopReason != .stopToken { total.stopReason = r.stopReason }
        }
        merged.rawText = rawParts.joined(separator: "\n")
        merged.duration = total.audioSeconds
        merged.tokens = tokens
        merged.tokenLogprobs = logprobs
        merged.promptTokens = promptTokens
        total.transcript = merged
        return total
    }

    /// Splits `sampleCount` samples into windows of at most `maxWindow` samples, cutting each at
    /// the quietest 100 ms frame in its last tenth (at most 30 s), so cuts fall between words.
    public static func windowBounds(samples: [Float], maxWindow: Int) -> [Range<Int>] {
        let sampleCount = samples.count
        guard maxWindow > 0, sampleCount > maxWindow else { return [0..<sampleCount] }
        var bounds: [Range<Int>] = []
        var start = 0
        let frame = 2400
        while sampleCount - start > maxWindow {
            let idealEnd = start + maxWindow
            let searchStart = max(start + maxWindow / 2, idealEnd - min(maxWindow / 10, 30 * 24000))
            var bestEnd = idealEnd
            var bestEnergy = Double.infinity
            var f = searchStart
            while f + frame <= idealEnd {
                var e = 0.0
                for i in f..<(f + frame) { e += Double(samples[i]) * Double(samples[i]) }
                if e < bestEnergy { bestEnergy = e; bestEnd = f + frame / 2 }
                f += frame
            }
            bounds.append(start..<bestEnd)
            start = bestEnd
        }
        bounds.append(start..<sampleCount)
        return bounds
    }

    /// One pass of the model over one window; segment times are shifted by `offset` seconds.
    func transcribeWindow(_ raw: [Float], options: TranscriptionOptions, offset: Double,
                          onEvent: @escaping @Sendable (TranscriptionEvent) -> Void) throws -> TranscriptionResult {
        var samples = raw
        LoudnessNormalizer.normalize(&samples)
        let duration = Double(raw.count) / 24000
        var timings: [TranscriptionStage: Double] = [:]

        onEvent(.stageStarted(.encode))
        var t = Date()
        let features = try model.encodeAudio(samples, noiseSeed: options.acousticNoiseSeed) { p in
            if case let .encoding(done, total) = p { onEvent(.encoding(doneSamples: done, totalSamples: total)) }
        }
        timings[.encode] = Date().timeIntervalSince(t)
        if options.releaseEncoderWeights { model.releaseEncoderWeightPages() }
        onEvent(.stageFinished(.encode, seconds: timings[.encode]!))

        let prompt: [Int]
        if let custom = options.prompt {
            let request = Conversation([.user([.audio(.samples(raw.count)), .text(custom)])])
            prompt = try ConversationRenderer(promptBuilder: promptBuilder).ids(for: request, template: .reference)
        } else {
            prompt = promptBuilder.promptIDs(rawSampleCount: raw.count, context: options.context)
        }
        let budget = options.maxNewTokens ?? TranscriptionOptions.defaultMaxNewTokens(audioSeconds: duration)
        var stops: Set<Int> = []
        if let eot = tokenizer.id(forToken: "<|endoftext|>") { stops.insert(eot) }
        if options.stopAtImEnd, let imEnd = tokenizer.id(forToken: "<|im_end|>") { stops.insert(imEnd) }
        var genOptions = GenerationOptions(maxNewTokens: budget, stopTokenIDs: stops,
                                           temperature: options.temperature, topP: options.topP,
                                           repetitionPenalty: options.repetitionPenalty, seed: options.seed)

        onEvent(.stageStarted(.prefill))
        t = Date()
        let session = try GenerationSession(model: model, promptIDs: prompt, audio: features,
                                            audioTokenID: promptBuilder.audioTokenID, options: genOptions) { p in
            if case let .prefill(done, total) = p { onEvent(.prefill(doneTokens: done, totalTokens: total)) }
        }
        timings[.prefill] = session.prefillSeconds
        onEvent(.stageFinished(.prefill, seconds: session.prefillSeconds))

        onEvent(.stageStarted(.decode))
        let tokenizer = self.tokenizer
        let detector = RepetitionDetector()
        var prefix: [Int] = []          // ids kept from an earlier attempt (assistant header included)
        var generated: [Int] = []
        var recoveries = 0
        var result: GenerationResult
        var decodeSeconds = 0.0
        while true {
            var streamer = IncrementalSegmentParser()
            var text = tokenizer.decode(prefix, skipSpecialTokens: true)
            _ = streamer.append(text)
            var textDecoder = TokenStreamDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
            var looped = false
            var count = prefix.count
            genOptions.maxNewTokens = max(1, budget - prefix.count)
            result = session.generate(prefix: prefix, options: genOptions) { id in
                count += 1
                onEvent(.token(id: id, generated: count, budget: budget))
                // Only the tail matters to the loop detector; keep it short.
                text += textDecoder.append(id)
                if text.utf8.count > 4096 { text = String(text.unicodeScalars.suffix(1024)) }
                for segment in streamer.appendUTF8(tokenizer.decodeBytes([id], skipSpecialTokens: true)) {
                    onEvent(.segment(segment.shifted(by: offset)))
                }
                if options.loopRecovery && recoveries < options.maxLoopRecoveries && detector.isLooping(text) {
                    looped = true
                    return false
                }
                return true
            }
            decodeSeconds += result.decodeSeconds
            generated = prefix + result.tokens
            guard looped else { break }
            // Cut back to the last complete segment and resume, sampling gently.
            recoveries += 1
            let rawSoFar = tokenizer.decode(generated, skipSpecialTokens: true)
            let kept = TranscriptParser.completeSegmentPrefix(rawSoFar) ?? ""
            let body = Self.stripAssistantHeader(kept)
            prefix = promptBuilder.assistantPrefixIDs(body.isEmpty ? "" : body)
            genOptions.temperature = options.recoveryTemperature
            genOptions.topP = 0.95
            genOptions.seed = options.seed &+ UInt64(recoveries)
            onEvent(.loopRecovered(attempt: recoveries, keptSegments: TranscriptParser.parse(kept).segments.count))
        }
        timings[.decode] = decodeSeconds
        onEvent(.stageFinished(.decode, seconds: decodeSeconds))

        let rawText = tokenizer.decode(generated, skipSpecialTokens: true)
        var transcript = TranscriptParser.parse(rawText)
        // avg_logprob of each segment, from the final attempt's tokens (a resumed prefix is teacher-forced,
        // so its tokens have their log-probabilities too).
        let logProbs = result.prefixLogProbs + result.logProbs
        if let averages = SegmentLogProbs.averages(tokens: generated, logProbs: logProbs, tokenizer: tokenizer),
           averages.count == transcript.segments.count {
            for i in averages.indices { transcript.segments[i].avgLogprob = averages[i] }
        }
        transcript.segments = transcript.segments.map { $0.shifted(by: offset) }
        transcript.duration = duration
        transcript.tokens = generated
        transcript.tokenLogprobs = logProbs.count == generated.count ? logProbs : nil
        transcript.promptTokens = prompt.count
        var out = TranscriptionResult(transcript: transcript, audioSeconds: duration,
                                      stopReason: result.stopReason, timings: timings)
        out.loopRecoveries = recoveries
        return out
    }

    /// The decoded text without the `assistant` header the model writes first.
    static func stripAssistantHeader(_ text: String) -> String {
        var t = Substring(text)
        while let f = t.first, f.isWhitespace { t = t.dropFirst() }
        if t.hasPrefix("assistant") { t = t.dropFirst("assistant".count) }
        while let f = t.first, f.isNewline || f == " " { t = t.dropFirst() }
        return String(t)
    }
}

extension Segment {
    /// The same segment `offset` seconds later.
    public func shifted(by offset: Double) -> Segment {
        offset == 0 ? self : Segment(start: start + offset, end: end + offset, speaker: speaker, text: text,
                                     avgLogprob: avgLogprob)
    }
}
