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
/// Timing rules for subtitles and RTTM: times are rounded to the nearest millisecond (5.86 s is
/// `00:00:05,860`); a negative start becomes 0; an end before its start becomes the start (a zero-length
/// cue), so cues are never negative or reversed; hours take as many digits as they need
/// (`100:00:00,000`). Not-finite times count as 0.
///
/// A transcript with no segments but with `plainText` (the model wrote no segment list):
/// `text` and `verbose_json`'s `"text"` give the plain text; `json` gives `[]`; `srt`/`vtt` give one cue
/// from 0 to `duration` holding the text when the duration is known and positive, else no cues
/// (`vtt`: the header alone); `rttm` gives nothing (no speaker turns are known).
/// Segments whose text is empty (after whitespace is trimmed) make no subtitle cue; RTTM writes one line
/// for every segment.
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

    /// Whole milliseconds of `seconds`, clamped to 0 ... 10^12 s (not-finite → 0).
    static func milliseconds(_ seconds: Double) -> Int {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return Int((min(seconds, 1e12) * 1000).rounded())
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
    /// would end an SRT/VTT cue early).
    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { TranscriptText.trimmed(String($0)) }
            .filter { !$0.isEmpty }
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
            let end = max(start, milliseconds(seg.end))
            let who = seg.speaker.map { "speaker_\($0)" } ?? "speaker_unknown"
            out += "SPEAKER \(file) 1 \(decimalSeconds(start)) \(decimalSeconds(end - start)) <NA> <NA> \(who) <NA> <NA>\n"
        }
        return out
    }
}
