/// The result of one transcription: the parsed segments plus everything needed to re-render or audit them.
public struct Transcript: Sendable, Equatable, Codable {
    /// The segments the model wrote, in the order it wrote them.
    public var segments: [Segment]
    /// The model's output text as it was decoded (or, for a transcript read back from a saved
    /// `json`/`verbose_json` file, the text of that file).
    public var rawText: String
    /// `true` when the segment list was never closed: generation stopped (token budget) in the middle of
    /// the list. The complete segments before the cut are in `segments`.
    public var isTruncated: Bool
    /// The cleaned output text when it held no segment list (plain text, a JSON object, garbage): kept so
    /// that nothing the model wrote is lost. `nil` when `segments` is not empty or the list was empty (`[]`).
    public var plainText: String?
    /// Duration of the audio in seconds, when known.
    public var duration: Double?
    /// Generated token ids, when known.
    public var tokens: [Int]?
    /// Number of prompt tokens, when known.
    public var promptTokens: Int?
    /// `log p` of each of `tokens` under the model (log-softmax of its raw logits), when known.
    public var tokenLogprobs: [Double]?
    /// The sampling temperature the transcript was generated at, when known (0 = greedy).
    public var temperature: Double?
    /// Things the user should know about this transcript (unusable times that were replaced, audio that
    /// decoded only in part), one sentence each; empty when there is nothing to say.
    public var warnings: [String]

    public init(segments: [Segment], rawText: String = "", isTruncated: Bool = false, plainText: String? = nil,
                duration: Double? = nil, tokens: [Int]? = nil, promptTokens: Int? = nil, warnings: [String] = []) {
        self.segments = segments
        self.rawText = rawText
        self.isTruncated = isTruncated
        self.plainText = plainText
        self.duration = duration
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.warnings = warnings
    }

    /// Transcription only: the segments' texts joined by one space and trimmed (as transformers'
    /// `transcription_only`), or the plain text when there are no segments.
    public var text: String {
        if segments.isEmpty { return plainText ?? "" }
        return TranscriptText.trimmed(segments.map(\.text).joined(separator: " "))
    }
}

/// Small text helpers shared by the parser and the renderers (no Foundation needed).
enum TranscriptText {
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace
    }

    static func trimmed(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }
}
