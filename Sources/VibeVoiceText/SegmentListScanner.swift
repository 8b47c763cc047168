/// Finds the model's segment list in its output and walks it element by element.
///
/// The same walker serves the one-shot parse (the whole text is there) and the streaming parse (text
/// arrives in chunks), so both see the same elements: an element is reported only once it is complete,
/// and a decision is taken only on bytes that are already there.
///
/// Rules:
/// - The list starts at the first `[` whose next non-space character is `{` (so `[Music]` in plain text
///   never starts one). Text before it (`assistant`, a code fence, a preamble) is skipped.
/// - Between elements, spaces and commas are skipped; `]` closes the list; text after it is ignored.
/// - An element that is not JSON is skipped up to the next `{` after the byte where it broke
///   (resynchronisation), so one damaged segment does not cost the ones after it. Every byte is read a
///   bounded number of times: the walk is linear in the text.
/// - An element nested deeper than `TranscriptJSONScanner.maxDepth` is skipped the same way, and its
///   offset kept in `firstTooDeep`.
struct SegmentListScanner: Sendable {
    enum Phase: Sendable, Equatable {
        /// Looking for the `[` that opens the list.
        case seeking
        /// Inside the list.
        case inList
        /// Inside the list, skipping a damaged element: looking for the next `{`.
        case resyncing
        /// The list was closed by `]`.
        case closed
    }

    /// One complete element of the list and the bytes it spans.
    struct Element {
        var value: TranscriptJSONValue
        var range: Range<Int>
    }

    private(set) var phase: Phase = .seeking
    /// The byte offset of the first value nested deeper than `TranscriptJSONScanner.maxDepth`, if any
    /// (its element was skipped).
    private(set) var firstTooDeep: Int?
    /// The next byte offset to look at.
    private(set) var position: Int
    /// The pending element ran out of text inside a string when the text ended at `scannedEnd`.
    private var waitingForQuote = false
    private var scannedEnd = 0

    init(start: Int = 0) {
        position = start
    }

    /// Walks `bytes[position..<end]` as far as the bytes allow and returns the elements completed on the way.
    mutating func advance(_ bytes: [UInt8], end: Int) -> [Element] {
        let scanner = TranscriptJSONScanner(bytes: bytes, end: end)
        var found: [Element] = []
        while true {
            switch phase {
            case .closed:
                return found
            case .seeking:
                guard let open = bytes[position..<end].firstIndex(of: UInt8(ascii: "[")) else {
                    position = end
                    return found
                }
                var j = open + 1
                scanner.skipSpace(&j)
                if j == end {
                    position = open   // wait: the next character decides
                    return found
                }
                if bytes[j] == UInt8(ascii: "{") {
                    phase = .inList
                    position = j
                } else {
                    position = open + 1
                }
            case .inList:
                if waitingForQuote {
                    guard bytes[scannedEnd..<end].contains(UInt8(ascii: "\"")) else {
                        scannedEnd = end
                        return found
                    }
                    waitingForQuote = false
                }
                var i = position
                while i < end, TranscriptJSONScanner.isSpace(bytes[i]) || bytes[i] == UInt8(ascii: ",") { i += 1 }
                position = i
                guard i < end else { return found }
                if bytes[i] == UInt8(ascii: "]") {
                    phase = .closed
                    position = i + 1
                    return found
                }
                switch scanner.value(at: i) {
                case .value(let v, let e):
                    found.append(Element(value: v, range: i..<e))
                    position = e
                case .needMore(let inString):
                    // Retried from the element's start when more text arrives; an element that ran out
                    // inside a string cannot change before a `"` arrives (this keeps a long run-away
                    // string, as in a repetition loop, linear to stream).
                    waitingForQuote = inString
                    scannedEnd = end
                    return found
                case .invalid(let at):
                    // Resynchronise after the byte that broke the element, not inside it: the bytes before
                    // it were read already, and re-reading every object nested in a damaged element would
                    // make the walk quadratic (a million nested objects took minutes).
                    phase = .resyncing
                    position = max(i + 1, at)
                case .tooDeep(let at):
                    if firstTooDeep == nil { firstTooDeep = at }
                    phase = .resyncing
                    position = at + 1
                }
            case .resyncing:
                guard let open = bytes[position..<end].firstIndex(of: UInt8(ascii: "{")) else {
                    position = end
                    return found
                }
                phase = .inList
                position = open
            }
        }
    }
}

/// Turns one list element into a `Segment`, tolerating the key and value spellings the model uses.
enum SegmentDecoding {
    /// Keys compared case-insensitively with spaces, `_` and `-` removed.
    static let startKeys: Set<String> = ["start", "starttime", "begin", "starttimestamp", "startsec", "startseconds"]
    static let endKeys: Set<String> = ["end", "endtime", "stop", "endtimestamp", "endsec", "endseconds"]
    static let speakerKeys: Set<String> = ["speaker", "speakerid", "spk", "speakerlabel"]
    static let textKeys: Set<String> = ["content", "text", "transcript", "transcription"]

    static func normalisedKey(_ key: String) -> String {
        String(key.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || $0.properties.numericType != nil }
            .map(Character.init))
    }

    /// A segment from an object that has a text (`Content`) member; `nil` for anything else.
    /// A missing or unreadable start becomes the previous segment's end (0 for the first); a missing end
    /// becomes the start, so the text is kept even when its times are not. A time that reads as a number
    /// but is unusable (`TranscriptTime.isUsable`) is treated as missing and counted in `unusableTimes`.
    static func segment(from value: TranscriptJSONValue, previousEnd: Double?, unusableTimes: inout Int) -> Segment? {
        guard case .object(let members) = value else { return nil }
        var start: TranscriptJSONValue?
        var end: TranscriptJSONValue?
        var speaker: TranscriptJSONValue?
        var text: TranscriptJSONValue?
        for m in members {
            let k = normalisedKey(m.key)
            if startKeys.contains(k) { start = m.value }
            else if endKeys.contains(k) { end = m.value }
            else if speakerKeys.contains(k) { speaker = m.value }
            else if textKeys.contains(k) { text = m.value }
        }
        guard let textValue = text, let content = string(textValue) else { return nil }
        let s = start.flatMap { usableSeconds($0, unusable: &unusableTimes) } ?? previousEnd ?? 0
        let e = end.flatMap { usableSeconds($0, unusable: &unusableTimes) } ?? s
        return Segment(start: s, end: e, speaker: speaker.flatMap(speakerNumber), text: content)
    }

    static func string(_ v: TranscriptJSONValue) -> String? {
        switch v {
        case .string(let s): return s
        case .number(_, let text): return text
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// Seconds from a number or a string: `"1.5"`, `"1,5"`, `"62.5s"`, `"01:02.5"`, `"00:01:02.5"`, `"00:01:02,500"`.
    /// The value may be unusable (see `TranscriptTime`); `usableSeconds` checks.
    static func seconds(_ v: TranscriptJSONValue) -> Double? {
        switch v {
        case .number(let d, _): return d
        case .string(let s): return seconds(fromText: s)
        default: return nil
        }
    }

    /// `seconds(v)` when it is usable; an unusable number adds one to `unusable` and gives `nil`.
    static func usableSeconds(_ v: TranscriptJSONValue, unusable: inout Int) -> Double? {
        guard let d = seconds(v) else { return nil }
        guard TranscriptTime.isUsable(d) else {
            unusable += 1
            return nil
        }
        return d
    }

    static func seconds(fromText raw: String) -> Double? {
        var s = TranscriptText.trimmed(raw).lowercased()
        if s.hasSuffix("s"), !s.hasSuffix("ms") { s.removeLast() }
        s = TranscriptText.trimmed(s)
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.count <= 3 else { return nil }
        var total = 0.0
        for (k, part) in parts.enumerated() {
            let isLast = k == parts.count - 1
            // Only the seconds part may have a fraction (decimal point or comma, as in SRT).
            let text = String(part.map { isLast && $0 == "," ? "." : $0 })
            // A number too large for a double reads as infinity here; the caller counts it as unusable.
            guard !text.isEmpty, text.allSatisfy({ "0123456789.-+eE".contains($0) }),
                  let x = Double(text), !x.isNaN else { return nil }
            if parts.count > 1, x < 0 || (!isLast && x != x.rounded()) { return nil }
            total = total * 60 + x
        }
        return total
    }

    /// A speaker number from `0`, `1.0`, `"1"`, `"Speaker 1"`, `"SPEAKER_01"`; `nil` for `null` or anything else.
    /// OpenAI's diarized speaker labels read back: `A` is 0, `Z` 25, `AA` 26 (at most three letters).
    static func letterLabel(_ s: String) -> Int? {
        let scalars = s.unicodeScalars
        guard (1...3).contains(scalars.count), scalars.allSatisfy({ ("A"..."Z").contains($0) }) else { return nil }
        return scalars.reduce(0) { $0 * 26 + Int($1.value - 64) } - 1
    }

    static func speakerNumber(_ v: TranscriptJSONValue) -> Int? {
        switch v {
        case .number(let d, _):
            guard d.isFinite, d == d.rounded(), abs(d) < 1e15 else { return nil }
            return Int(d)
        case .string(let raw):
            let s = TranscriptText.trimmed(raw)
            if let n = Int(s) { return n }
            if let n = letterLabel(s) { return n }
            let digits = s.reversed().prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count < 16 else { return nil }
            return Int(String(digits.reversed()))
        default:
            return nil
        }
    }
}
