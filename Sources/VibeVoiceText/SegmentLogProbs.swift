/// Per-segment mean log-probabilities (OpenAI's `avg_logprob`) from per-token log-probabilities.
///
/// Which tokens belong to a segment: the model's output is decoded (special tokens skipped) and each
/// generated token owns the bytes it decodes to. A token belongs to the segment whose JSON object
/// (`{"Start":…,"Content":"…"}`, from its `{` to its `}`) holds the token's **first byte**. Tokens that
/// start outside every object — the `assistant` header, `[`, the `,` between objects, `]`, and the special
/// tokens, which decode to nothing — belong to no segment. A token that starts inside one object and runs
/// into the next (`"},{"`) counts for the one it starts in.
public enum SegmentLogProbs {
    /// `avg_logprob` for each segment of the decoded `tokens` (as `TranscriptParser.parse` finds them),
    /// or `nil` when a segment owns no token. `logProbs[i]` belongs to `tokens[i]`. Returns `nil` when the
    /// decoded bytes do not line up with the text (invalid UTF-8 repaired on decoding).
    public static func averages(tokens: [Int], logProbs: [Double], tokenizer: Tokenizer) -> [Double?]? {
        guard tokens.count == logProbs.count, let owned = owners(tokens: tokens, tokenizer: tokenizer) else { return nil }
        return owned.map { idx in idx.isEmpty ? nil : idx.reduce(0) { $0 + logProbs[$1] } / Double(idx.count) }
    }

    /// For each segment of the decoded `tokens`, the indices (into `tokens`) of the tokens it owns (rule above),
    /// or `nil` when the decoded bytes do not line up with the text.
    public static func owners(tokens: [Int], tokenizer: Tokenizer) -> [[Int]]? {
        var starts: [Int] = []
        var lengths: [Int] = []
        var bytes: [UInt8] = []
        for id in tokens {
            let b = tokenizer.decodeBytes([id], skipSpecialTokens: true)
            starts.append(bytes.count)
            lengths.append(b.count)
            bytes += b
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard Array(text.utf8) == bytes else { return nil }
        let ranges = TranscriptParser.segmentByteRanges(text)
        var owned = [[Int]](repeating: [], count: ranges.count)
        var k = 0
        for i in tokens.indices where lengths[i] > 0 {
            let first = starts[i]
            while k < ranges.count, ranges[k].upperBound <= first { k += 1 }
            guard k < ranges.count else { break }
            if ranges[k].contains(first) { owned[k].append(i) }
        }
        return owned
    }
}
