/// Reads a saved transcript back: the model's raw output, a `json` transcript, or a `verbose_json`
/// transcript (all as written by `TranscriptRenderer`, or by hand).
///
/// - A JSON object with a `segments` list is read as `verbose_json`: segments (keys `start`, `end`,
///   `speaker`, `text`, or the model's spellings; `avg_logprob` and `tokens`), `duration`, `truncated`, `tokens`, `prompt_tokens`, `warnings`;
///   with no segments, its `text` becomes `plainText`.
/// - Anything else goes through `TranscriptParser.parse`, which reads both the model's raw output and a
///   `json` transcript (a list of segment objects).
/// `rawText` of the result is the text that was read.
///
/// Reading is linear in the text. A value nested deeper than `TranscriptJSONScanner.maxDepth` (256) levels
/// is refused with `TranscriptReadError.tooDeep`: a saved transcript is a list of flat objects, so such
/// input is not one (and the model's own output, read by `TranscriptParser`, skips such an element instead).
public enum TranscriptReader {
    public static func read(_ text: String) throws(TranscriptReadError) -> Transcript {
        let bytes = Array(text.utf8)
        let range = TranscriptParser.cleanedRange(bytes)
        let scanner = TranscriptJSONScanner(bytes: bytes, end: range.upperBound)
        if range.lowerBound < range.upperBound, bytes[range.lowerBound] == UInt8(ascii: "{") {
            switch scanner.value(at: range.lowerBound) {
            case .value(let value, let end):
                if end == range.upperBound, case .array(let elements)? = value["segments"] {
                    return verbose(value, elements: elements, rawText: text)
                }
            case .tooDeep(let at):
                throw .tooDeep(byteOffset: at, limit: TranscriptJSONScanner.maxDepth)
            case .needMore, .invalid:
                break
            }
        }
        let walk = TranscriptParser.walkList(bytes, range)
        if let at = walk.scanner.firstTooDeep {
            throw .tooDeep(byteOffset: at, limit: TranscriptJSONScanner.maxDepth)
        }
        return TranscriptParser.parse(text)
    }

    private static func verbose(_ object: TranscriptJSONValue, elements: [TranscriptJSONValue],
                                rawText: String) -> Transcript {
        var segments: [Segment] = []
        var unusable = 0
        // Per-segment ids are ours only beside our top-level `tokens` (another tool's are another vocabulary's).
        var ours = false
        if case .array? = object["tokens"] { ours = true }
        for e in elements {
            if var s = SegmentDecoding.segment(from: e, previousEnd: segments.last?.end, unusableTimes: &unusable) {
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

/// Why a saved transcript cannot be read.
public enum TranscriptReadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A value is nested deeper than `limit` levels; `byteOffset` is where the level past the limit opens.
    case tooDeep(byteOffset: Int, limit: Int)

    public var description: String {
        switch self {
        case let .tooDeep(offset, limit):
            return "JSON nested deeper than \(limit) levels at byte \(offset): a transcript is a list of flat "
                + "segment objects; is this the right file?"
        }
    }
}
