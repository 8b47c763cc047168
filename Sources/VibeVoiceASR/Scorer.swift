import Foundation

/// What teacher-forcing a transcript gives.
public struct ScoreResult: Sendable {
    /// The transcript as teacher-forced (the model's own output format).
    public var body: String
    /// Mean negative log-likelihood of the transcript's own tokens: the body's tokens and the closing
    /// `<|im_end|>`, each given everything before it (prompt, audio, `<|im_start|>assistant\n`, earlier
    /// tokens). The assistant header and what follows `<|im_end|>` are not counted: they are the same for
    /// every candidate transcript.
    public var nll: Double
    public var perplexity: Double { Foundation.exp(nll) }
    /// The scored tokens and their log-probabilities.
    public var tokens: [Int]
    public var tokenLogprobs: [Double]
    /// The transcript's segments (as parsed from `body`) with their `avgLogprob`.
    public var segments: [Segment]
    /// transformers' training loss for the conversation [user: audio + context, assistant: transcript], as
    /// `apply_chat_template(..., output_labels=True)` and the model's `ForCausalLMLoss` define it: the chat
    /// template drops the assistant turn, so this is the mean cross-entropy over the *prompt's* labelled
    /// tokens (system text, user header, instruction, context), independent of the transcript.
    public var referenceLoss: Double
    /// Positions that loss averages over.
    public var referenceLabelledPositions: Int
    public var promptTokens: Int
}

extension Transcriber {
    /// Teacher-forces `body` (the model's output format; see `ModelOutputFormat.body(ofTranscriptFile:)`)
    /// after the transcription prompt for `samples` (24 kHz mono, before loudness normalisation) with
    /// `context` as the user turn's text item, verbatim (nil or empty: none). One prefill of prompt and
    /// transcript gives both figures; deterministic (no σ-VAE noise, transformers' `sample=False`).
    public func score(samples raw: [Float], body: String, context: String?) throws -> ScoreResult {
        guard !raw.isEmpty else { throw ModelRunError.emptyAudio }
        var samples = raw
        LoudnessNormalizer.normalize(&samples)
        let features = try model.encodeAudio(samples)

        var items: [ContentItem] = [.audio(.samples(raw.count))]
        if let context { items.append(.text(context)) }
        let renderer = ConversationRenderer(promptBuilder: promptBuilder)
        let prompt = try renderer.ids(for: Conversation([.user(items), .assistant(body)]), template: .reference)
        let labels = renderer.referenceLabels(prompt)
        let labelled = (1..<prompt.count).filter { labels[$0] != -100 }

        let b = promptBuilder
        let header = [b.imStartID] + tokenizer.encode("assistant\n")
        let scored = tokenizer.encode(body) + [b.imEndID]
        let full = prompt + header + scored
        let replyStart = prompt.count + header.count
        let positions = labelled + Array(replyStart..<full.count)

        let session = DecoderSession(model: model, audioTokenID: b.audioTokenID, capacity: full.count)
        let logprobs = try session.extend(to: full, audio: features, scorePositions: positions)
        let promptPart = logprobs[0..<labelled.count]
        let reply = Array(logprobs[labelled.count...])

        var segments = TranscriptParser.parse(body).segments
        if let averages = SegmentLogProbs.averages(tokens: scored, logProbs: reply, tokenizer: tokenizer),
           averages.count == segments.count {
            for i in averages.indices { segments[i].avgLogprob = averages[i] }
        }
        return ScoreResult(body: body, nll: -reply.reduce(0, +) / Double(reply.count), tokens: scored,
                           tokenLogprobs: reply, segments: segments,
                           referenceLoss: labelled.isEmpty ? .nan : -promptPart.reduce(0, +) / Double(labelled.count),
                           referenceLabelledPositions: labelled.count, promptTokens: prompt.count)
    }

    /// `score(samples:body:context:)` for an audio file.
    public func score(file: URL, body: String, context: String?, maxAudioSeconds: Double? = nil,
                      audioStream: Int = 0) throws -> ScoreResult {
        let signal = try AudioLoader.load(contentsOf: file, maxDuration: maxAudioSeconds, audioStream: audioStream)
        return try score(samples: signal.samples, body: body, context: context)
    }
}

/// transformers' training loss for a conversation.
public struct ReferenceLoss: Sendable {
    public var loss: Double
    /// Positions the loss averages over (labels other than -100, after the shift).
    public var labelledPositions: Int
    public var inputIDs: [Int]
    public var labels: [Int]
}

extension Transcriber {
    /// The loss transformers 5.23.0 computes for `conversation` with `apply_chat_template(...,
    /// output_labels=True)` and `model(**inputs, sample=False).loss`: the reference rendering
    /// (`ConversationRenderer`, assistant turns dropped), labels from `referenceLabels`, shifted by one,
    /// mean cross-entropy. `audio` holds each audio item's 24 kHz samples (before loudness normalisation),
    /// in `conversation.audioItems` order. The reference's default `sample=True` would add σ-VAE noise and
    /// make the loss vary from run to run; this is the deterministic one.
    public func referenceLoss(for conversation: Conversation, systemPrompt: String? = nil,
                              audio: [[Float]]) throws -> ReferenceLoss {
        let renderer = ConversationRenderer(promptBuilder: promptBuilder)
        let ids = try renderer.ids(for: conversation, template: .reference, systemPrompt: systemPrompt,
                                   audioSampleCounts: audio.map(\.count))
        let labels = renderer.referenceLabels(ids)
        let positions = (1..<max(1, ids.count)).filter { labels[$0] != -100 }
        let features = try AudioFeatures.concatenated(audio.map { raw in
            var samples = raw
            LoudnessNormalizer.normalize(&samples)
            return try model.encodeAudio(samples)
        })
        let session = DecoderSession(model: model, audioTokenID: promptBuilder.audioTokenID, capacity: ids.count)
        let logprobs = try session.extend(to: ids, audio: features, scorePositions: positions)
        let loss = positions.isEmpty ? Double.nan : -logprobs.reduce(0, +) / Double(positions.count)
        return ReferenceLoss(loss: loss, labelledPositions: positions.count, inputIDs: ids, labels: labels)
    }
}
