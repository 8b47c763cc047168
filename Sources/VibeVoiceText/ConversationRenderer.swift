/// How a conversation becomes prompt ids.
public enum ConversationTemplate: String, CaseIterable, Sendable {
    /// Exactly what transformers 5.23.0's `VibeVoiceAsrProcessor.apply_chat_template` gives with the released
    /// checkpoint's chat template (SPEC.md section 6.2), quirks kept (see `ConversationRenderer`).
    case reference
    /// The full Qwen ChatML conversation: every turn kept, audio blocks where they appear, and the
    /// `<|im_start|>assistant\n` generation prompt.
    case chatml
}

/// Renders a `Conversation` to prompt ids.
///
/// **reference**: what the reference does, step by step (transformers 5.23.0, checked token for token
/// against `Tests/Fixtures/conversations/prompts.json`):
/// 1. The template writes `<|im_start|>system\n{system_prompt}<|im_end|>`, where `system_prompt` is the
///    template variable (default: the trained "You are a helpful assistant that transcribes audio input
///    into text output in JSON format."). An empty `system_prompt` gives an empty system text.
///    **System messages in the conversation are dropped.**
/// 2. For each **user** message only: `\n<|im_start|>user\n`, then for every audio item in it
///    `<|object_ref_start|><|box_start|><|object_ref_end|>\n` and the instruction `This is a
///    <|AUDIO_DURATION|> seconds audio, please transcribe it with these keys: Start time, End time, Speaker
///    ID, Content` (or, when the message has a non-empty text item, `..., with extra info: {first text
///    item}\n\nPlease transcribe it ...`), then `<|im_end|>\n`. So: **assistant messages are dropped**;
///    **a user message's text items other than the first are dropped**, and the first is used only as the
///    extra info of its audio, verbatim (not trimmed); **a user message without audio keeps none of its
///    text** (an empty turn `<|im_start|>user\n<|im_end|>\n`); **a plain-string content is an empty turn
///    too**; **several audio items each repeat the instruction with the same extra info**, with no newline
///    between one instruction and the next block; consecutive turns are separated by a blank line
///    (`<|im_end|>\n\n<|im_start|>`); there is no generation prompt (the model writes
///    `<|im_start|>assistant\n` itself).
/// 3. The processor replaces each `<|AUDIO_DURATION|>` in the text, in order, by the next audio item's
///    duration (`len / 24000` with two decimals) — **also one typed by the user**, which leaves one
///    placeholder without a duration: the reference raises `StopIteration` (here: an error).
/// 4. It checks that the text holds as many `<|box_start|>` as there are audio items (**a typed
///    `<|box_start|>`, or audio in a system or assistant message, fails**), expands each to one slot per
///    3200 samples, and tokenises the whole text: **control tokens typed in a text item (`<|im_end|>`)
///    become control tokens**.
///
/// **chatml** (this engine's own rendering, for free-form questions):
///
///     <|im_start|>system\n{system}<|im_end|>\n
///     <|im_start|>{role}\n{content}<|im_end|>\n        for every message, in order
///     <|im_start|>assistant\n                           unless the last message is the assistant's
///
/// `{system}` is `systemPrompt` when given, else a leading system message (which then is not repeated),
/// else the trained default. `{content}`: a plain string as written, or the items joined by `\n`, an audio
/// item being `<|object_ref_start|>` + one `<|box_start|>` per 3200 samples + `<|object_ref_end|>`. Text is
/// tokenised as plain text (typed control tokens stay text). A user or system header is tokenised with
/// its text, as in the trained prompt; an assistant message's content is tokenised apart from its header,
/// as the model generates it after the generation prompt.
public struct ConversationRenderer: Sendable {
    public static let defaultSystemPrompt =
        "You are a helpful assistant that transcribes audio input into text output in JSON format."
    static let durationPlaceholder = "<|AUDIO_DURATION|>"
    static let slotText = "<|box_start|>"

    public let promptBuilder: PromptBuilder
    public var tokenizer: Tokenizer { promptBuilder.tokenizer }

    public init(promptBuilder: PromptBuilder) {
        self.promptBuilder = promptBuilder
    }

    public init(tokenizer: Tokenizer) throws {
        promptBuilder = try PromptBuilder(tokenizer: tokenizer)
    }

    /// The prompt ids of `conversation`.
    /// - Parameters:
    ///   - systemPrompt: the reference's `system_prompt` variable (nil: the default).
    ///   - audioSampleCounts: each audio item's length at 24 kHz, in `conversation.audioItems` order; nil
    ///     takes the items' own `sampleCount`s.
    ///   - assistantContentIDs: chatml only: for message index `i`, the ids of that assistant message's
    ///     content (the tokens the model generated), used instead of tokenising its text again.
    public func ids(for conversation: Conversation, template: ConversationTemplate, systemPrompt: String? = nil,
                    audioSampleCounts: [Int]? = nil, assistantContentIDs: [Int: [Int]] = [:]) throws -> [Int] {
        let counts = try sampleCounts(conversation, given: audioSampleCounts)
        switch template {
        case .reference: return try referenceIDs(conversation, systemPrompt: systemPrompt, sampleCounts: counts)
        case .chatml:
            return chatmlIDs(conversation, systemPrompt: systemPrompt, sampleCounts: counts,
                             assistantContentIDs: assistantContentIDs)
        }
    }

    private func sampleCounts(_ conversation: Conversation, given: [Int]?) throws -> [Int] {
        let items = conversation.audioItems
        if let given {
            guard given.count == items.count else {
                throw ConversationError.audioCountMismatch(items: items.count, sampleCounts: given.count)
            }
            return given
        }
        return try items.enumerated().map { k, item in
            guard let n = item.sampleCount else {
                throw ConversationError.invalidField(
                    where: "audio item \(k + 1)\(item.path.map { " (\($0))" } ?? "")",
                    expected: "its length (\"samples\"): load the audio, or give \"samples\" to render without it")
            }
            return n
        }
    }

    // MARK: reference

    /// The text the reference's chat template renders, before the processor fills in durations and audio slots.
    public func referenceTemplateText(_ conversation: Conversation, systemPrompt: String? = nil) -> String {
        var s = "<|im_start|>system\n" + (systemPrompt ?? Self.defaultSystemPrompt) + "<|im_end|>"
        let keys = PromptBuilder.keysText
        for message in conversation.messages where message.role == .user {
            s += "\n<|im_start|>user\n"
            if case .items(let items) = message.content {
                let context = items.lazy.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.first
                for case .audio in items {
                    s += "<|object_ref_start|>" + Self.slotText + "<|object_ref_end|>\n"
                    if let context, !context.isEmpty {
                        s += "This is a \(Self.durationPlaceholder) seconds audio, with extra info: \(context)\n\n"
                            + "Please transcribe it with these keys: \(keys)"
                    } else {
                        s += "This is a \(Self.durationPlaceholder) seconds audio, please transcribe it with these keys: \(keys)"
                    }
                }
            }
            s += "<|im_end|>\n"
        }
        return s
    }

    private func referenceIDs(_ conversation: Conversation, systemPrompt: String?, sampleCounts: [Int]) throws -> [Int] {
        // Durations, in order, for every placeholder (the processor's re.sub over the whole text).
        let pieces = referenceTemplateText(conversation, systemPrompt: systemPrompt)
            .split(separator: Self.durationPlaceholder, omittingEmptySubsequences: false)
        guard pieces.count - 1 <= sampleCounts.count else {
            throw ConversationError.reference(
                "StopIteration: \(pieces.count - 1) <|AUDIO_DURATION|> placeholders for \(sampleCounts.count) audio item(s)",
                hint: "remove the text <|AUDIO_DURATION|> from the messages")
        }
        var text = String(pieces[0])
        for (k, piece) in pieces.dropFirst().enumerated() {
            text += promptBuilder.durationText(rawSampleCount: sampleCounts[k]) + piece
        }
        // One <|box_start|> per audio item, each expanded to its slots.
        let parts = text.split(separator: Self.slotText, omittingEmptySubsequences: false)
        guard parts.count - 1 == sampleCounts.count else {
            throw ConversationError.reference(
                "ValueError: \(parts.count - 1) <|box_start|> placeholder(s) for \(sampleCounts.count) audio item(s)",
                hint: "put audio items only in user messages, and do not type <|box_start|> in a text item")
        }
        var ids = tokenizer.encode(String(parts[0]))
        for (k, part) in parts.dropFirst().enumerated() {
            ids += repeatElement(promptBuilder.audioTokenID, count: promptBuilder.audioTokenCount(rawSampleCount: sampleCounts[k]))
            ids += tokenizer.encode(String(part))
        }
        return ids
    }

    // MARK: chatml

    private func chatmlIDs(_ conversation: Conversation, systemPrompt: String?, sampleCounts: [Int],
                           assistantContentIDs: [Int: [Int]]) -> [Int] {
        let b = promptBuilder
        let newline = tokenizer.encodePlainText("\n")
        var messages = Array(conversation.messages.enumerated())
        var system = systemPrompt ?? Self.defaultSystemPrompt
        if let first = messages.first, first.element.role == .system {
            if systemPrompt == nil { system = first.element.text }
            messages.removeFirst()
        }
        var ids = [b.imStartID] + tokenizer.encodePlainText("system\n" + system) + [b.imEndID] + newline
        // Audio slots are numbered over the whole conversation (a dropped leading system message can hold none
        // in practice, but count its items so the lengths stay aligned).
        var nextAudio = 0
        if let first = conversation.messages.first, first.role == .system, case .items(let items) = first.content {
            nextAudio = items.filter { if case .audio = $0 { return true } else { return false } }.count
        }
        for (index, message) in messages {
            ids.append(b.imStartID)
            if message.role == .assistant {
                ids += tokenizer.encodePlainText("assistant\n")
                if let content = assistantContentIDs[index] {
                    ids += content
                    if case .items(let items) = message.content {
                        nextAudio += items.filter { if case .audio = $0 { return true } else { return false } }.count
                    }
                } else {
                    ids += contentIDs(message.content, header: nil, sampleCounts: sampleCounts, nextAudio: &nextAudio)
                }
            } else {
                ids += contentIDs(message.content, header: message.role.rawValue + "\n", sampleCounts: sampleCounts,
                                  nextAudio: &nextAudio)
            }
            ids.append(b.imEndID)
            ids += newline
        }
        if conversation.messages.last?.role != .assistant {
            ids += [b.imStartID] + tokenizer.encodePlainText("assistant\n")
        }
        return ids
    }

    /// A message's content; `header` (e.g. `user\n`) is tokenised together with the text that follows it.
    private func contentIDs(_ content: MessageContent, header: String?, sampleCounts: [Int], nextAudio: inout Int) -> [Int] {
        let b = promptBuilder
        var ids: [Int] = []
        var pendingText = header ?? ""
        func flush() {
            if !pendingText.isEmpty { ids += tokenizer.encodePlainText(pendingText) }
            pendingText = ""
        }
        switch content {
        case .string(let s):
            pendingText += s
        case .items(let items):
            for (k, item) in items.enumerated() {
                if k > 0 { pendingText += "\n" }
                switch item {
                case .text(let t):
                    pendingText += t
                case .audio:
                    flush()
                    ids.append(b.audioStartID)
                    ids += repeatElement(b.audioTokenID, count: b.audioTokenCount(rawSampleCount: sampleCounts[nextAudio]))
                    ids.append(b.audioEndID)
                    nextAudio += 1
                }
            }
        }
        flush()
        return ids
    }
}
