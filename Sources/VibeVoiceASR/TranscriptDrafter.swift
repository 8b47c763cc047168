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
/// the rest. Inside the content it uses prompt lookup, and where that finds nothing, a one-token guess: the token
/// that has most often followed the last one so far (`FollowerTable`). Drafts are verified against the model's own
/// choices, so a wrong guess only costs its rows; one extra row costs a few percent of a step (`bench
/// --multi-row`), and the guess is right often enough to pay for it (`bench --draft-replay`).
public final class TranscriptDrafter: Drafter {
    private let ngram: NGramDrafter
    private var followers = FollowerTable()
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
        followers.observe(tokens)
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
            guard let close = Self.closingQuote(content) else { return contentDraft(limit: limit) }
            // After the content: close the object and open the next segment.
            let after = String(content[content.index(after: close)...])
            learnKeys(String(seg[..<c.lowerBound]) + contentKey)
            let predicted = "},{\"" + (head(written: "", previous: completedSegments(upToAndIncluding: seg)) ?? "")
            return tokens(continuing: after, of: predicted, limit: limit) ?? ngram.propose(limit: limit)
        }
        // Inside a segment head that follows the template, a value that cannot be guessed gets no draft (a
        // lookup guess there is almost always wrong, and its rows are not free).
        guard let predicted = head(written: seg, previous: completedSegments(upToAndIncluding: nil)) else {
            return ngram.propose(limit: limit)
        }
        return tokens(continuing: seg, of: predicted, limit: limit) ?? []
    }

    /// Inside the content: prompt lookup, else the likeliest follower of the last token.
    private func contentDraft(limit: Int) -> [Int] {
        let lookup = ngram.propose(limit: limit)
        if !lookup.isEmpty { return lookup }
        return followers.guess().map { [$0] } ?? []
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
        tokenizer.encodePlainText(head(written: written, previous: completedSegments(upToAndIncluding: nil)) ?? "")
    }

    /// The segment head (`Start":S,"End":E,"Speaker":K,"Content":"`) as far as it can be predicted from what is
    /// written of it: `written` itself, then what surely or most likely follows, up to the first thing that
    /// cannot be guessed. Values already written are kept; a value being written is completed where its end is
    /// known (a time with two decimals, a speaker digit). Where the written text has left the template, the
    /// prediction is nil.
    func head(written: String, previous: [[String: String]]) -> String? {
        var out = ""
        var rest = Substring(written)
        var values: [String] = []
        for (i, key) in keys.prefix(3).enumerated() {
            let label = (i == 0 ? "" : ",\"") + key + "\":"
            if rest.count < label.count {
                guard label.hasPrefix(rest) else { return nil }
                out += label
                rest = ""
            } else {
                guard rest.hasPrefix(label) else { return nil }
                out += label
                rest = rest.dropFirst(label.count)
            }
            // The value: complete when a comma follows it.
            if let comma = rest.firstIndex(of: ",") {
                let v = String(rest[..<comma])
                guard !v.isEmpty else { return nil }
                out += v
                values.append(v)
                rest = rest[comma...]
                continue
            }
            let partial = String(rest)
            rest = ""
            let guess: String?
            switch i {
            case 0: guess = Self.completeStart(partial, previousEnd: previous.last?[keys[1]])
            case 1: guess = Self.completeEnd(partial, start: values[0])
            default: guess = completeSpeaker(partial, previous: previous)
            }
            guard let guess else {
                let more = i == 0 ? Self.startContinuation(partial, previousEnd: previous.last?[keys[1]])
                    : i == 1 ? Self.endContinuation(partial, start: values[0]) : ""
                return out + partial + more
            }
            out += guess
            values.append(guess)
        }
        guard rest.isEmpty || ",\"\(keys[3])\":\"".hasPrefix(rest) else { return nil }
        return out + ",\"\(keys[3])\":\""
    }

    /// The complete value of `key` in `text` (up to the comma that ends it), if written.
    static func value(of key: String, in text: String) -> String? {
        guard let r = text.range(of: "\"\(key)\":") ?? (text.hasPrefix("\(key)\":") ? text.range(of: "\(key)\":") : nil) else {
            return nil
        }
        let rest = text[r.upperBound...]
        guard let comma = rest.firstIndex(of: ",") else { return nil }
        let v = String(rest[..<comma])
        return v.isEmpty ? nil : v
    }

    /// A time value whose end is known once written: two decimals (times are written with at most two).
    static func timeIsComplete(_ v: String) -> Bool {
        guard let dot = v.firstIndex(of: ".") else { return false }
        return v.distance(from: dot, to: v.endIndex) == 3
    }

    /// Whether `v` reads as the start of a time (digits, at most one point, at most two decimals).
    static func isTimePrefix(_ v: String) -> Bool {
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { return false }
        return parts.count == 1 || parts[1].count <= 2
    }

    /// The `Start` with `partial` written: segments usually touch, so the previous `End` (0 for the first)
    /// while the written digits agree with it; else the written value when it is complete, else unknown.
    static func completeStart(_ partial: String, previousEnd: String?) -> String? {
        let expected = previousEnd ?? "0"
        if expected.hasPrefix(partial) { return expected }
        guard isTimePrefix(partial) else { return nil }
        return timeIsComplete(partial) ? partial : nil
    }

    /// What can be guessed of a `Start` being written that has left the previous `End` (a pause between turns):
    /// its point, once the whole part written is at least the previous end's (a start never precedes it).
    static func startContinuation(_ partial: String, previousEnd: String?) -> String {
        guard let previousEnd, partial.allSatisfy(\.isNumber), let written = Int(partial),
              let whole = Int(wholePart(previousEnd)) else { return "" }
        return written >= whole ? "." : ""
    }

    /// A time's digits before its point (all of it without one).
    static func wholePart(_ time: String) -> String {
        time.split(separator: ".", maxSplits: 1).first.map(String.init) ?? time
    }

    /// The `End` with `partial` written, as far as it can be guessed. Only a complete value is returned as a
    /// value; otherwise the guess is a prefix (the head's prediction stops after it): a segment lasts seconds,
    /// so the end usually keeps the start's leading digits (all but the last of its whole part), and its point
    /// follows once as many whole digits as the start's are written.
    static func completeEnd(_ partial: String, start: String) -> String? {
        guard isTimePrefix(partial) else { return nil }
        if timeIsComplete(partial) { return partial }
        return nil
    }

    /// What can be guessed of an `End` being written (`partial`), beyond it: used where the value is incomplete.
    static func endContinuation(_ partial: String, start: String) -> String {
        guard isTimePrefix(partial), !partial.contains(".") else { return "" }
        let whole = wholePart(start)
        guard whole.allSatisfy(\.isNumber), !whole.isEmpty else { return "" }
        let lead = String(whole.dropLast())
        if lead.hasPrefix(partial), lead.count > partial.count { return String(lead.dropFirst(partial.count)) }
        if partial.count >= whole.count { return "." }
        return ""
    }

    /// The speaker with `partial` written: a written id is complete unless a longer id seen so far starts with it;
    /// with nothing written, the guess from the speakers so far.
    private func completeSpeaker(_ partial: String, previous: [[String: String]]) -> String? {
        guard !partial.isEmpty else { return speakerGuess(previous) }
        guard partial.allSatisfy(\.isNumber) else { return nil }
        let seen = Set(previous.compactMap { $0[keys[2]] })
        return seen.contains(where: { $0.count > partial.count && $0.hasPrefix(partial) }) ? nil : partial
    }

    /// The next speaker: the one that most often followed the last segment's speaker so far (ties and a first
    /// turn go to the most recent speaker other than the last, since conversations alternate, or to a new one;
    /// remaining ties to the more recent speaker, so that the guess never depends on hashing order).
    private func speakerGuess(_ previous: [[String: String]]) -> String? {
        let speakers = previous.compactMap { $0[keys[2]] }
        guard let last = speakers.last else { return "0" }
        // With one speaker so far, a new one: ids are numbered in order of first appearance.
        let alternate = speakers.last(where: { $0 != last }) ?? String(Set(speakers).count)
        var counts: [String: Int] = [:]
        for (a, b) in zip(speakers, speakers.dropFirst()) where a == last { counts[b, default: 0] += 1 }
        var recency: [String: Int] = [:]
        for (i, s) in speakers.enumerated() { recency[s] = i }
        let rank = { (k: String) in (counts[k] ?? 0, k == alternate ? 1 : 0, recency[k] ?? -1) }
        return counts.keys.max(by: { rank($0) < rank($1) }) ?? alternate
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

    /// How many recent segments the guesses learn from.
    static let history = 32

    /// Key values of the segments written so far (the last `history`), oldest first; `current` is the segment in
    /// progress when it is complete (its content closed).
    private func completedSegments(upToAndIncluding current: String?) -> [[String: String]] {
        let text = String(decoding: bytes.suffix(8192), as: UTF8.self)
        var out: [[String: String]] = []
        for piece in text.components(separatedBy: "},{\"").dropLast(current == nil ? 1 : 0).suffix(Self.history) {
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

/// For each token, the token that has most often followed it (ties to the one seen most recently), updated as
/// tokens are observed: a one-token draft where nothing longer is known. Deterministic: no hash order involved.
struct FollowerTable {
    private var counts: [Int: [Int: Int]] = [:]
    private var best: [Int: (token: Int, count: Int)] = [:]
    private var last: Int?

    mutating func observe(_ tokens: [Int]) {
        for t in tokens {
            if let p = last {
                let c = counts[p, default: [:]][t, default: 0] + 1
                counts[p, default: [:]][t] = c
                // t is the most recent follower, so it wins a tie.
                if c >= (best[p]?.count ?? 0) { best[p] = (t, c) }
            }
            last = t
        }
    }

    /// The likeliest next token after the last one observed, if that token has been followed before.
    func guess() -> Int? {
        last.flatMap { best[$0]?.token }
    }
}
