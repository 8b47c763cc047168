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
    /// Which audio stream of a file with several `transcribe(file:)` decodes, counted from 0 among the file's
    /// audio streams (ffmpeg's `-map 0:a:N`).
    public var audioStream = 0
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
    /// Polled between stages, between windows and after every generated token: once it returns true the
    /// request stops with `TranscriberError.cancelled` (a server uses it for disconnects and timeouts).
    public var isCancelled: (@Sendable () -> Bool)?
    /// Exact speculative decoding for greedy decoding: drafts from the transcript's structure and from text
    /// seen before, verified several tokens per step; the output is identical with it off.
    public var speculative = true
    /// Longest draft per step (up to `maxDraftTokens + 1` rows per forward).
    public var maxDraftTokens = 7

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
    /// `quantize`: building a decoder whose load was deferred until after the first encoding (quantising it with
    /// `--weights`, or making a stored q4_0 checkpoint's in-memory decode layout).
    case audio, encode, quantize, prefill, decode
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
    /// Decode forward steps taken, and drafted tokens accepted (speculative decoding).
    public var decodeSteps = 0
    public var acceptedDraftTokens = 0
}

/// Errors of the pipeline itself (the stages raise their own typed errors).
public enum TranscriberError: Error, CustomStringConvertible, Sendable {
    case tokenizerNotFound(modelDirectory: String)
    /// `TranscriptionOptions.isCancelled` said stop.
    case cancelled
    /// The buffers one window needs could not be allocated (a memory limit).
    case outOfMemory(audioSeconds: Double, bytes: Int)

    public var description: String {
        switch self {
        case let .tokenizerNotFound(dir):
            return "no tokenizer.json in \(dir); the original microsoft/VibeVoice-ASR checkpoint ships none " +
                "(it uses the Qwen/Qwen2.5-7B tokenizer): pass --tokenizer PATH to a tokenizer.json or a directory holding one"
        case .cancelled:
            return "the transcription was cancelled"
        case let .outOfMemory(seconds, bytes):
            return String(format: "not enough memory to transcribe %.0f s of audio in one pass (about %.2f GB of buffers); "
                              + "raise the memory limit, or use a shorter --max-single-pass", seconds, Double(bytes) / 1e9)
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
    ///
    /// `deferDecoder`: the decoder is built (quantised, or laid out for decode) after the first encoding rather than at load
    /// (`VibeVoiceASRModel.init(directory:weights:kvCache:deferDecoder:)`), which lowers a single clip's peak memory.
    public convenience init(modelDirectory: URL, tokenizerPath: URL? = nil, weights: DType? = nil,
                            kvCache: KVCache.Format = .f32, deferDecoder: Bool = false) throws {
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
        let model = try VibeVoiceASRModel(directory: modelDirectory, weights: weights, kvCache: kvCache,
                                          deferDecoder: deferDecoder)
        try self.init(model: model, tokenizer: tokenizer)
    }

    /// Transcribes an audio file (any format the audio module decodes).
    public func transcribe(file: URL, options: TranscriptionOptions = .init(),
                           onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) throws -> TranscriptionResult {
        onEvent(.stageStarted(.audio))
        let t0 = Date()
        let signal = try AudioLoader.load(contentsOf: file, maxDuration: options.maxAudioSeconds,
                                          audioStream: options.audioStream)
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
        let job = try InputJob(transcriber: self, samples: raw, options: options, onEvent: onEvent)
        let stepper = BatchDecoder(decoder: model.decoder)
        while job.result == nil {
            if let s = job.stream { stepper.step([s]) }
            try job.advance()
        }
        return job.result!
    }

    /// Generation settings for a request: stop tokens, sampling, and exact speculative decoding with drafts
    /// from the transcript's own structure (greedy only; `options.speculative`).
    func generationOptions(_ options: TranscriptionOptions, budget: Int) -> GenerationOptions {
        var stops: Set<Int> = []
        if let eot = tokenizer.id(forToken: "<|endoftext|>") { stops.insert(eot) }
        if options.stopAtImEnd, let imEnd = tokenizer.id(forToken: "<|im_end|>") { stops.insert(imEnd) }
        var g = GenerationOptions(maxNewTokens: budget, stopTokenIDs: stops, temperature: options.temperature,
                                  topP: options.topP, repetitionPenalty: options.repetitionPenalty, seed: options.seed)
        if options.speculative && options.temperature <= 0 {
            let tokenizer = self.tokenizer
            g.maxDraftTokens = options.maxDraftTokens
            g.drafter = { TranscriptDrafter(tokenizer: tokenizer) }
        } else {
            g.maxDraftTokens = 0
        }
        return g
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

    static func checkCancelled(_ options: TranscriptionOptions) throws {
        if options.isCancelled?() == true { throw TranscriberError.cancelled }
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
                                     avgLogprob: avgLogprob, tokens: tokens)
    }
}
