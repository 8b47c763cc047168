import Foundation

/// Settings of a conversation about audio.
public struct ChatOptions: Sendable {
    public var template: ConversationTemplate
    /// The system text (reference: the `system_prompt` variable; chatml: replaces a leading system
    /// message). nil: the conversation's own, else the trained default.
    public var systemPrompt: String?
    /// Token budget per reply.
    public var maxNewTokens: Int
    public var temperature: Float = 0
    public var topP: Float = 1
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0
    /// Which audio stream of each audio file is decoded, counted from 0 among the file's audio streams.
    public var audioStream = 0

    public init(template: ConversationTemplate = .chatml, systemPrompt: String? = nil, maxNewTokens: Int = 1024) {
        self.template = template
        self.systemPrompt = systemPrompt
        self.maxNewTokens = maxNewTokens
    }
}

/// One assistant reply and what it cost.
public struct ChatReply: Sendable {
    /// The reply as the conversation keeps it (reference template: without the `assistant` header the
    /// model writes itself).
    public var text: String
    public var tokens: [Int]
    public var stopReason: StopReason
    /// Length of the rendered conversation the reply follows.
    public var promptTokens: Int
    /// Of those, how many were already in the KV cache, and how many ran through the decoder now.
    public var reusedTokens: Int
    public var prefilledTokens: Int
    /// Audio items encoded for this reply (0 when every item was encoded for an earlier turn).
    public var encodedAudioItems: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

/// A conversation about recordings, turn by turn. Each audio item is encoded once, and the KV cache of the
/// conversation so far is kept between turns: a follow-up costs only the tokens the new rendering adds
/// (`ChatReply.prefilledTokens`), not a second encoding and prefill.
///
/// With the chatml template the model's own tokens stand for its earlier replies, so the new rendering
/// extends the cached one exactly. With the reference template the rendering drops assistant turns (and
/// the text of user turns without audio): the cache is rewound to the end of the previous prompt and the
/// new user turn appended, which matches what the reference would render; the model does not see its
/// earlier replies there.
///
/// Batched decoding of several conversations is not here yet: each session decodes on its own. The seam
/// is `prepareTurn()` (the ids and audio one decoding step needs), which a batch scheduler can collect
/// from many sessions.
public final class ConversationSession: @unchecked Sendable {
    public let transcriber: Transcriber
    public let options: ChatOptions
    public private(set) var conversation: Conversation
    /// Relative audio paths in the conversation are resolved against this folder.
    public let baseDirectory: URL
    private let session: DecoderSession
    private var features: [AudioFeatures] = []
    private var sampleCounts: [Int] = []
    /// chatml: the tokens the model generated for the assistant message at each index.
    private var assistantContentIDs: [Int: [Int]] = [:]

    public init(transcriber: Transcriber, conversation: Conversation = Conversation(), options: ChatOptions = ChatOptions(),
                baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        self.transcriber = transcriber
        self.conversation = conversation
        self.options = options
        self.baseDirectory = baseDirectory
        session = DecoderSession(model: transcriber.model, audioTokenID: transcriber.promptBuilder.audioTokenID)
    }

    /// Adds `message` (normally the user's) and generates the assistant's reply. `onText` receives the
    /// reply's text as it is decoded.
    @discardableResult
    public func send(_ message: Message, onText: (String) -> Void = { _ in }) throws -> ChatReply {
        conversation.messages.append(message)
        do {
            return try reply(onText: onText)
        } catch {
            conversation.messages.removeLast()
            throw error
        }
    }

    /// Adds a message without replying (to build up a turn, or to restore one).
    public func add(_ message: Message) {
        conversation.messages.append(message)
    }

    /// What one turn feeds the decoder: the rendered conversation and the embeddings of all its audio.
    public struct Turn {
        public var ids: [Int]
        public var audio: AudioFeatures
        public var encodedAudioItems: Int
    }

    /// Encodes audio items not seen before and renders the conversation.
    public func prepareTurn() throws -> Turn {
        let items = conversation.audioItems
        var encoded = 0
        while features.count < items.count {
            let item = items[features.count]
            guard let path = item.path else {
                throw ConversationError.invalidField(where: "audio item \(features.count + 1)",
                                                     expected: "a \"path\" to an audio file (a length alone cannot be transcribed)")
            }
            let url = URL(fileURLWithPath: path, relativeTo: baseDirectory).standardizedFileURL
            let raw = try AudioLoader.load(contentsOf: url, audioStream: options.audioStream).samples
            var samples = raw
            LoudnessNormalizer.normalize(&samples)
            features.append(try transcriber.model.encodeAudio(samples))
            sampleCounts.append(raw.count)
            encoded += 1
        }
        let renderer = ConversationRenderer(promptBuilder: transcriber.promptBuilder)
        let ids = try renderer.ids(for: conversation, template: options.template, systemPrompt: options.systemPrompt,
                                   audioSampleCounts: sampleCounts, assistantContentIDs: assistantContentIDs)
        return Turn(ids: ids, audio: AudioFeatures.concatenated(features), encodedAudioItems: encoded)
    }

    /// Generates the assistant's reply to the conversation as it stands (its last message the user's).
    @discardableResult
    public func reply(onText: (String) -> Void = { _ in }) throws -> ChatReply {
        let turn = try prepareTurn()
        let before = (session.reusedTokenCount, session.prefilledTokenCount)
        let t0 = Date()
        try session.extend(to: turn.ids, audio: turn.audio)
        let prefillSeconds = Date().timeIntervalSince(t0)

        let tok = transcriber.tokenizer
        var stops: Set<Int> = [transcriber.promptBuilder.imEndID]
        if let eot = tok.id(forToken: "<|endoftext|>") { stops.insert(eot) }
        var gen = GenerationOptions(maxNewTokens: max(1, options.maxNewTokens), stopTokenIDs: stops,
                                    temperature: options.temperature, topP: options.topP,
                                    repetitionPenalty: options.repetitionPenalty, seed: options.seed)
        gen.recordLogProbs = false
        var decoder = TokenStreamDecoder(tokenizer: tok, skipSpecialTokens: true)
        // The reference template has no generation prompt: the model writes `assistant\n` first; hold the
        // first characters back until it is clear whether that header is there, and drop it.
        var header = options.template == .reference ? "" : nil
        func emit(_ piece: String) {
            guard header != nil else { return onText(piece) }
            header! += piece
            if header!.count >= "assistant\n".count || header!.contains("\n") {
                onText(Transcriber.stripAssistantHeader(header!))
                header = nil
            }
        }
        let result = session.generate(options: gen) { id in
            emit(decoder.append(id))
            return true
        }
        emit(decoder.finish())
        if let held = header { onText(Transcriber.stripAssistantHeader(held)) }

        var content = result.tokens
        if result.stopReason == .stopToken { content.removeLast() }
        var text = tok.decode(content, skipSpecialTokens: true)
        if options.template == .reference { text = Transcriber.stripAssistantHeader(text) }
        conversation.messages.append(.assistant(text))
        if options.template == .chatml { assistantContentIDs[conversation.messages.count - 1] = content }
        return ChatReply(text: text, tokens: result.tokens, stopReason: result.stopReason, promptTokens: turn.ids.count,
                         reusedTokens: session.reusedTokenCount - before.0,
                         prefilledTokens: session.prefilledTokenCount - before.1,
                         encodedAudioItems: turn.encodedAudioItems, prefillSeconds: prefillSeconds,
                         decodeSeconds: result.decodeSeconds)
    }
}
