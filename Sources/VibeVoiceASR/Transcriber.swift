@_exported import VibeVoiceAudio
@_exported import VibeVoiceModel
@_exported import VibeVoiceText
import Foundation

/// What to do for one transcription request.
public struct TranscriptionOptions: Sendable {
    /// Extra information for the model: names, topic, hotwords. Blank means none.
    public var context: String?
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

    /// Loads a model directory (either checkpoint layout). The tokenizer comes from
    /// `tokenizerPath` (a tokenizer.json or a directory holding one), else from the model directory.
    public convenience init(modelDirectory: URL, tokenizerPath: URL? = nil) throws {
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
        let model = try VibeVoiceASRModel(directory: modelDirectory)
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
    public func transcribe(samples raw: [Float], options: TranscriptionOptions = .init(),
                           onEvent: @escaping @Sendable (TranscriptionEvent) -> Void = { _ in }) throws -> TranscriptionResult {
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
        onEvent(.stageFinished(.encode, seconds: timings[.encode]!))

        let prompt = promptBuilder.promptIDs(rawSampleCount: raw.count, context: options.context)
        let budget = options.maxNewTokens ?? TranscriptionOptions.defaultMaxNewTokens(audioSeconds: duration)
        var stops: Set<Int> = []
        if let eot = tokenizer.id(forToken: "<|endoftext|>") { stops.insert(eot) }
        if options.stopAtImEnd, let imEnd = tokenizer.id(forToken: "<|im_end|>") { stops.insert(imEnd) }
        let genOptions = GenerationOptions(maxNewTokens: budget, stopTokenIDs: stops,
                                           temperature: options.temperature, topP: options.topP,
                                           repetitionPenalty: options.repetitionPenalty, seed: options.seed)

        onEvent(.stageStarted(.prefill))
        t = Date()
        var streamer = IncrementalSegmentParser()
        var decodeStarted = false
        var generated = 0
        let tokenizer = self.tokenizer
        let result = try model.generate(promptIDs: prompt, audio: features, audioTokenID: promptBuilder.audioTokenID,
                                        options: genOptions, progress: { p in
            if case let .prefill(done, total) = p { onEvent(.prefill(doneTokens: done, totalTokens: total)) }
        }, onToken: { id in
            if !decodeStarted {
                decodeStarted = true
                onEvent(.stageFinished(.prefill, seconds: Date().timeIntervalSince(t)))
                onEvent(.stageStarted(.decode))
            }
            generated += 1
            onEvent(.token(id: id, generated: generated, budget: budget))
            let bytes = tokenizer.decodeBytes([id], skipSpecialTokens: true)
            for segment in streamer.appendUTF8(bytes) { onEvent(.segment(segment)) }
            return true
        })
        timings[.prefill] = result.prefillSeconds
        timings[.decode] = result.decodeSeconds
        onEvent(.stageFinished(.decode, seconds: result.decodeSeconds))

        let rawText = tokenizer.decode(result.tokens, skipSpecialTokens: true)
        var transcript = TranscriptParser.parse(rawText)
        transcript.duration = duration
        transcript.tokens = result.tokens
        transcript.promptTokens = prompt.count
        return TranscriptionResult(transcript: transcript, audioSeconds: duration,
                                   stopReason: result.stopReason, timings: timings)
    }
}
