/// Reads the model's output text into a `Transcript`.
///
/// The released checkpoint writes `assistant\n[{"Start":0,"End":5.86,"Speaker":0,"Content":"..."}]\n`
/// (special tokens skipped) or the same framed by `<|im_start|>`, `<|im_end|>`, `<|endoftext|>` (not skipped).
/// Tolerated: those frames; a leading `assistant`; code fences (```` ```json ... ``` ````); whitespace;
/// text before the list; key spellings (`Start`/`Start time`, `End`/`End time`, `Speaker`/`Speaker ID`,
/// `Content`/`Text`, any case); numbers as JSON numbers or strings (`"1.5"`, `"01:02.5"`, `"00:01:02.5"`);
/// a missing or `null` speaker (`nil`); `\u` escapes and raw non-ASCII text; an unclosed list (generation
/// cut by its token budget: every complete segment is kept and `isTruncated` is set); a damaged element
/// (skipped; the elements after it are kept).
/// Output with no segment list (plain text, a JSON object, garbage) gives no segments and keeps the cleaned
/// text in `plainText`. `rawText` always holds the input unchanged.
public enum TranscriptParser {
    public static func parse(_ raw: String) -> Transcript {
        let bytes = Array(raw.utf8)
        let range = cleanedRange(bytes)
        let walk = walkList(bytes, range)
        let cleaned = String(decoding: bytes[range], as: UTF8.self)
        var truncated = walk.scanner.phase == .inList || walk.scanner.phase == .resyncing
        if walk.scanner.phase == .seeking, walk.scanner.position < range.upperBound,
           walk.scanner.position == range.lowerBound {
            truncated = true   // the text is just `[` (and spaces): cut right after the list opened
        }
        let plainText: String?
        if !walk.segments.isEmpty || cleaned.isEmpty || isEmptyList(bytes[range]) {
            plainText = nil
        } else {
            plainText = cleaned
        }
        var warnings: [String] = []
        if walk.unusableTimes > 0 { warnings.append(TranscriptTime.replacedWarning(walk.unusableTimes)) }
        if let at = walk.scanner.firstTooDeep {
            warnings.append("the text nests deeper than \(TranscriptJSONScanner.maxDepth) levels at byte \(at); "
                                + "that list element was skipped")
        }
        return Transcript(segments: walk.segments.map(\.segment), rawText: raw, isTruncated: truncated,
                          plainText: plainText, warnings: warnings)
    }

    /// The output text without its frame: leading `<|im_start|>`, `assistant`, an opening code fence and
    /// whitespace; trailing `<|im_end|>`, `<|endoftext|>`, a closing code fence and whitespace.
    public static func cleaned(_ raw: String) -> String {
        let bytes = Array(raw.utf8)
        return String(decoding: bytes[cleanedRange(bytes)], as: UTF8.self)
    }

    /// The length, in UTF-8 bytes of `raw`, of the text up to and including the last complete segment and
    /// the comma after it (if written): the point to cut back to when recovering from a repetition loop.
    /// `nil` when `raw` holds no complete segment.
    public static func completeSegmentPrefixLength(_ raw: String) -> Int? {
        let bytes = Array(raw.utf8)
        guard let last = walkList(bytes, cleanedRange(bytes)).segments.last else { return nil }
        var i = last.range.upperBound
        let scanner = TranscriptJSONScanner(bytes: bytes)
        scanner.skipSpace(&i)
        if i < bytes.count, bytes[i] == UInt8(ascii: ",") { return i + 1 }
        return last.range.upperBound
    }

    /// The UTF-8 byte range in `raw` of each segment's JSON object (`{` to `}`), in the order of
    /// `parse(raw).segments`.
    public static func segmentByteRanges(_ raw: String) -> [Range<Int>] {
        let bytes = Array(raw.utf8)
        return walkList(bytes, cleanedRange(bytes)).segments.map(\.range)
    }

    /// `raw` cut after its last complete segment (see `completeSegmentPrefixLength`), or `nil`.
    public static func completeSegmentPrefix(_ raw: String) -> String? {
        guard let n = completeSegmentPrefixLength(raw) else { return nil }
        return String(decoding: Array(raw.utf8)[..<n], as: UTF8.self)
    }

    // MARK: - internals

    struct Located {
        var segment: Segment
        var range: Range<Int>
    }

    static func walkList(_ bytes: [UInt8], _ range: Range<Int>)
        -> (segments: [Located], scanner: SegmentListScanner, unusableTimes: Int) {
        var scanner = SegmentListScanner(start: range.lowerBound)
        var out: [Located] = []
        var unusable = 0
        for element in scanner.advance(bytes, end: range.upperBound) {
            if let s = SegmentDecoding.segment(from: element.value, previousEnd: out.last?.segment.end,
                                               unusableTimes: &unusable) {
                out.append(Located(segment: s, range: element.range))
            }
        }
        return (out, scanner, unusable)
    }

    static func isEmptyList(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]"), bytes.count >= 2 else { return false }
        return bytes.dropFirst().dropLast().allSatisfy(TranscriptJSONScanner.isSpace)
    }

    static func cleanedRange(_ bytes: [UInt8]) -> Range<Int> {
        var s = 0
        var e = bytes.count
        func has(_ word: String, at i: Int) -> Bool {
            let w = Array(word.utf8)
            return i + w.count <= e && bytes[i..<(i + w.count)].elementsEqual(w)
        }
        func hasSuffix(_ word: String) -> Int? {
            let w = Array(word.utf8)
            return e - w.count >= s && bytes[(e - w.count)..<e].elementsEqual(w) ? w.count : nil
        }
        func skipSpace() { while s < e, TranscriptJSONScanner.isSpace(bytes[s]) { s += 1 } }
        if has("\u{FEFF}", at: s) { s += 3 }
        skipSpace()
        if has("<|im_start|>", at: s) { s += "<|im_start|>".utf8.count; skipSpace() }
        if has("assistant", at: s) {
            let after = s + "assistant".utf8.count
            if after == e || TranscriptJSONScanner.isSpace(bytes[after])
                || [UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "`")].contains(bytes[after]) {
                s = after
                skipSpace()
            }
        }
        if has("```", at: s) {
            s += 3
            // the fence's language tag (`json`)
            while s < e, bytes[s] < 0x80, Character(Unicode.Scalar(bytes[s])).isLetter { s += 1 }
            skipSpace()
        }
        var changed = true
        while changed {
            changed = false
            while e > s, TranscriptJSONScanner.isSpace(bytes[e - 1]) { e -= 1; changed = true }
            for frame in ["<|endoftext|>", "<|im_end|>", "```"] {
                if let n = hasSuffix(frame) { e -= n; changed = true }
            }
        }
        return s..<e
    }
}

/// Parses segments while the model's output is still arriving (streaming): feed the decoded text in
/// chunks of any size; each call returns the segments that chunk completed. Fed the same text, it finds
/// the same segments as `TranscriptParser.parse`.
public struct IncrementalSegmentParser: Sendable {
    private var buffer: [UInt8] = []
    private var scanner = SegmentListScanner()
    /// Every segment completed so far.
    public private(set) var segments: [Segment] = []
    /// Unusable times met so far (see `TranscriptTime`).
    private var unusableTimes = 0

    public init() {}

    /// Adds decoded text; returns the segments completed by it (often none).
    public mutating func append(_ text: String) -> [Segment] {
        appendUTF8(text.utf8)
    }

    /// Adds raw UTF-8 bytes (a multi-byte character may be split across calls); returns the segments
    /// completed by them.
    public mutating func appendUTF8<Bytes: Sequence>(_ bytes: Bytes) -> [Segment] where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        var completed: [Segment] = []
        for element in scanner.advance(buffer, end: buffer.count) {
            if let s = SegmentDecoding.segment(from: element.value, previousEnd: segments.last?.end,
                                               unusableTimes: &unusableTimes) {
                segments.append(s)
                completed.append(s)
            }
        }
        return completed
    }

    /// All text received so far.
    public var text: String { String(decoding: buffer, as: UTF8.self) }

    /// `true` once the segment list has been closed by `]`: nothing after it can add segments.
    public var isListClosed: Bool { scanner.phase == .closed }

    /// The transcript of all text received so far, as `TranscriptParser.parse` reads it.
    public func finish() -> Transcript { TranscriptParser.parse(text) }
}
