/// One stretch of speech: who spoke (when the model said so), from when to when, and what was said.
///
/// Times are seconds from the start of the audio. Bracketed non-speech tags the model writes
/// (`[Music]`, `[Silence]`, `[Unintelligible Speech]`) are ordinary segment text.
public struct Segment: Sendable, Equatable, Hashable, Codable {
    /// Start time in seconds.
    public var start: Double
    /// End time in seconds.
    public var end: Double
    /// Speaker number as written by the model (`Speaker ID`), or `nil` when the model gave none.
    public var speaker: Int?
    /// What was said (the model's `Content`), as written.
    public var text: String
    /// The mean log-probability of the segment's generated tokens (OpenAI's `avg_logprob`), when the
    /// segment came from a model run; see `SegmentLogProbs` for which tokens belong to a segment.
    public var avgLogprob: Double?
    /// The generated token ids the segment owns (OpenAI's per-segment `tokens`), when it came from a model run.
    public var tokens: [Int]?

    public init(start: Double, end: Double, speaker: Int?, text: String, avgLogprob: Double? = nil, tokens: [Int]? = nil) {
        self.start = start
        self.end = end
        self.speaker = speaker
        self.text = text
        self.avgLogprob = avgLogprob
        self.tokens = tokens
    }
}
