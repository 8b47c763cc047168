import Foundation
import VibeVoiceCompute

/// Errors raised while running the model on a request.
public enum ModelRunError: Error, CustomStringConvertible, Sendable {
    case audioTokenCountMismatch(promptSlots: Int, audioFrames: Int)
    case emptyAudio
    case tokenOutOfRange(Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .audioTokenCountMismatch(slots, frames):
            return "the prompt has \(slots) audio slots but the encoders produced \(frames) frames"
        case .emptyAudio:
            return "the audio has no samples"
        case let .tokenOutOfRange(id, vocab):
            return "token id \(id) is outside the model's vocabulary of \(vocab)"
        }
    }
}

/// Encoder outputs for one request.
public struct AudioFeatures: Sendable {
    public var acousticLatents: [Float]
    public var semanticLatents: [Float]
    /// Projected embeddings `[frames, hidden]`.
    public var embeddings: [Float]
    public var frames: Int

    public init(acousticLatents: [Float], semanticLatents: [Float], embeddings: [Float], frames: Int) {
        self.acousticLatents = acousticLatents
        self.semanticLatents = semanticLatents
        self.embeddings = embeddings
        self.frames = frames
    }

    /// No audio (a text-only prompt).
    public static let none = AudioFeatures(acousticLatents: [], semanticLatents: [], embeddings: [], frames: 0)
}

/// Progress events from the model's stages.
public enum ModelProgress: Sendable {
    case encoding(done: Int, total: Int)
    case prefill(done: Int, total: Int)
}

/// VibeVoice-ASR: two speech encoders, the projector and the Qwen2 decoder.
public final class VibeVoiceASRModel: Sendable {
    public let config: VibeVoiceConfig
    public let acousticEncoder: SpeechEncoder
    public let semanticEncoder: SpeechEncoder
    public let projector: AudioProjector
    /// The Qwen2 decoder. A model loaded with `deferDecoder` builds it here on first use (prefer calling
    /// `loadDecoder()` first, which reports a failure as an error instead of stopping the process).
    public var decoder: Qwen2Decoder {
        do { return try decoderSlot.get() } catch {
            fatalError("the deferred decoder could not be built (call loadDecoder() first to get the error): \(error)")
        }
    }
    private let decoderSlot: DecoderSlot
    /// Kept to release the encoders' mapped pages once the audio is encoded (`releaseEncoderWeightPages`).
    private let weights: WeightSource

    /// `kvCache` sets the element format of the decoder's key/value caches (f32, exact, unless asked).
    public convenience init(weights: WeightSource, config: VibeVoiceConfig, kvCache: KVCache.Format = .f32) throws {
        let decoder = try Qwen2Decoder(weights: weights, config: config.decoder, kvCacheFormat: kvCache)
        try self.init(weights: weights, config: config, decoder: DecoderSlot(ready: decoder))
    }

    private init(weights: WeightSource, config: VibeVoiceConfig, decoder: DecoderSlot) throws {
        self.config = config
        self.weights = weights
        acousticEncoder = try SpeechEncoder(weights: weights, prefix: "acoustic_tokenizer_encoder", config: config.acoustic)
        semanticEncoder = try SpeechEncoder(weights: weights, prefix: "semantic_tokenizer_encoder", config: config.semantic)
        projector = try AudioProjector(weights: weights, acousticDim: config.acoustic.hiddenSize,
                                       semanticDim: config.semantic.hiddenSize, hiddenSize: config.decoder.hiddenSize)
        decoderSlot = decoder
    }

    /// Loads a checkpoint directory (either layout, stored or quantised). With `weights` (a block format),
    /// a floating-point checkpoint's decoder matrices and token embedding are quantised while loading.
    ///
    /// `deferDecoder` checks the decoder's tensors now (names, shapes, dtypes) but builds it on first use
    /// (`loadDecoder()`): quantising it with `weights`, or making a stored q4_0 checkpoint's in-memory decode
    /// layout. The decoder is then not resident while the encoders run, and a single clip peaks near the larger of
    /// the two instead of their sum (about 1.4 GB above the decoder for the released model).
    public convenience init(directory: URL, weights: DType? = nil, kvCache: KVCache.Format = .f32,
                            deferDecoder: Bool = false) throws {
        let checkpoint = try Checkpoint(directory: directory)
        let config = checkpoint.config
        let quantizing = weights.map { QuantizingWeightSource(checkpoint: checkpoint, format: $0) }
        let source: WeightSource = quantizing ?? checkpoint
        guard deferDecoder else {
            try self.init(weights: source, config: config, kvCache: kvCache)
            return
        }
        // Every check building (and quantising) makes before it reads the data, on the stored tensors (header
        // reads and the small norms and biases), so a bad checkpoint still fails at load.
        let checked = try Qwen2Decoder(weights: quantizing?.checkingOnly ?? checkpoint.checkingOnly,
                                       config: config.decoder, kvCacheFormat: kvCache)
        let format = weights ?? checked.mainWeightFormat
        checkpoint.releaseResidentPages(prefix: "language_model.")
        let slot = DecoderSlot(format: format) {
            try Qwen2Decoder(weights: source, config: config.decoder, kvCacheFormat: kvCache)
        }
        try self.init(weights: source, config: config, decoder: slot)
    }

    /// Builds the decoder if it was deferred (quantising its weights: tens of seconds for the released model) and
    /// returns it; at once if it is built. A failure is returned again on every later call.
    @discardableResult
    public func loadDecoder() throws -> Qwen2Decoder { try decoderSlot.get() }

    /// Whether the decoder is built (always, unless the model was loaded with `deferDecoder` and not yet used).
    public var decoderIsLoaded: Bool { decoderSlot.isReady }

    /// The decoder's main matrix format, known before a deferred decoder is built.
    public var decoderWeightFormat: DType { decoderSlot.pendingFormat ?? decoder.mainWeightFormat }

    public var hopLength: Int { config.acoustic.hopLength }

    /// Drops the resident pages of the speech encoders' memory-mapped weights (about 1.4 GB for the released
    /// model). They are read only while encoding, so releasing them after it lowers the peak while the decoder
    /// runs; the next encoding faults them back in from the file (or the page cache).
    public func releaseEncoderWeightPages() {
        for e in CheckpointNames.encoderNames { weights.releaseResidentPages(prefix: "\(e)_tokenizer_encoder.") }
    }

    /// Audio tokens for `rawSamples` samples: `ceil(raw / hop)`.
    public func audioTokenCount(rawSamples: Int) -> Int {
        (rawSamples + hopLength - 1) / hopLength
    }

    /// Encodes loudness-normalised 24 kHz mono samples. The signal is zero-padded to a multiple of
    /// the hop, then both encoders run chunk by chunk (`acousticChunkSize` samples) with streaming
    /// caches, so memory grows with the chunk, not the file; with two or more threads they run side by side.
    /// `noiseSeed` turns on σ-VAE sampling of the acoustic latents (off by default: deterministic, like
    /// transformers' `sample=False`).
    public func encodeAudio(_ samples: [Float], noiseSeed: UInt64? = nil,
                            progress: (@Sendable (ModelProgress) -> Void)? = nil) throws -> AudioFeatures {
        guard !samples.isEmpty else { throw ModelRunError.emptyAudio }
        let hop = hopLength
        let padded = (samples.count + hop - 1) / hop * hop
        let chunk = max(1, config.acousticChunkSize)
        // With two or more threads the encoders run side by side, each on its share of the threads with BLAS held at
        // one thread (the products split their rows over the encoder's own threads instead).
        let threads = ComputeThreads.count
        let sideBySide = threads >= 2
        let acousticThreads = max(1, threads / 2)
        if sideBySide { BLAS.setThreadCount(1) }
        defer { if sideBySide { BLAS.setThreadCount(threads) } }
        var aState = acousticEncoder.makeState()
        var sState = semanticEncoder.makeState()
        var acoustic: [Float] = []
        var semantic: [Float] = []
        var frames = 0
        var start = 0
        while start < padded {
            let end = min(padded, start + chunk)
            var piece = [Float](repeating: 0, count: end - start)
            if start < samples.count {
                let avail = min(end, samples.count) - start
                piece.withUnsafeMutableBufferPointer { p in
                    samples.withUnsafeBufferPointer { s in
                        p.baseAddress!.update(from: s.baseAddress! + start, count: avail)
                    }
                }
            }
            var a: [Float] = [], s: [Float] = [], fa = 0
            Parallel.both(concurrently: sideBySide, {
                (a, fa) = acousticEncoder.encodeChunk(piece, state: &aState, threads: sideBySide ? acousticThreads : threads)
            }, {
                s = semanticEncoder.encodeChunk(piece, state: &sState, threads: sideBySide ? threads - acousticThreads : threads).latents
            })
            acoustic.append(contentsOf: a)
            semantic.append(contentsOf: s)
            frames += fa
            start = end
            progress?(.encoding(done: end, total: padded))
        }
        if let seed = noiseSeed, config.acoustic.vaeStd > 0 {
            var rng = SeededRandom(seed: seed)
            let scale = config.acoustic.vaeStd * rng.nextGaussian()
            for i in 0..<acoustic.count { acoustic[i] += scale * rng.nextGaussian() }
        }
        let embeddings = projector.forward(acoustic: acoustic, semantic: semantic, frames: frames)
        return AudioFeatures(acousticLatents: acoustic, semanticLatents: semantic, embeddings: embeddings, frames: frames)
    }

    /// Token embeddings of `promptIDs` with the audio slots replaced, in order, by the audio
    /// embeddings. `[promptIDs.count, hidden]`. The slot id is the config's `audio_token_id`
    /// unless given (the original layout's config has none; the tokenizer's `<|box_start|>` is it).
    public func fusedEmbeddings(promptIDs: [Int], audio: AudioFeatures, audioTokenID: Int? = nil) throws -> [Float] {
        let h = config.decoder.hiddenSize
        let slotID = audioTokenID ?? config.audioTokenID
        let slots = promptIDs.reduce(0) { $0 + ($1 == slotID ? 1 : 0) }
        guard slots == audio.frames else {
            throw ModelRunError.audioTokenCountMismatch(promptSlots: slots, audioFrames: audio.frames)
        }
        for id in promptIDs where id < 0 || id >= config.decoder.vocabSize {
            throw ModelRunError.tokenOutOfRange(id, vocabularySize: config.decoder.vocabSize)
        }
        var x = [Float](repeating: 0, count: promptIDs.count * h)
        x.withUnsafeMutableBufferPointer { xp in
            audio.embeddings.withUnsafeBufferPointer { ap in
                var next = 0
                for (i, id) in promptIDs.enumerated() {
                    let row = xp.baseAddress! + i * h
                    if id == slotID {
                        row.update(from: ap.baseAddress! + next * h, count: h)
                        next += 1
                    } else {
                        decoder.embed(id, into: row)
                    }
                }
            }
        }
        return x
    }

    /// Logits at every prompt position `[promptIDs.count, vocab]` (for parity checks).
    public func promptLogits(promptIDs: [Int], audio: AudioFeatures, audioTokenID: Int? = nil) throws -> [Float] {
        var x = try fusedEmbeddings(promptIDs: promptIDs, audio: audio, audioTokenID: audioTokenID)
        let n = promptIDs.count
        let cache = decoder.makeCache(capacity: n)
        var logits = [Float](repeating: 0, count: n * config.decoder.vocabSize)
        x.withUnsafeMutableBufferPointer { xp in
            decoder.forward(xp.baseAddress!, rows: n, cache: cache)
            logits.withUnsafeMutableBufferPointer { lp in
                decoder.logits(xp.baseAddress!, rows: n, into: lp.baseAddress!)
            }
        }
        return logits
    }

    /// Prefills the prompt (in blocks) and generates up to `maxNewTokens` tokens. `onToken` is
    /// called with each new token; returning false stops generation.
    public func generate(promptIDs: [Int], audio: AudioFeatures, audioTokenID: Int? = nil, options: GenerationOptions,
                         progress: (@Sendable (ModelProgress) -> Void)? = nil,
                         onToken: (Int) -> Bool = { _ in true }) throws -> GenerationResult {
        let session = try GenerationSession(model: self, promptIDs: promptIDs, audio: audio, audioTokenID: audioTokenID,
                                            options: options, progress: progress)
        return session.generate(options: options, onToken: onToken)
    }
}

/// The decoder, built at once or on first use. Thread-safe: one thread builds, the others wait for it.
private final class DecoderSlot: @unchecked Sendable {
    // @unchecked: `state` is only touched under `lock`.
    private enum State {
        case pending(() throws -> Qwen2Decoder)
        case ready(Qwen2Decoder)
        case failed(Error)
    }
    private let lock = NSLock()
    private var state: State
    private let format: DType?

    init(ready decoder: Qwen2Decoder) {
        state = .ready(decoder)
        format = nil
    }

    init(format: DType, build: @escaping () throws -> Qwen2Decoder) {
        state = .pending(build)
        self.format = format
    }

    var isReady: Bool {
        lock.lock()
        defer { lock.unlock() }
        if case .ready = state { return true }
        return false
    }

    /// The format a pending decoder will have (nil once it is built: ask the decoder).
    var pendingFormat: DType? {
        lock.lock()
        defer { lock.unlock() }
        if case .ready = state { return nil }
        return format
    }

    func get() throws -> Qwen2Decoder {
        lock.lock()
        defer { lock.unlock() }
        switch state {
        case let .ready(d): return d
        case let .failed(e): throw e
        case let .pending(build):
            do {
                let d = try build()
                state = .ready(d)
                return d
            } catch {
                state = .failed(error)
                throw error
            }
        }
    }
}
