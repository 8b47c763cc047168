import Foundation
import VibeVoiceModel
import VibeVoiceText

/// Drafts for a transcript from its own JSON structure, falling back to prompt lookup (`NGramDrafter`) over the
/// prompt (context, hotwords) and everything written so far.
///
/// The model writes `<|im_start|>assistant\n[{"Start":S,"End":E,"Speaker":K,"Content":"…"},{"Start":…`. Outside
/// the `Content` text almost everything is predictable: the opening frame, the keys (in the spelling and order the
/// first segment used), a `Start` equal to the previous segment's `End` (segments usually touch; the first
/// starts at 0), and a speaker already seen (the most recent one other than the last segment's, since
/// conversations alternate). So the drafter predicts the text up to the next value it cannot know (an `End`, or
/// the content), checks that what has been written is a prefix of that prediction, and proposes the tokens of
/// the rest. Inside the content it uses prompt lookup. Drafts are verified against the model's own choices, so
/// a wrong guess only costs its rows.
public final class TranscriptDrafter: Drafter {
    private let ngram: NGramDrafter
    private let tokenizer: Tokenizer
    private var bytes: [UInt8] = []
    private var contextLength: Int?
    private var ids: [Int] = []
    private let frame: [Int]
    /// Key names in the order of the first complete segment (the released model: Start, End, Speaker, Content).
    private var keys = ["Start", "End", "Speaker", "Content"]
    private var keysLearned = false

    public init(tokenizer: Tokenizer, ngram: NGramDrafter = NGramDrafter(minN: 2, maxN: 5, draftLimits: [2: 1, 3: 3, 4: 5, 5: 7])) {
        self.tokenizer = tokenizer
        self.ngram = ngram
        frame = tokenizer.encode("<|im_start|>assistant\n[{\"")
    }

    public func observe(_ tokens: [Int]) {
        ngram.observe(tokens)
        if contextLength == nil {
            contextLength = tokens.count   // the prompt: not part of the transcript text
            return
        }
        ids += tokens
        bytes += tokenizer.decodeBytes(tokens)
    }

    public func propose(limit: Int) -> [Int] {
        guard limit > 0 else { return [] }
        // The opening frame, while the output still follows it.
        if ids.count < frame.count, Array(frame.prefix(ids.count)) == ids {
            return Array((Array(frame[ids.count...]) + text(prediction: "")).prefix(limit))
        }
        guard let segStart = lastSegmentStart() else { return ngram.propose(limit: limit) }
        let seg = String(decoding: bytes[segStart...], as: UTF8.self)
        let contentKey = "\"\(keys[keys.count - 1])\":\""
        if let c = seg.range(of: contentKey) {
            let content = seg[c.upperBound...]
            guard let close = Self.closingQuote(content) else { return ngram.propose(limit: limit) }
            // After the content: close the object and open the next segment.
            let after = String(content[content.index(after: close)...])
            learnKeys(String(seg[..<c.lowerBound]) + contentKey)
            let predicted = "},{\"" + head(written: "", previous: completedSegments(upToAndIncluding: seg))
            return tokens(continuing: after, of: predicted, limit: limit) ?? ngram.propose(limit: limit)
        }
        let predicted = head(written: seg, previous: completedSegments(upToAndIncluding: nil))
        return tokens(continuing: seg, of: predicted, limit: limit) ?? ngram.propose(limit: limit)
    }

    /// The tokens of `prediction` after `written`, when `written` is a prefix of it and something is left.
    private func tokens(continuing written: String, of prediction: String, limit: Int) -> [Int]? {
        guard prediction.hasPrefix(written), prediction.count > written.count else { return nil }
        let rest = String(prediction.dropFirst(written.count))
        let t = tokenizer.encodePlainText(rest)
        return t.isEmpty ? nil : Array(t.prefix(limit))
    }

    /// The tokens for a segment head prediction from nothing written (used after the opening frame).
    private func text(prediction written: String) -> [Int] {
        tokenizer.encodePlainText(head(written: written, previous: completedSegments(upToAndIncluding: nil)))
    }

    /// The segment head as far as it can be predicted: `Start":S,"End":` and, once the end is written,
    /// `,"Speaker":K,"Content":"`. Values already written are taken as written.
    private func head(written: String, previous: [[String: String]]) -> String {
        let (start, end, speaker) = (keys[0], keys[1], keys[2])
        var out = "\(start)\":"
        let startValue = Self.value(of: start, in: written) ?? previous.last?[end] ?? "0"
        out += startValue + ",\"\(end)\":"
        guard let endValue = Self.value(of: end, in: written) else { return out + Self.endGuess(start: startValue, written: written, key: end) }
        out += endValue + ",\"\(speaker)\":"
        let speakerValue = Self.value(of: speaker, in: written) ?? speakerGuess(previous)
        guard let speakerValue else { return out }
        return out + speakerValue + ",\"\(keys[3])\":\""
    }

    /// The first digits of an unknown `End`: a segment lasts seconds, so the end usually keeps the start's
    /// leading digits (all but the last of its whole part), then its decimal point once as many whole digits
    /// as the start's are written.
    static func endGuess(start: String, written: String, key: String) -> String {
        let whole = start.split(separator: ".", maxSplits: 1).first.map(String.init) ?? start
        guard whole.allSatisfy(\.isNumber), !whole.isEmpty else { return "" }
        let marker = "\"\(key)\":"
        let sofar = written.range(of: marker).map { String(written[$0.upperBound...]) }
            ?? (written.hasPrefix(key + "\":") ? String(written.dropFirst(key.count + 2)) : "")
        if sofar.isEmpty { return String(whole.dropLast()) }
        if sofar.count >= whole.count, sofar.allSatisfy(\.isNumber) { return sofar + "." }
        return String(whole.dropLast())
    }

    /// The complete value of `key` in `text` (digits up to the comma that ends it), if written.
    static func value(of key: String, in text: String) -> String? {
        guard let r = text.range(of: "\"\(key)\":") ?? (text.hasPrefix("\(key)\":") ? text.range(of: "\(key)\":") : nil) else {
            return nil
        }
        let rest = text[r.upperBound...]
        guard let comma = rest.firstIndex(of: ",") else { return nil }
        let v = String(rest[..<comma])
        return v.isEmpty ? nil : v
    }

    /// The most recent speaker other than the last segment's (conversations alternate), else the last one.
    private func speakerGuess(_ previous: [[String: String]]) -> String? {
        let speakers = previous.compactMap { $0[keys[2]] }
        guard let last = speakers.last else { return "0" }
        return speakers.last(where: { $0 != last }) ?? last
    }

    /// Byte offset just after the last `{"` that opens a segment (outside any string).
    private func lastSegmentStart() -> Int? {
        var i = bytes.count - 2
        while i >= 0 {
            if bytes[i] == UInt8(ascii: "{") && bytes[i + 1] == UInt8(ascii: "\"") && (i == 0 || bytes[i - 1] != UInt8(ascii: "\\")) {
                return i + 2
            }
            i -= 1
        }
        return nil
    }

    /// The index of the quote that closes a JSON string whose text starts at `s` (escapes honoured).
    static func closingQuote(_ s: Substring) -> String.Index? {
        var escaped = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { return i }
            i = s.index(after: i)
        }
        return nil
    }

    /// Key values of the segments written so far (the last 8), oldest first; `current` is the segment in
    /// progress when it is complete (its content closed).
    private func completedSegments(upToAndIncluding current: String?) -> [[String: String]] {
        let text = String(decoding: bytes.suffix(8192), as: UTF8.self)
        var out: [[String: String]] = []
        for piece in text.components(separatedBy: "},{\"").dropLast(current == nil ? 1 : 0).suffix(8) {
            var entry: [String: String] = [:]
            for k in keys.dropLast() { if let v = Self.value(of: k, in: piece) { entry[k] = v } }
            if !entry.isEmpty { out.append(entry) }
        }
        return out
    }

    /// Takes the key spelling and order from the first complete segment head (e.g. `Start time`).
    private func learnKeys(_ head: String) {
        guard !keysLearned else { return }
        keysLearned = true
        var found: [String] = []
        var rest = Substring(head)
        while let open = rest.firstIndex(of: "\"") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "\"") else { break }
            let name = String(after[..<close])
            let tail = after[after.index(after: close)...]
            if tail.hasPrefix(":") { found.append(name) }
            rest = tail
        }
        // A head written `Start":…` (the segment's opening quote was in `{"`) has its first key unquoted.
        if let colon = head.firstIndex(of: "\""), head[head.startIndex..<colon].allSatisfy({ $0 != "\"" && $0 != "," }),
           !head.hasPrefix("\"") {
            found.insert(String(head[head.startIndex..<colon]), at: 0)
        }
        if found.count == 4 { keys = found }
    }
}
