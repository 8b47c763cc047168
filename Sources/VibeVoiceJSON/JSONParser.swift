import Foundation

// One reader for every JSON file the engine loads: config.json, model.safetensors.index.json, safetensors headers
// (straight from the memory map) and the 8 MB tokenizer.json. It builds Swift strings directly from the UTF-8 bytes
// and keeps objects as member lists; Foundation's JSONSerialization takes about half a second on tokenizer.json
// (bridging 450 000 strings to Foundation objects), this reader about 40 ms.

/// What the parser accepts beyond strict RFC 8259, and its limits.
public struct JSONParseOptions: Sendable, Equatable {
    /// Values nested deeper than this many levels are rejected (the top-level value is level 1), so recursion
    /// stays bounded for hostile input.
    public var maxDepth: Int
    /// Reject an object that names the same key twice (the error points at the second one). When false, both
    /// members are kept and lookups answer the first.
    public var rejectDuplicateKeys: Bool
    /// Skip a UTF-8 byte-order mark before the document.
    public var allowByteOrderMark: Bool
    /// Turn a `\u` escape of an unpaired UTF-16 surrogate into U+FFFD instead of rejecting it.
    public var replaceLoneSurrogates: Bool

    public init(maxDepth: Int = 64, rejectDuplicateKeys: Bool = true, allowByteOrderMark: Bool = false,
                replaceLoneSurrogates: Bool = false) {
        self.maxDepth = maxDepth
        self.rejectDuplicateKeys = rejectDuplicateKeys
        self.allowByteOrderMark = allowByteOrderMark
        self.replaceLoneSurrogates = replaceLoneSurrogates
    }

    /// Strict RFC 8259: no duplicate keys, no byte-order mark, no lone surrogates, at most 64 levels.
    public static let strict = JSONParseOptions()
}

/// A JSON syntax error: what was wrong and at which byte of the input (0-based).
public struct JSONParseError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public let offset: Int

    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    public var description: String { "\(message) at byte \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document occupying all of `bytes` (whitespace around it allowed). Every read is checked
    /// against the buffer end; strings must be valid UTF-8.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>,
                             options: JSONParseOptions = .strict) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(bytes: bytes, options: options)
        if options.allowByteOrderMark, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            reader.pos = 3
        }
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        if reader.pos != bytes.count { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer,
                             options: JSONParseOptions = .strict) throws(JSONParseError) -> JSONValue {
        try parse(bytes.bindMemory(to: UInt8.self), options: options)
    }

    public static func parse(_ bytes: [UInt8], options: JSONParseOptions = .strict) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            do throws(JSONParseError) { return .success(try parse(buffer, options: options)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public static func parse(_ data: Data, options: JSONParseOptions = .strict) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = data.withUnsafeBytes { raw in
            do throws(JSONParseError) { return .success(try parse(raw, options: options)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// The recursive-descent reader behind `JSONValue.parse`.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let options: JSONParseOptions
    var pos = 0
    /// Reused for strings with escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, options: JSONParseOptions) {
        self.bytes = bytes
        self.options = options
    }

    func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: pos) }

    @inline(__always) mutating func skipWhitespace() {
        while pos < bytes.count {
            let c = bytes[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    /// A value starting at `pos` (whitespace already skipped).
    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < options.maxDepth else { throw error("nesting deeper than \(options.maxDepth) levels") }
        guard pos < bytes.count else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case let c where c < 0x80 && c >= 0x20:
            throw error("unexpected character '\(Character(Unicode.Scalar(c)))'")
        case let c:
            throw error("unexpected byte 0x\(String(c, radix: 16, uppercase: true))")
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        pos += 1  // '{'
        var members = JSONObject()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
        var seen: Set<String> = []
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = pos
            let key = try string()
            if options.rejectDuplicateKeys, !seen.insert(key).inserted {
                throw JSONParseError(message: "duplicate key \"\(key)\"", offset: keyOffset)
            }
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            pos += 1
            skipWhitespace()
            members.append(key: key, value: try value(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input in an object") }
            let c = bytes[pos]
            if c == UInt8(ascii: ",") { pos += 1; continue }
            if c == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        pos += 1  // '['
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input in an array") }
            let c = bytes[pos]
            if c == UInt8(ascii: ",") { pos += 1; continue }
            if c == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard bytes.count - pos >= n else { throw error("truncated literal") }
        for k in 0..<n where bytes[pos + k] != word.utf8Start[k] { throw error("invalid literal") }
        pos += n
    }

    @inline(__always) func isDigit(_ i: Int) -> Bool {
        i < bytes.count && bytes[i] &- 0x30 < 10
    }

    /// A number by the RFC 8259 grammar. Integers that fit an `Int` stay exact; the rest become doubles.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = pos
        let negative = bytes[pos] == UInt8(ascii: "-")
        if negative { pos += 1 }
        guard isDigit(pos) else { pos = start; throw error("invalid number") }
        // Accumulate the magnitude as a negative value: Int.min has no positive counterpart.
        var value = 0
        var exact = true
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else {
            while isDigit(pos) {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int(bytes[pos] &- 0x30))
                if o1 || o2 { exact = false } else { value = s }
                pos += 1
            }
        }
        var integral = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard isDigit(pos) else { throw error("invalid number: digit expected after '.'") }
            while isDigit(pos) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] | 0x20 == UInt8(ascii: "e") {
            integral = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(pos) else { throw error("invalid number: digit expected in the exponent") }
            while isDigit(pos) { pos += 1 }
        }
        if integral && exact {
            if negative { return .int(value) }
            if value != Int.min { return .int(-value) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONParseError(message: "number out of range", offset: start)
        }
        return .double(d)
    }

    /// A string starting at its opening quote. Multi-byte UTF-8 sequences are checked as the scan meets them.
    mutating func string() throws(JSONParseError) -> String {
        pos += 1
        let start = pos
        // Fast path: no escapes, the string is a slice of the input.
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x80 { try skipUTF8Sequence(); continue }
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in a string") }
            pos += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x80 {
                let from = pos
                try skipUTF8Sequence()
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[from..<pos]))
                continue
            }
            if c == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c < 0x20 { throw error("control character in a string") }
            if c != UInt8(ascii: "\\") { scratch.append(c); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                let scalar = try unicodeEscape()
                UTF8.encode(scalar) { scratch.append($0) }
            default:
                throw error("invalid escape character")
            }
        }
        throw error("unterminated string")
    }

    /// Steps over the multi-byte UTF-8 sequence whose lead byte is at `pos`, checking it is well-formed
    /// (RFC 3629: no overlong forms, surrogates or values past U+10FFFF). The error points at the lead byte.
    @inline(__always) mutating func skipUTF8Sequence() throws(JSONParseError) {
        let c = bytes[pos]
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        let trailing: Int
        switch c {
        case 0xC2...0xDF: trailing = 1
        case 0xE0: trailing = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
        case 0xED: trailing = 2; hi = 0x9F
        case 0xF0: trailing = 3; lo = 0x90
        case 0xF1...0xF3: trailing = 3
        case 0xF4: trailing = 3; hi = 0x8F
        default: throw error("string is not valid UTF-8")
        }
        guard bytes.count - pos > trailing, (lo...hi).contains(bytes[pos + 1]),
              trailing < 2 || bytes[pos + 2] & 0xC0 == 0x80,
              trailing < 3 || bytes[pos + 3] & 0xC0 == 0x80 else { throw error("string is not valid UTF-8") }
        pos += trailing + 1
    }

    /// The scalar of a `\u` escape whose `\u` was just read, combining a surrogate pair.
    mutating func unicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        let first = try hex4()
        if (0xD800..<0xDC00).contains(first) {
            if bytes.count - pos >= 6, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                let save = pos
                pos += 2
                let low = try hex4()
                if (0xDC00..<0xE000).contains(low) {
                    return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00))!
                }
                guard options.replaceLoneSurrogates else { throw error("invalid low surrogate") }
                pos = save  // the next escape stands on its own
                return "\u{FFFD}"
            }
            guard options.replaceLoneSurrogates else { throw error("unpaired surrogate") }
            return "\u{FFFD}"
        }
        if let s = Unicode.Scalar(first) { return s }
        // A low surrogate with no high one before it.
        guard options.replaceLoneSurrogates else { throw error("unpaired surrogate") }
        return "\u{FFFD}"
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }
}
