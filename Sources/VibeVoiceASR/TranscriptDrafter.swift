import Foundation
import VibeVoiceModel
import VibeVoiceText

/// Drafts for a transcript from its own JSON structure, falling back to prompt lookup (`NGramDrafter`) over the
/// prompt (context, hotwords) and everything written so far:
/// - the first segment's frame: `<|im_start|>assistant\n[{"Start":`, and the key after each value
///   (`,"End":`, `,"Speaker":`, `,"Content":"`) until the model has written a segment to learn from;
/// - after `"Start":`, the previous segment's `End` value (segments usually touch), in the tokens the model
///   wrote it with;
/// - after `"Speaker":`, a speaker already seen: the most recent one other than the last segment's
///   (conversations alternate), or the last one when only one has spoken.
/// The drafts are verified against the model's own choices, so a wrong guess only costs its rows.
public final class TranscriptDrafter: Drafter {
    private let ngram: NGramDrafter
    private let tokenizer: Tokenizer
    /// Everything observed, as bytes, with each token's end offset.
    private var text: [UInt8] = []
    private var ends: [Int] = []
    private var ids: [Int] = []
    private let startFrame: [Int]
    private let keyAfter: [(value: String, next: [Int])]
    /// Tokens of the first `observe` call (the context the generation starts after).
    private var contextLength: Int?

    public init(tokenizer: Tokenizer, ngram: NGramDrafter = NGramDrafter()) {
        self.tokenizer = tokenizer
        self.ngram = ngram
        startFrame = tokenizer.encode("<|im_start|>assistant\n[{\"Start\":")
        keyAfter = [("\"Start\":", tokenizer.encode(",\"End\":")), ("\"End\":", tokenizer.encode(",\"Speaker\":")),
                    ("\"Speaker\":", tokenizer.encode(",\"Content\":\""))]
    }

    public func observe(_ tokens: [Int]) {
        if contextLength == nil { contextLength = tokens.count }
        ngram.observe(tokens)
        for t in tokens {
            ids.append(t)
            text += tokenizer.decodeBytes([t])
            ends.append(text.count)
        }
    }

    public func propose(limit: Int) -> [Int] {
        guard limit > 0 else { return [] }
        let tail = text.suffix(64)
        // The opening frame, right after the prompt.
        if !text.containsSequence(Array("\"Start\":".utf8)), let start = frameProgress() {
            return Array(startFrame[start...].prefix(limit))
        }
        if tail.hasSuffix(Array("\"Start\":".utf8)), let end = lastValueTokens(after: "\"End\":") {
            return Array(end.prefix(limit))
        }
        if tail.hasSuffix(Array("\"Speaker\":".utf8)), let speaker = speakerGuess() {
            return Array(speaker.prefix(limit))
        }
        let fromHistory = ngram.propose(limit: limit)
        if !fromHistory.isEmpty { return fromHistory }
        // A value just ended with a comma: the next key, until a whole segment has been seen.
        if tail.last == UInt8(ascii: ","), !text.containsSequence(Array("\"Content\":".utf8)) {
            for (value, next) in keyAfter where lastKey() == value { return Array(next.dropFirst().prefix(limit)) }
        }
        return []
    }

    /// How many tokens of the opening frame the generated tokens are so far (nil once they depart from it).
    private func frameProgress() -> Int? {
        let generated = ids.count - (contextLength ?? ids.count)
        guard generated < startFrame.count, Array(ids.suffix(generated)) == Array(startFrame.prefix(generated)) else {
            return nil
        }
        return generated
    }

    /// The tokens of the value after the last `key`, up to the one holding the next comma.
    private func lastValueTokens(after key: String) -> [Int]? {
        guard let keyEnd = text.lastRange(of: Array(key.utf8))?.upperBound else { return nil }
        return value(startingAt: keyEnd)
    }

    /// Tokens that begin at or after byte `offset`, up to the first one holding a comma (nil when none does).
    private func value(startingAt offset: Int) -> [Int]? {
        guard var i = ends.firstIndex(where: { $0 > offset }) else { return nil }
        if (i == 0 ? 0 : ends[i - 1]) < offset { i += 1 }      // a token straddling the key is not part of the value
        var out: [Int] = []
        while i < ids.count {
            let lo = i == 0 ? 0 : ends[i - 1]
            if text[lo..<ends[i]].contains(UInt8(ascii: ",")) { return out.isEmpty ? nil : out }
            out.append(ids[i])
            i += 1
        }
        return nil
    }

    /// The speaker to guess: the most recent one other than the last segment's, else the last one.
    private func speakerGuess() -> [Int]? {
        var speakers: [[Int]] = []
        let key = Array("\"Speaker\":".utf8)
        var search = 0
        while let r = text[search...].firstRange(of: key) {
            if let v = value(startingAt: r.upperBound) { speakers.append(v) }
            search = r.upperBound
        }
        guard let last = speakers.last else { return nil }
        return speakers.last(where: { $0 != last }) ?? last
    }

    /// The last key written (`"Start":`, `"End":`, `"Speaker":`) before the current value.
    private func lastKey() -> String? {
        var best: (String, Int)?
        for (value, _) in keyAfter {
            if let r = text.lastRange(of: Array(value.utf8)), best == nil || r.lowerBound > best!.1 { best = (value, r.lowerBound) }
        }
        return best?.0
    }
}

extension Array where Element == UInt8 {
    func containsSequence(_ s: [UInt8]) -> Bool { lastRange(of: s) != nil }

    func lastRange(of s: [UInt8]) -> Range<Int>? {
        guard !s.isEmpty, s.count <= count else { return nil }
        var i = count - s.count
        while i >= 0 {
            if self[i] == s[0] && Array(self[i..<(i + s.count)]) == s { return i..<(i + s.count) }
            i -= 1
        }
        return nil
    }
}

extension ArraySlice where Element == UInt8 {
    func hasSuffix(_ s: [UInt8]) -> Bool { count >= s.count && Array(suffix(s.count)) == s }
}
