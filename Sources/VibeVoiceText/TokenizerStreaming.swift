/// Turns ids arriving one at a time (during generation) into text as soon as it is complete: bytes that may
/// still become a UTF-8 character wait for the next id. The concatenated output equals
/// `tokenizer.decode(allIDs, skipSpecialTokens:)`, invalid sequences and their U+FFFD replacements included.
public struct TokenStreamDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// The text that `id` completes (often empty while a multi-byte character is split across ids).
    public mutating func append(_ id: Int) -> String {
        if tokenizer.isAddedToken(id) {
            if skipSpecialTokens && tokenizer.isSpecial(id) { return "" }
            // A kept added token ends the byte run before it, as in `Tokenizer.decode`.
            let text = flush() + (tokenizer.token(forID: id) ?? "")
            return text
        }
        pending += tokenizer.decodeBytes([id], skipSpecialTokens: skipSpecialTokens)
        let keep = Self.incompleteSuffixLength(pending)
        if keep == pending.count { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Text for several ids.
    public mutating func append(contentsOf ids: [Int]) -> String {
        ids.map { append($0) }.joined()
    }

    /// Ends the stream: bytes still waiting (an unfinished character) come out as U+FFFD.
    public mutating func finish() -> String {
        flush()
    }

    private mutating func flush() -> String {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of a trailing, still-valid prefix of a multi-byte UTF-8 sequence (0 when the bytes end on a
    /// character boundary or in bytes that can never complete a character).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var k = 1
        while k <= 3 && k <= n {
            let b = bytes[n - k]
            if b & 0xC0 == 0x80 { k += 1; continue }  // continuation byte: look further back
            let length: Int
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return 0
            }
            guard k < length else { return 0 }  // the sequence is complete (or over-long: invalid anyway)
            // The second byte has a narrower range for some lead bytes (no over-long forms, no surrogates,
            // nothing above U+10FFFF).
            if k >= 2 {
                let second = bytes[n - k + 1]
                let range: ClosedRange<UInt8>
                switch b {
                case 0xE0: range = 0xA0...0xBF
                case 0xED: range = 0x80...0x9F
                case 0xF0: range = 0x90...0xBF
                case 0xF4: range = 0x80...0x8F
                default: range = 0x80...0xBF
                }
                if !range.contains(second) { return 0 }
            }
            return k
        }
        return 0
    }
}
