/// A JSON value as the tolerant scanner reads it. Object members keep their written order.
enum TranscriptJSONValue: Sendable, Equatable {
    struct Member: Sendable, Equatable {
        var key: String
        var value: TranscriptJSONValue
    }

    case null
    case bool(Bool)
    /// A number and the exact text it was written as.
    case number(Double, text: String)
    case string(String)
    case array([TranscriptJSONValue])
    case object([Member])

    /// The value of the last member named `key` (JSON's "last one wins").
    subscript(key: String) -> TranscriptJSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }
}

/// What scanning one value from an offset gave.
enum TranscriptJSONScan: Sendable, Equatable {
    /// A complete value that ends just before byte offset `end`.
    case value(TranscriptJSONValue, end: Int)
    /// The text ran out before the value was complete (more text might complete it); `inString` when it
    /// ran out inside a string, which only a `"` can end.
    case needMore(inString: Bool)
    /// The text cannot be JSON at byte offset `at`.
    case invalid(at: Int)
    /// The value at byte offset `at` is nested deeper than `TranscriptJSONScanner.maxDepth`.
    case tooDeep(at: Int)
}

/// A forgiving JSON reader over UTF-8 bytes, written for model output rather than machine-written JSON:
/// it tells "the text ended inside a value" (`needMore`: a cut-off generation, or a stream still arriving)
/// apart from "this is not JSON" (`invalid`), which `JSONSerialization` cannot.
///
/// Tolerated beyond strict JSON: missing, doubled, leading and trailing commas; raw control characters and
/// unknown escapes in strings (the backslash is dropped); lone surrogate escapes (become U+FFFD); invalid
/// UTF-8 (repaired with U+FFFD). Nesting deeper than `maxDepth` is `tooDeep`, never a stack overflow.
struct TranscriptJSONScanner {
    static let maxDepth = 256

    let bytes: [UInt8]
    /// Bytes at and past `end` are not read.
    let end: Int

    init(bytes: [UInt8], end: Int? = nil) {
        self.bytes = bytes
        self.end = min(end ?? bytes.count, bytes.count)
    }

    static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0B || b == 0x0C
    }

    func skipSpace(_ i: inout Int) {
        while i < end, Self.isSpace(bytes[i]) { i += 1 }
    }

    /// Scans one value starting at (or after whitespace following) byte offset `start`.
    func value(at start: Int) -> TranscriptJSONScan {
        value(at: start, depth: 0)
    }

    private func value(at start: Int, depth: Int) -> TranscriptJSONScan {
        var i = start
        skipSpace(&i)
        guard i < end else { return .needMore(inString: false) }
        guard depth < Self.maxDepth else { return .tooDeep(at: i) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return object(at: i, depth: depth)
        case UInt8(ascii: "["): return array(at: i, depth: depth)
        case UInt8(ascii: "\""):
            switch string(at: i) {
            case .complete(let s, let e): return .value(.string(s), end: e)
            case .needMore: return .needMore(inString: true)
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number(at: i)
        case UInt8(ascii: "t"): return literal("true", .bool(true), at: i)
        case UInt8(ascii: "f"): return literal("false", .bool(false), at: i)
        case UInt8(ascii: "n"): return literal("null", .null, at: i)
        default: return .invalid(at: i)
        }
    }

    private func object(at start: Int, depth: Int) -> TranscriptJSONScan {
        var members: [TranscriptJSONValue.Member] = []
        var i = start + 1
        while true {
            skipSpace(&i)
            guard i < end else { return .needMore(inString: false) }
            switch bytes[i] {
            case UInt8(ascii: "}"):
                return .value(.object(members), end: i + 1)
            case UInt8(ascii: ","):
                i += 1
            case UInt8(ascii: "\""):
                let key: String
                switch string(at: i) {
                case .needMore: return .needMore(inString: true)
                case .complete(let s, let e): key = s; i = e
                }
                skipSpace(&i)
                guard i < end else { return .needMore(inString: false) }
                guard bytes[i] == UInt8(ascii: ":") else { return .invalid(at: i) }
                switch value(at: i + 1, depth: depth + 1) {
                case .value(let v, let e):
                    members.append(.init(key: key, value: v))
                    i = e
                case let other:
                    return other
                }
            default:
                return .invalid(at: i)
            }
        }
    }

    private func array(at start: Int, depth: Int) -> TranscriptJSONScan {
        var elements: [TranscriptJSONValue] = []
        var i = start + 1
        while true {
            skipSpace(&i)
            guard i < end else { return .needMore(inString: false) }
            switch bytes[i] {
            case UInt8(ascii: "]"):
                return .value(.array(elements), end: i + 1)
            case UInt8(ascii: ","):
                i += 1
            default:
                switch value(at: i, depth: depth + 1) {
                case .value(let v, let e):
                    elements.append(v)
                    i = e
                case let other:
                    return other
                }
            }
        }
    }

    private func literal(_ word: StaticString, _ v: TranscriptJSONValue, at start: Int) -> TranscriptJSONScan {
        let w = word.withUTF8Buffer { Array($0) }
        for k in 0..<w.count {
            guard start + k < end else { return .needMore(inString: false) }
            guard bytes[start + k] == w[k] else { return .invalid(at: start + k) }
        }
        return .value(v, end: start + w.count)
    }

    private func number(at start: Int) -> TranscriptJSONScan {
        var i = start
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        while i < end, isDigit(bytes[i]) { i += 1 }
        if i < end, bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        if i < end, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < end, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        // A number that touches the end of the text may still grow.
        guard i < end else { return .needMore(inString: false) }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        // Too large for a double (`1e400`, 400 digits) reads as ±infinity: still a number, which the segment
        // reader then refuses as a time (`TranscriptTime`) without losing the rest of the element.
        guard let d = Double(text) else { return .invalid(at: start) }
        return .value(.number(d, text: text), end: i)
    }

    enum StringScan {
        case complete(String, end: Int)
        case needMore
    }

    /// Scans a string whose opening quote is at `start`.
    func string(at start: Int) -> StringScan {
        var out: [UInt8] = []
        var i = start + 1
        while true {
            guard i < end else { return .needMore }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                return .complete(String(decoding: out, as: UTF8.self), end: i + 1)
            }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < end else { return .needMore }
            let e = bytes[i + 1]
            switch e {
            case UInt8(ascii: "b"): out.append(0x08); i += 2
            case UInt8(ascii: "f"): out.append(0x0C); i += 2
            case UInt8(ascii: "n"): out.append(0x0A); i += 2
            case UInt8(ascii: "r"): out.append(0x0D); i += 2
            case UInt8(ascii: "t"): out.append(0x09); i += 2
            case UInt8(ascii: "u"):
                switch hex4(at: i + 2) {
                case .needMore: return .needMore
                case .invalid:
                    // Not an escape after all: keep the text as written, minus the backslash.
                    out.append(e); i += 2
                case .unit(let unit):
                    var scalar: Unicode.Scalar = "\u{FFFD}"
                    var next = i + 6
                    if (0xD800...0xDBFF).contains(unit) {
                        // A high surrogate pairs with an immediately following \uDC00-\uDFFF escape.
                        guard next < end else { return .needMore }
                        if bytes[next] == UInt8(ascii: "\\") {
                            guard next + 1 < end else { return .needMore }
                        }
                        if bytes[next] == UInt8(ascii: "\\"), bytes[next + 1] == UInt8(ascii: "u") {
                            switch hex4(at: next + 2) {
                            case .needMore: return .needMore
                            case .unit(let low) where (0xDC00...0xDFFF).contains(low):
                                let v = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                                scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                                next += 6
                            default:
                                break
                            }
                        }
                    } else if let s = Unicode.Scalar(UInt32(unit)) {
                        scalar = s
                    }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    i = next
                }
            default:
                // `\"`, `\\`, `\/`, and, tolerated, any other escaped byte: the byte itself.
                out.append(e); i += 2
            }
        }
    }

    private enum Hex4 { case unit(UInt16), needMore, invalid }

    private func hex4(at start: Int) -> Hex4 {
        var v: UInt16 = 0
        for k in 0..<4 {
            guard start + k < end else { return .needMore }
            let b = bytes[start + k]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: return .invalid
            }
            v = v << 4 | UInt16(d)
        }
        return .unit(v)
    }
}
