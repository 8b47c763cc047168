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

/// The range of times a transcript carries, and what happens to a time outside it.
///
/// The model (or a hand-edited file) can write any number: `1e306`, a 400-digit integer, `"1e306:00:00"`.
/// Such a time is no position in any audio, and multiplied by 1000 for milliseconds it overflows to
/// infinity, which no JSON parser accepts. So:
/// - when a transcript is read (model output, `json`, `verbose_json`), a time that is not finite or whose
///   magnitude exceeds `maximum` is unusable: it is treated as missing (a start becomes the previous
///   segment's end, an end becomes its start; a `duration` is dropped) and the transcript's `warnings` say
///   how many were replaced;
/// - every renderer writes times clamped to `0 ... maximum` (not-finite: NaN and -∞ as 0, +∞ as
///   `maximum`), so no output ever holds a non-finite or negative number, whatever a library user puts in
///   a `Segment`.
public enum TranscriptTime {
    /// 10^9 s, about 31.7 years: far beyond any recording, and small enough that milliseconds stay exact.
    public static let maximum: Double = 1e9

    /// Whether a time read from a transcript can be kept.
    public static func isUsable(_ seconds: Double) -> Bool {
        seconds.isFinite && abs(seconds) <= maximum
    }

    /// `seconds` as the renderers write it: within `0 ... maximum`.
    public static func clamped(_ seconds: Double) -> Double {
        guard !seconds.isNaN else { return 0 }
        return min(max(seconds, 0), maximum)
    }

    /// The warning a transcript carries when `count` times were unusable.
    static func replacedWarning(_ count: Int) -> String {
        "\(count) time(s) in the transcript were not finite numbers of seconds within ±\(Int(maximum)); "
            + "each was treated as missing (a start became the previous segment's end, an end its start)"
    }
}
