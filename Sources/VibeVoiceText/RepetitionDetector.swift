/// Detects the model's known failure on long or noisy audio: a repetition loop. A loop is a
/// pattern of at least `minPatternLength` characters repeated at least `minRepeats` times in a row
/// at the end of the last `window` characters (the upstream rule: ≥10 chars, ≥10 times, last 400).
public struct RepetitionDetector: Sendable {
    public var minPatternLength: Int
    public var minRepeats: Int
    public var window: Int

    public init(minPatternLength: Int = 10, minRepeats: Int = 10, window: Int = 400) {
        self.minPatternLength = minPatternLength
        self.minRepeats = minRepeats
        self.window = window
    }

    /// `true` when `text` ends in a loop.
    public func isLooping(_ text: String) -> Bool {
        let tail = Array(text.unicodeScalars.suffix(window))
        let n = tail.count
        let maxPattern = n / minRepeats
        guard maxPattern >= minPatternLength else { return false }
        for p in minPatternLength...maxPattern {
            let span = p * minRepeats
            var periodic = true
            var i = n - 1
            while i >= n - span + p {
                if tail[i] != tail[i - p] { periodic = false; break }
                i -= 1
            }
            if periodic { return true }
        }
        return false
    }
}
