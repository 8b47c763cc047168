/// The formats a transcript can be written in.
public enum OutputFormat: String, CaseIterable, Sendable, Codable {
    /// `[{"start":0.0,"end":5.86,"speaker":0,"text":"..."}, ...]`, one segment per line.
    case json
    /// OpenAI's `verbose_json` (`task`, `language`, `duration`, `text`, `segments` with Whisper's fields and our
    /// `speaker`, `usage`), plus `truncated`, `tokens` and `prompt_tokens`.
    case verboseJSON = "verbose_json"
    /// OpenAI's `diarized_json`: `task`, `duration`, `text`, `segments` of `transcript.text.segment` objects with
    /// speakers labelled `A`, `B`, ..., `usage`.
    case diarizedJSON = "diarized_json"
    /// Transcription only: the segments' texts joined by one space.
    case text
    /// SubRip subtitles, speaker as a `[Speaker N]` prefix.
    case srt
    /// WebVTT subtitles, speaker as a voice tag `<v Speaker N>`.
    case vtt
    /// NIST RTTM diarisation lines: `SPEAKER <file> 1 <start> <duration> <NA> <NA> speaker_<N> <NA> <NA>`.
    case rttm

    /// The usual file name extension for the format.
    public var fileExtension: String {
        switch self {
        case .json, .verboseJSON, .diarizedJSON: return "json"
        case .text: return "txt"
        case .srt: return "srt"
        case .vtt: return "vtt"
        case .rttm: return "rttm"
        }
    }

    /// The format a file name extension suggests (`json` → `.json`, `txt` → `.text`), or `nil`.
    public init?(fileExtension ext: String) {
        switch ext.lowercased() {
        case "json": self = .json
        case "txt", "text": self = .text
        case "srt": self = .srt
        case "vtt": self = .vtt
        case "rttm": self = .rttm
        default: return nil
        }
    }

    /// The format a file name suggests: `NAME.verbose.json` (as `transcribe --output-dir` writes it) is
    /// `verbose_json`, otherwise as `init(fileExtension:)`.
    public init?(fileName: String) {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".verbose.json") { self = .verboseJSON; return }
        guard let dot = lower.lastIndex(of: "."), let f = OutputFormat(fileExtension: String(lower[lower.index(after: dot)...])) else {
            return nil
        }
        self = f
    }

    /// The format named `name` (case-insensitive; `verbose-json` is accepted for `verbose_json` and `txt`
    /// for `text`), or `nil`.
    public init?(name: String) {
        let n = name.lowercased().replacingHyphens()
        guard let f = OutputFormat(rawValue: n) ?? OutputFormat(fileExtension: n) else { return nil }
        self = f
    }
}

private extension String {
    func replacingHyphens() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}

/// Writes a `Transcript` in any `OutputFormat`. Every non-empty output ends with a newline.
///
/// Every format writes times through `TranscriptTime.clamped`: finite, within 0 ... 10^9 s, rounded to the
/// millisecond (a negative time is 0; NaN is 0; +∞ and anything above 10^9 s is 10^9 s), so no output holds
/// a non-finite number, whatever the segments hold.
///
/// Timing rules for subtitles and RTTM: times are rounded to the nearest millisecond (5.86 s is
/// `00:00:05,860`); an end before its start becomes the start (a zero-length cue), so cues are never
/// negative or reversed; hours take as many digits as they need (`100:00:00,000`). RTTM writes no line for
/// a turn of zero length after rounding (also a reversed one): such a turn holds no speech, and
/// diarisation tools (pyannote) drop it on reading anyway.
///
/// Subtitle text: CR, LF and CRLF are the only line breaks of SRT and WebVTT, and the strict parsers
/// (the WebVTT parser of the spec, ffmpeg, `srt`) take nothing else as one; lenient ones that split with
/// Python's `splitlines` (pysrt) also break at U+000B, U+000C, U+001C-U+001E, U+0085, U+2028 and U+2029.
/// So that every parser reads the same cue, those characters are written as a space.
///
/// A transcript with no segments but with `plainText` (the model wrote no segment list):
/// `text` and `verbose_json`'s `"text"` give the plain text; `json` gives `[]`; `srt`/`vtt` give one cue
/// from 0 to `duration` holding the text when the duration is known and positive, else no cues
/// (`vtt`: the header alone); `rttm` gives nothing (no speaker turns are known).
/// Segments whose text is empty (after whitespace is trimmed) make no subtitle cue; RTTM writes one line
/// for every segment of positive length.
public enum TranscriptRenderer {
    public static func render(_ t: Transcript, as format: OutputFormat, fileID: String = "audio") -> String {
        switch format {
        case .json: return json(t)
        case .verboseJSON: return RenderOpenAI.verbose(t)
        case .diarizedJSON: return RenderOpenAI.diarized(t)
        case .text: return text(t)
        case .srt: return srt(t)
        case .vtt: return vtt(t)
        case .rttm: return rttm(t, fileID: fileID)
        }
    }

    // MARK: json

    /// The `json` response of the HTTP API (OpenAI's `Transcription`): `{"text": ..., "usage": {...}}`.
    /// The CLI's `json` format stays the segment list.
    public static func openAIJSON(_ t: Transcript) -> String { RenderOpenAI.json(t) }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped; the rest raw).
    public static func jsonStringLiteral(_ s: String) -> String { RenderJSON.string(s) }

    /// One `transcript.text.segment` object, as in `diarized_json` and its streaming event.
    public static func diarizedSegmentJSON(_ s: Segment, index: Int) -> String {
        RenderOpenAI.diarizedSegment(s, index: index)
    }

    static func json(_ t: Transcript) -> String {
        guard !t.segments.isEmpty else { return "[]\n" }
        let lines = t.segments.map {
            "  {\"start\": \(RenderJSON.seconds($0.start)), \"end\": \(RenderJSON.seconds($0.end)), "
                + "\"speaker\": \(RenderJSON.int($0.speaker)), \"text\": \(RenderJSON.string($0.text))}"
        }
        return "[\n" + lines.joined(separator: ",\n") + "\n]\n"
    }

    // MARK: text

    static func text(_ t: Transcript) -> String {
        let s = t.text
        return s.isEmpty ? "" : s + "\n"
    }

    // MARK: subtitles

    struct Cue {
        var startMs: Int
        var endMs: Int
        var speaker: Int?
        var lines: [String]
    }

    /// Whole milliseconds of `seconds`, after `TranscriptTime.clamped`.
    static func milliseconds(_ seconds: Double) -> Int {
        Int((TranscriptTime.clamped(seconds) * 1000).rounded())
    }

    /// `HH:MM:SS<sep>mmm`, hours with at least two digits and as many more as needed.
    static func clock(_ ms: Int, separator: Character) -> String {
        let h = ms / 3_600_000
        let m = ms / 60_000 % 60
        let s = ms / 1000 % 60
        let f = ms % 1000
        return pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2) + String(separator) + pad(f, 3)
    }

    static func pad(_ x: Int, _ width: Int) -> String {
        let s = String(x)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Cue text lines: line breaks normalised, each line trimmed, empty lines dropped (a blank line
    /// would end an SRT/VTT cue early); the separators only some parsers break at become spaces.
    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { TranscriptText.trimmed(withoutLenientBreaks(String($0))) }
            .filter { !$0.isEmpty }
    }

    /// Characters Python's `str.splitlines` breaks at but SRT and WebVTT do not.
    static func isLenientLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func withoutLenientBreaks(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isLenientLineBreak) else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.map { isLenientLineBreak($0) ? " " : $0 }))
    }

    static func cues(_ t: Transcript) -> [Cue] {
        if t.segments.isEmpty {
            guard let plain = t.plainText, let d = t.duration, milliseconds(d) > 0 else { return [] }
            let l = lines(plain)
            return l.isEmpty ? [] : [Cue(startMs: 0, endMs: milliseconds(d), speaker: nil, lines: l)]
        }
        return t.segments.compactMap { seg in
            let l = lines(seg.text)
            guard !l.isEmpty else { return nil }
            let start = milliseconds(seg.start)
            return Cue(startMs: start, endMs: max(start, milliseconds(seg.end)), speaker: seg.speaker, lines: l)
        }
    }

    static func srt(_ t: Transcript) -> String {
        var out = ""
        for (i, cue) in cues(t).enumerated() {
            var lines = cue.lines
            if let sp = cue.speaker { lines[0] = "[Speaker \(sp)] " + lines[0] }
            out += "\(i + 1)\n"
            out += clock(cue.startMs, separator: ",") + " --> " + clock(cue.endMs, separator: ",") + "\n"
            out += lines.joined(separator: "\n") + "\n\n"
        }
        return out
    }

    /// Escapes the characters WebVTT cue text reserves (`&`, `<`, `>`; this also keeps `-->` out).
    static func vttEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    static func vtt(_ t: Transcript) -> String {
        var out = "WEBVTT\n"
        for cue in cues(t) {
            var lines = cue.lines.map(vttEscaped)
            if let sp = cue.speaker { lines[0] = "<v Speaker \(sp)>" + lines[0] }
            out += "\n" + clock(cue.startMs, separator: ".") + " --> " + clock(cue.endMs, separator: ".") + "\n"
            out += lines.joined(separator: "\n") + "\n"
        }
        return out
    }

    // MARK: rttm

    /// `ms` as seconds with three decimals (`5.860`).
    static func decimalSeconds(_ ms: Int) -> String {
        String(ms / 1000) + "." + pad(ms % 1000, 3)
    }

    /// RTTM names a file in one field: whitespace becomes `_`; an empty name becomes `audio`.
    static func rttmFileID(_ id: String) -> String {
        let s = String(id.map { $0.isWhitespace ? "_" : $0 })
        return s.isEmpty ? "audio" : s
    }

    static func rttm(_ t: Transcript, fileID: String) -> String {
        let file = rttmFileID(fileID)
        var out = ""
        for seg in t.segments {
            let start = milliseconds(seg.start)
            let end = milliseconds(seg.end)
            guard end > start else { continue }
            let who = seg.speaker.map { "speaker_\($0)" } ?? "speaker_unknown"
            out += "SPEAKER \(file) 1 \(decimalSeconds(start)) \(decimalSeconds(end - start)) <NA> <NA> \(who) <NA> <NA>\n"
        }
        return out
    }
}
