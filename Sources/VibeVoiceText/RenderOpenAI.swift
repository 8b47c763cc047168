import CZlib

/// The OpenAI transcription shapes (`json`'s HTTP form, `verbose_json`, `diarized_json`), written so the
/// official `openai` client parses them into its own types (`Transcription`, `TranscriptionVerbose`,
/// `TranscriptionDiarized`); `scripts/check_openai_types.py` checks them against that package.
///
/// Fields OpenAI defines that this model does not produce get documented stand-ins:
/// - `language`: `"unknown"` (the model writes no language).
/// - segment `seek`: 0 (the audio is decoded in one pass, not in Whisper's 30 s windows).
/// - segment `tokens` and `avg_logprob`: the generated ids the segment owns and their mean log-probability
///   (see `SegmentLogProbs`) for a transcript from `transcribe`; `[]` and 0 when unknown (a transcript that
///   never had them). A reader takes `avg_logprob` as known only beside non-empty `tokens`.
/// - segment `no_speech_prob`: 1 for a segment the model labelled as a non-speech tag (its whole text
///   in brackets, as `[Music]` or `[Silence]`), else 0.
/// Honest values: `duration` (the audio's; when unknown, the last segment's end), segment `temperature`
/// (the sampling temperature of the request), `compression_ratio` (UTF-8 bytes of the segment text over
/// their zlib-compressed size, as Whisper computes it).
enum RenderOpenAI {
    /// `{"text": ..., "usage": {...}}`: the `json` response of the HTTP API.
    static func json(_ t: Transcript) -> String {
        var out = "{\"text\": \(RenderJSON.string(t.text))"
        if let u = usage(t) { out += ", \"usage\": " + u }
        return out + "}\n"
    }

    static func verbose(_ t: Transcript) -> String {
        var out = "{\n"
        out += "  \"task\": \"transcribe\",\n"
        out += "  \"language\": \"unknown\",\n"
        out += "  \"duration\": \(RenderJSON.seconds(duration(t))),\n"
        out += "  \"text\": \(RenderJSON.string(t.text)),\n"
        out += "  \"truncated\": \(t.isTruncated),\n"
        if !t.warnings.isEmpty {
            out += "  \"warnings\": [" + t.warnings.map(RenderJSON.string).joined(separator: ", ") + "],\n"
        }
        let temperature = RenderJSON.decimal(t.temperature ?? 0)
        if t.segments.isEmpty {
            out += "  \"segments\": []"
        } else {
            let lines = t.segments.enumerated().map { i, s in
                "    {\"id\": \(i), \"seek\": 0, \"start\": \(RenderJSON.seconds(s.start)), "
                    + "\"end\": \(RenderJSON.seconds(s.end)), \"speaker\": \(RenderJSON.int(s.speaker)), "
                    + "\"text\": \(RenderJSON.string(s.text)), \"tokens\": [\((s.tokens ?? []).map(String.init).joined(separator: ", "))], \"temperature\": \(temperature), "
                    + "\"avg_logprob\": \(RenderJSON.decimal(s.avgLogprob ?? 0)), "
                    + "\"compression_ratio\": \(RenderJSON.decimal(compressionRatio(s.text))), "
                    + "\"no_speech_prob\": \(isNonSpeechTag(s.text) ? "1.0" : "0.0")}"
            }
            out += "  \"segments\": [\n" + lines.joined(separator: ",\n") + "\n  ]"
        }
        if let u = usage(t) { out += ",\n  \"usage\": " + u }
        if let tokens = t.tokens {
            out += ",\n  \"tokens\": [" + tokens.map(String.init).joined(separator: ", ") + "]"
        }
        if let p = t.promptTokens { out += ",\n  \"prompt_tokens\": \(p)" }
        out += "\n}\n"
        return out
    }

    static func diarized(_ t: Transcript) -> String {
        var out = "{\n"
        out += "  \"task\": \"transcribe\",\n"
        out += "  \"duration\": \(RenderJSON.seconds(duration(t))),\n"
        out += "  \"text\": \(RenderJSON.string(t.text)),\n"
        if t.segments.isEmpty {
            out += "  \"segments\": []"
        } else {
            let lines = t.segments.enumerated().map { i, s in
                "    " + diarizedSegment(s, index: i)
            }
            out += "  \"segments\": [\n" + lines.joined(separator: ",\n") + "\n  ]"
        }
        if let u = usage(t) { out += ",\n  \"usage\": " + u }
        out += "\n}\n"
        return out
    }

    /// One `transcript.text.segment` object (also the payload of the streaming event of that name).
    static func diarizedSegment(_ s: Segment, index: Int) -> String {
        "{\"type\": \"transcript.text.segment\", \"id\": \"seg_\(index)\", "
            + "\"start\": \(RenderJSON.seconds(s.start)), \"end\": \(RenderJSON.seconds(s.end)), "
            + "\"speaker\": \(RenderJSON.string(speakerLabel(s.speaker))), \"text\": \(RenderJSON.string(s.text))}"
    }

    /// OpenAI labels speakers `A`, `B`, ...: speaker 0 is `A`, 25 is `Z`, 26 is `AA`; no speaker is `unknown`.
    static func speakerLabel(_ speaker: Int?) -> String {
        guard var n = speaker, n >= 0 else { return "unknown" }
        var letters: [Character] = []
        repeat {
            letters.append(Character(Unicode.Scalar(UInt8(65 + n % 26))))
            n = n / 26 - 1
        } while n >= 0
        return String(letters.reversed())
    }

    /// Billing by audio duration: `{"type": "duration", "seconds": S}`.
    static func usage(_ t: Transcript) -> String? {
        guard let d = t.duration, d.isFinite else { return nil }
        return "{\"type\": \"duration\", \"seconds\": \(RenderJSON.seconds(d))}"
    }

    static func duration(_ t: Transcript) -> Double {
        if let d = t.duration, d.isFinite { return d }
        return t.segments.map(\.end).filter(\.isFinite).max() ?? 0
    }

    /// Whisper's repetition signal: `len(utf8) / len(zlib.compress(utf8))` (zlib's default level).
    static func compressionRatio(_ text: String) -> Double {
        var bytes = Array(text.utf8)
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeMutableBufferPointer { b in
                compress2(o.baseAddress, &size, b.baseAddress, uLong(b.count), Z_DEFAULT_COMPRESSION)
            }
        }
        guard status == Z_OK, size > 0 else { return 0 }
        return Double(bytes.count) / Double(size)
    }

    /// A segment whose whole text is one bracketed tag (`[Music]`, `[Silence]`, `[Unintelligible Speech]`).
    static func isNonSpeechTag(_ text: String) -> Bool {
        let t = TranscriptText.trimmed(text)
        guard t.count >= 3, t.first == "[", t.last == "]" else { return false }
        return !t.dropFirst().dropLast().contains { $0 == "[" || $0 == "]" }
    }
}
