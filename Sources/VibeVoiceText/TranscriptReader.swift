/// Reads a saved transcript back: the model's raw output, a `json` transcript, or a `verbose_json`
/// transcript (all as written by `TranscriptRenderer`, or by hand).
///
/// - A JSON object with a `segments` list is read as `verbose_json`: segments (keys `start`, `end`,
///   `speaker`, `text`, or the model's spellings), `duration`, `truncated`, `tokens`, `prompt_tokens`, `warnings`;
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
        var unusable = 0
        for e in elements {
            if let s = SegmentDecoding.segment(from: e, previousEnd: segments.last?.end, unusableTimes: &unusable) {
                segments.append(s)
            }
        }
        var t = Transcript(segments: segments, rawText: rawText)
        if case .bool(let b)? = object["truncated"] { t.isTruncated = b }
        if let d = object["duration"].flatMap({ SegmentDecoding.usableSeconds($0, unusable: &unusable) }) { t.duration = d }
        if case .array(let saved)? = object["warnings"] {
            t.warnings = saved.compactMap { if case .string(let w) = $0 { return w } else { return nil } }
        }
        if unusable > 0 { t.warnings.append(TranscriptTime.replacedWarning(unusable)) }
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
