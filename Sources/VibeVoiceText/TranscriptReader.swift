/// Reads a saved transcript back: the model's raw output, a `json` transcript, or a `verbose_json`
/// transcript (all as written by `TranscriptRenderer`, or by hand).
///
/// - A JSON object with a `segments` list is read as `verbose_json`: segments (keys `start`, `end`,
///   `speaker`, `text`, or the model's spellings; `avg_logprob`), `duration`, `truncated`, `tokens`, `prompt_tokens`;
///   with no segments, its `text` becomes `plainText`.
/// - Anything else goes through `TranscriptParser.parse`, which reads both the model's raw output and a
///   `json` transcript (a list of segment objects).
/// `rawText` of the result is the text that was read.
public enum TranscriptReader {
    public static func read(_ text: String) -> Transcript {
        let bytes = Array(text.utf8)
        let range = TranscriptParser.cleanedRange(bytes)
        let scanner = TranscriptJSONScanner(bytes: bytes, end: range.upperBound)
        if range.lowerBound < range.upperBound, bytes[range.lowerBound] == UInt8(ascii: "{"),
           case .value(let value, let end) = scanner.value(at: range.lowerBound),
           end == range.upperBound,
           case .array(let elements)? = value["segments"] {
            return verbose(value, elements: elements, rawText: text)
        }
        return TranscriptParser.parse(text)
    }

    private static func verbose(_ object: TranscriptJSONValue, elements: [TranscriptJSONValue],
                                rawText: String) -> Transcript {
        var segments: [Segment] = []
        // Per-segment ids are ours only beside our top-level `tokens` (another tool's are another vocabulary's).
        var ours = false
        if case .array? = object["tokens"] { ours = true }
        for e in elements {
            if var s = SegmentDecoding.segment(from: e, previousEnd: segments.last?.end) {
                // Per-segment `tokens` mark a model run's values; without them `avg_logprob` is a placeholder
                // (OpenAI's shape needs a number), unless the file has no per-segment `tokens` key at all.
                var ids: [Int]?
                if case .array(let items)? = e["tokens"] {
                    ids = items.compactMap { if case .number(let v, _) = $0, v == v.rounded(), abs(v) < 1e9 { return Int(v) } else { return nil } }
                }
                if ours, let ids, !ids.isEmpty { s.tokens = ids }
                if case .number(let lp, _)? = e["avg_logprob"], lp.isFinite, ids == nil || !(ids!.isEmpty) { s.avgLogprob = lp }
                segments.append(s)
            }
        }
        var t = Transcript(segments: segments, rawText: rawText)
        if case .bool(let b)? = object["truncated"] { t.isTruncated = b }
        if let d = object["duration"].flatMap(SegmentDecoding.seconds) { t.duration = d }
        if case .array(let ids)? = object["tokens"] {
            let ints = ids.compactMap(integer)
            if ints.count == ids.count { t.tokens = ints }
        }
        if let p = object["prompt_tokens"].flatMap(integer) { t.promptTokens = p }
        if segments.isEmpty, case .string(let s)? = object["text"], !s.isEmpty { t.plainText = s }
        return t
    }

    private static func integer(_ v: TranscriptJSONValue) -> Int? {
        guard case .number(let d, _) = v, d == d.rounded(), abs(d) < 9e15 else { return nil }
        return Int(d)
    }
}
