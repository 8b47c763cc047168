/// Splits normalised text into the pieces BPE runs on. The split regexes of byte-level tokenizers are
/// implemented by hand as scanners over Unicode scalars (a regex engine is far slower), following the
/// leftmost-first alternation and backtracking of the regex exactly. `\p{L}` and `\p{N}` are the Unicode
/// general categories L* and N* of Unicode 16.0.0 (`TokenizerUnicodeTables`, the version of Oniguruma in
/// Hugging Face `tokenizers`); `\s` is the Unicode White_Space property (as in Oniguruma and Rust's regex).
struct PieceSplitter: Sendable {
    enum Pattern: Sendable, Equatable {
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        /// (Qwen2: one digit per piece; cl100k / Llama 3 style: up to three).
        case qwen2(maxDigits: Int)
        /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
    }

    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let cl100kRegex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The scanner for a Split pre-tokenizer regex, or nil when the pattern is not one of the known ones.
    static func pattern(forRegex regex: String) -> Pattern? {
        switch regex {
        case qwen2Regex: return .qwen2(maxDigits: 1)
        case cl100kRegex: return .qwen2(maxDigits: 3)
        case gpt2Regex: return .gpt2
        default: return nil
        }
    }

    let pattern: Pattern

    // Character classes, as bits.
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4        // \s
    static let newline: UInt8 = 8      // \r or \n
    static let asciiSpace: UInt8 = 16  // U+0020

    /// Classes of the Basic Multilingual Plane, computed once (a few milliseconds) on first use.
    private static let bmpClasses: [UInt8] = (0..<0x10000).map { v in
        Unicode.Scalar(UInt32(v)).map(classify) ?? 0
    }

    /// Letters and numbers come from `TokenizerUnicodeTables` (Unicode 16.0.0, the reference's regex engine),
    /// not from the standard library's newer Unicode; `\s` is White_Space, unchanged since Unicode 6.3.
    static func classify(_ s: Unicode.Scalar) -> UInt8 {
        var c: UInt8 = 0
        if inRanges(s.value, TokenizerUnicodeTables.letterRanges) {
            c |= letter
        } else if inRanges(s.value, TokenizerUnicodeTables.numberRanges) {
            c |= number
        }
        if s.properties.isWhitespace { c |= space }
        if s == "\r" || s == "\n" { c |= newline }
        if s == " " { c |= asciiSpace }
        return c
    }

    /// Whether `v` lies in one of the inclusive (first, last) pairs of `ranges` (sorted): binary search.
    static func inRanges(_ v: UInt32, _ ranges: [UInt32]) -> Bool {
        var lo = 0, hi = ranges.count / 2
        while lo < hi {
            let mid = (lo + hi) / 2
            if v < ranges[2 * mid] { hi = mid } else if v > ranges[2 * mid + 1] { lo = mid + 1 } else { return true }
        }
        return false
    }

    @inline(__always)
    static func classOf(_ s: Unicode.Scalar) -> UInt8 {
        s.value < 0x10000 ? bmpClasses[Int(s.value)] : classify(s)
    }

    /// Appends the pieces of `scalars` as index ranges.
    func split(_ scalars: [Unicode.Scalar], into pieces: inout [Range<Int>]) {
        let n = scalars.count
        if n == 0 { return }
        var cls = [UInt8](repeating: 0, count: n)
        for i in 0..<n { cls[i] = PieceSplitter.classOf(scalars[i]) }
        var i = 0
        while i < n {
            let end: Int
            switch pattern {
            case .qwen2(let maxDigits): end = qwen2Match(scalars, cls, i, maxDigits)
            case .gpt2: end = gpt2Match(scalars, cls, i)
            }
            pieces.append(i..<end)
            i = end
        }
    }

    @inline(__always)
    private static func lowerASCII(_ s: Unicode.Scalar) -> UInt32 {
        let v = s.value
        return (v >= 65 && v <= 90) ? v + 32 : v
    }

    /// Length of a contraction `'s 't 're 've 'm 'll 'd` at i (0 if none). ASCII case folding only.
    @inline(__always)
    private func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int {
        let n = s.count
        guard s[i] == "'", i + 1 < n else { return 0 }
        @inline(__always) func fold(_ x: Unicode.Scalar) -> UInt32 {
            caseInsensitive ? PieceSplitter.lowerASCII(x) : x.value
        }
        let c1 = fold(s[i + 1])
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76:                       // r v -> 're 've
            if i + 2 < n, fold(s[i + 2]) == 0x65 { return 3 }
        case 0x6C:                             // l -> 'll
            if i + 2 < n, fold(s[i + 2]) == 0x6C { return 3 }
        default: break
        }
        return 0
    }

    /// End of the whitespace alternatives `\s*[\r\n]+|\s+(?!\S)|\s+` (qwen2) or `\s+(?!\S)|\s+` (gpt2)
    /// at i, where scalar i is whitespace.
    @inline(__always)
    private func whitespaceMatch(_ cls: [UInt8], _ i: Int, newlines: Bool) -> Int {
        let n = cls.count
        var j = i
        var lastNewline = -1
        while j < n, cls[j] & PieceSplitter.space != 0 {
            if cls[j] & PieceSplitter.newline != 0 { lastNewline = j }
            j += 1
        }
        // \s*[\r\n]+ : the greedy \s* backs off to the last \r or \n of the run.
        if newlines, lastNewline >= 0 { return lastNewline + 1 }
        // \s+(?!\S) : the whole run at the end of the text, else the run less its last character.
        if j == n { return j }
        if j - i >= 2 { return j - 1 }
        return j  // \s+
    }

    private func qwen2Match(_ s: [Unicode.Scalar], _ cls: [UInt8], _ i: Int, _ maxDigits: Int) -> Int {
        let n = s.count
        let L = PieceSplitter.letter, N = PieceSplitter.number, S = PieceSplitter.space
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        let c = contraction(s, i, caseInsensitive: true)
        if c > 0 { return i + c }
        let ci = cls[i]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var start = -1
        if ci & L != 0 {
            start = i
        } else if ci & (N | PieceSplitter.newline) == 0, i + 1 < n, cls[i + 1] & L != 0 {
            start = i + 1
        }
        if start >= 0 {
            var j = start
            while j < n, cls[j] & L != 0 { j += 1 }
            return j
        }
        // \p{N}{1,maxDigits}
        if ci & N != 0 {
            var j = i + 1
            while j < n, j - i < maxDigits, cls[j] & N != 0 { j += 1 }
            return j
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let other = L | N | S
        var p = i
        if ci & PieceSplitter.asciiSpace != 0, i + 1 < n, cls[i + 1] & other == 0 { p = i + 1 }
        if cls[p] & other == 0 {
            var j = p
            while j < n, cls[j] & other == 0 { j += 1 }
            while j < n, cls[j] & PieceSplitter.newline != 0 { j += 1 }
            return j
        }
        // Whitespace: every scalar is a letter, a number, whitespace or "other", so this is the last case.
        return whitespaceMatch(cls, i, newlines: true)
    }

    private func gpt2Match(_ s: [Unicode.Scalar], _ cls: [UInt8], _ i: Int) -> Int {
        let n = s.count
        let L = PieceSplitter.letter, N = PieceSplitter.number, S = PieceSplitter.space
        let c = contraction(s, i, caseInsensitive: false)
        if c > 0 { return i + c }
        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' (the optional space backs off when the class fails)
        let leadingSpace = cls[i] & PieceSplitter.asciiSpace != 0 && i + 1 < n
        for kind in 0..<3 {
            let matches: (UInt8) -> Bool
            switch kind {
            case 0: matches = { $0 & L != 0 }
            case 1: matches = { $0 & N != 0 }
            default: matches = { $0 & (L | N | S) == 0 }
            }
            var p = i
            if leadingSpace, matches(cls[i + 1]) { p = i + 1 }
            if matches(cls[p]) {
                var j = p
                while j < n, matches(cls[j]) { j += 1 }
                return j
            }
        }
        return whitespaceMatch(cls, i, newlines: false)
    }
}
