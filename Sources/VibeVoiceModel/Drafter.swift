import Foundation

/// Proposes tokens the model is likely to write next, for exact speculative decoding: the proposals are
/// verified against the model's own greedy choices in one multi-row forward, so a wrong draft costs only its
/// rows, never a changed token. A drafter sees the context (the prompt), then every emitted token in order.
public protocol Drafter: AnyObject {
    /// Appends tokens to what the drafter has seen (the prompt first, then each generated token).
    func observe(_ tokens: [Int])
    /// Up to `limit` proposed next tokens (may be empty).
    func propose(limit: Int) -> [Int]
}

/// Prompt-lookup drafting: find the most recent earlier occurrence of the longest suffix (of `maxN` down to
/// `minN` tokens) of everything seen, and propose what followed it. Transcripts repeat their own structure
/// (keys, quotes, braces, speaker ids) and words from the context, so the lookup often hits. The draft length
/// shrinks with the match: a long match earns `maxDraft` tokens, a short one fewer.
public final class NGramDrafter: Drafter {
    public let minN: Int
    public let maxN: Int
    /// Longest draft, by the length of the suffix that matched (`draftLimits[n]`, for n in minN...maxN).
    public let draftLimits: [Int: Int]
    public private(set) var tokens: [Int] = []
    /// End index (exclusive) of the latest occurrence of each n-gram.
    private var latest: [NGram: Int] = [:]
    /// For the current suffix of each length: the end of its previous occurrence.
    private var previous: [Int: Int] = [:]

    struct NGram: Hashable {
        let ids: [Int]
    }

    public init(minN: Int = 1, maxN: Int = 4, draftLimits: [Int: Int] = [1: 2, 2: 4, 3: 7, 4: 7]) {
        precondition(minN >= 1 && maxN >= minN)
        self.minN = minN
        self.maxN = maxN
        self.draftLimits = draftLimits
    }

    public func observe(_ new: [Int]) {
        for t in new {
            tokens.append(t)
            let end = tokens.count
            for n in minN...maxN where end >= n {
                let key = NGram(ids: Array(tokens[(end - n)..<end]))
                previous[n] = latest[key]
                latest[key] = end
            }
        }
    }

    public func propose(limit: Int) -> [Int] {
        guard limit > 0 else { return [] }
        for n in stride(from: maxN, through: minN, by: -1) {
            guard let start = previous[n], start < tokens.count else { continue }
            let take = min(limit, draftLimits[n] ?? limit, tokens.count - start)
            if take > 0 { return Array(tokens[start..<(start + take)]) }
        }
        return []
    }
}
