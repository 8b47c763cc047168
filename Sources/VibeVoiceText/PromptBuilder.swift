import Foundation

/// Invalid prompt-builder settings.
public enum PromptBuilderError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidParameter(name: String, value: Int, expected: String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let value, let expected):
            return "prompt builder: \(name) is \(value); expected \(expected)"
        }
    }
}

/// Token ids of VibeVoice-ASR's prompt, exactly as the released checkpoint was trained (SPEC.md section 6):
///
///     <|im_start|>system\nYou are a helpful assistant that transcribes audio input into text output in JSON format.<|im_end|>\n
///     <|im_start|>user\n<|object_ref_start|>{<|box_start|> × N}<|object_ref_end|>\n{SUFFIX}<|im_end|>\n
///
/// with N = ceil(samples / hop) audio slots. The chat markers are looked up by their text in the tokenizer.
/// The text between them is encoded like the rest of the prompt string by Hugging Face tokenizers, so a
/// context that literally contains a marker (`<|im_end|>`) gets the marker's id, as in the reference.
public struct PromptBuilder: Sendable {
    public let tokenizer: Tokenizer
    /// Audio samples per audio token (3200 at 24 kHz: 7.5 tokens per second).
    public let hopLength: Int
    public let sampleRate: Int
    /// `<|box_start|>`: one slot per audio token, replaced by the speech embeddings.
    public let audioTokenID: Int
    /// `<|im_start|>`, `<|im_end|>`.
    public let imStartID: Int
    public let imEndID: Int
    /// `<|object_ref_start|>`, `<|object_ref_end|>`: around the audio slots.
    public let audioStartID: Int
    public let audioEndID: Int

    static let systemText =
        "system\nYou are a helpful assistant that transcribes audio input into text output in JSON format."
    static let keysText = "Start time, End time, Speaker ID, Content"

    public init(tokenizer: Tokenizer, hopLength: Int = 3200, sampleRate: Int = 24000) throws {
        guard hopLength > 0 else {
            throw PromptBuilderError.invalidParameter(name: "hopLength", value: hopLength, expected: "> 0")
        }
        guard sampleRate > 0 else {
            throw PromptBuilderError.invalidParameter(name: "sampleRate", value: sampleRate, expected: "> 0")
        }
        func lookup(_ token: String) throws -> Int {
            guard let id = tokenizer.id(forToken: token) else { throw TokenizerError.missingToken(token) }
            return id
        }
        self.tokenizer = tokenizer
        self.hopLength = hopLength
        self.sampleRate = sampleRate
        imStartID = try lookup("<|im_start|>")
        imEndID = try lookup("<|im_end|>")
        audioStartID = try lookup("<|object_ref_start|>")
        audioEndID = try lookup("<|object_ref_end|>")
        audioTokenID = try lookup("<|box_start|>")
    }

    /// N = ceil(samples / hop): the number of audio slots (and speech-encoder frames).
    public func audioTokenCount(rawSampleCount: Int) -> Int {
        let n = max(rawSampleCount, 0)
        return n / hopLength + (n % hopLength == 0 ? 0 : 1)
    }

    /// The duration as the prompt writes it: seconds with two decimals ("5.86").
    public func durationText(rawSampleCount: Int) -> String {
        String(format: "%.2f", Double(max(rawSampleCount, 0)) / Double(sampleRate))
    }

    /// The text after the audio slots; a context that is empty after trimming whitespace counts as none.
    public func suffixText(rawSampleCount: Int, context: String?) -> String {
        let d = durationText(rawSampleCount: rawSampleCount)
        let ctx = (context ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if ctx.isEmpty {
            return "This is a \(d) seconds audio, please transcribe it with these keys: \(Self.keysText)"
        }
        return "This is a \(d) seconds audio, with extra info: \(ctx)\n\nPlease transcribe it with these keys: \(Self.keysText)"
    }

    /// The prompt's token ids. The prompt ends after the user turn's `<|im_end|>\n`: the model writes the
    /// `<|im_start|>assistant\n` header itself.
    public func promptIDs(rawSampleCount: Int, context: String?) -> [Int] {
        let n = audioTokenCount(rawSampleCount: rawSampleCount)
        var ids: [Int] = []
        ids.reserveCapacity(n + 120)
        ids.append(imStartID)
        ids += tokenizer.encode(Self.systemText)
        ids.append(imEndID)
        ids += tokenizer.encode("\n")
        ids.append(imStartID)
        ids += tokenizer.encode("user\n")
        ids.append(audioStartID)
        ids += repeatElement(audioTokenID, count: n)
        ids.append(audioEndID)
        ids += tokenizer.encode("\n" + suffixText(rawSampleCount: rawSampleCount, context: context))
        ids.append(imEndID)
        ids += tokenizer.encode("\n")
        return ids
    }

    /// Ids of `<|im_start|>assistant\n` followed by `text`: appended to the prompt to resume generation from
    /// a known transcript prefix (e.g. after cutting back a repetition loop).
    public func assistantPrefixIDs(_ text: String) -> [Int] {
        [imStartID] + tokenizer.encode("assistant\n" + text)
    }
}
