/// Finds added tokens in text, leftmost match first and the longest token at that position (as Hugging Face
/// tokenizers' added vocabulary does), honouring each token's single_word, lstrip and rstrip flags.
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    /// Candidate tokens by their first scalar, longest first.
    private let byFirst: [UInt32: [AddedToken]]
    private let asciiFirst: [Bool]
    let isEmpty: Bool

    init(tokens: [AddedToken]) {
        var table: [UInt32: [AddedToken]] = [:]
        var ascii = [Bool](repeating: false, count: 128)
        for t in tokens {
            guard let first = t.scalars.first else { continue }
            table[first.value, default: []].append(t)
            if first.value < 128 { ascii[Int(first.value)] = true }
        }
        for key in table.keys {
            // Longest first; among equal lengths the earlier-declared token wins.
            table[key] = table[key]!.enumerated()
                .sorted { $0.element.scalars.count != $1.element.scalars.count
                    ? $0.element.scalars.count > $1.element.scalars.count : $0.offset < $1.offset }
                .map(\.element)
        }
        byFirst = table
        asciiFirst = ascii
        isEmpty = tokens.isEmpty
    }

    private static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        s == "_" || PieceSplitter.classOf(s) & (PieceSplitter.letter | PieceSplitter.number) != 0
    }

    func split(_ s: [Unicode.Scalar]) -> [Segment] {
        let n = s.count
        if isEmpty { return n == 0 ? [] : [.text(0..<n)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < n {
            let v = s[i].value
            if v < 128 && !asciiFirst[Int(v)] { i += 1; continue }
            guard let candidates = byFirst[v] else { i += 1; continue }
            var found: AddedToken?
            for t in candidates where i + t.scalars.count <= n {
                var k = 1
                while k < t.scalars.count, s[i + k] == t.scalars[k] { k += 1 }
                if k == t.scalars.count { found = t; break }
            }
            guard let token = found else { i += 1; continue }
            var start = i
            var end = i + token.scalars.count
            if token.singleWord {
                let before = i > 0 && Self.isWordCharacter(s[i - 1])
                let after = end < n && Self.isWordCharacter(s[end])
                if before || after { i = end; continue }
            }
            if token.lstrip {
                while start > textStart, s[start - 1].properties.isWhitespace { start -= 1 }
            }
            if token.rstrip {
                while end < n, s[end].properties.isWhitespace { end += 1 }
            }
            if start > textStart { out.append(.text(textStart..<start)) }
            out.append(.token(token.id))
            textStart = end
            i = end
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }
}
