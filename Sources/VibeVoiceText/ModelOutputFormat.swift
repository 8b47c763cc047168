/// The model's own output format, for teacher-forcing a transcript: the text the model writes after
/// `<|im_start|>assistant\n`, e.g. `[{"Start":0,"End":5.86,"Speaker":0,"Content":"..."}]`.
public enum ModelOutputFormat {
    /// Segments written as the released checkpoint writes them: compact, keys `Start`, `End`, `Speaker`,
    /// `Content` in that order, times with at most two decimals and whole numbers without a point (`0`,
    /// `5.86`), text JSON-escaped with non-ASCII kept raw. A segment without a speaker has no `Speaker` key.
    public static func render(_ segments: [Segment]) -> String {
        let items = segments.map { s -> String in
            var fields = ["\"Start\":" + time(s.start), "\"End\":" + time(s.end)]
            if let sp = s.speaker { fields.append("\"Speaker\":\(sp)") }
            fields.append("\"Content\":" + RenderJSON.string(s.text))
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    /// `x` rounded to two decimals, in its shortest form; whole numbers without a decimal point.
    static func time(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 100).rounded() / 100
        if r == r.rounded(), abs(r) < 1e15 { return String(Int(r)) }
        return "\(r)"
    }

    /// The text to teacher-force for a transcript file: a raw model output (it uses the model's keys,
    /// `"Content":`) is kept as the model wrote it, without its frame (`<|im_start|>`, `assistant`, code fences,
    /// `<|im_end|>`, `<|endoftext|>`); a `json` or `verbose_json` transcript of this tool is rendered back
    /// into the model's format (`render`); anything else (plain text) is kept as it is, without its frame.
    public static func body(ofTranscriptFile text: String) throws -> String {
        let cleaned = TranscriptParser.cleaned(text)
        if cleaned.contains("\"Content\":") { return cleaned }
        let transcript = try TranscriptReader.read(text)
        if !transcript.segments.isEmpty { return render(transcript.segments) }
        return transcript.plainText ?? cleaned
    }
}

extension ConversationRenderer {
    /// The training labels transformers' processor gives with `output_labels=True`: the input ids, with the
    /// audio slots, `<|object_ref_start|>`, `<|object_ref_end|>` and the pad token (Qwen2.5's pad token,
    /// `<|endoftext|>`) replaced by -100. The model's loss then shifts them by one (logits at position i are
    /// scored against labels[i + 1]) and averages the cross-entropy over the labels that are not -100.
    public func referenceLabels(_ ids: [Int]) -> [Int] {
        let b = promptBuilder
        var masked: Set<Int> = [b.audioTokenID, b.audioStartID, b.audioEndID]
        if let pad = tokenizer.id(forToken: "<|endoftext|>") { masked.insert(pad) }
        return ids.map { masked.contains($0) ? -100 : $0 }
    }
}
