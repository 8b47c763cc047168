/// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE: bytes that are
/// printable Latin-1 map to themselves, the other 68 map to U+0100 and up, in byte order.
enum ByteLevel {
    /// byteToScalar[b] is the character that stands for byte b in vocabulary strings.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let keepsItself = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if keepsItself {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, indexed by scalar value (all mapped scalars are below 0x144).
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x200)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// The bytes a vocabulary string stands for. As in Hugging Face's ByteLevel decoder, a string
    /// with any character outside the mapping stands for its own UTF-8 bytes.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        appendBytes(ofToken: token, into: &out)
        return out
    }

    static func appendBytes(ofToken token: String, into out: inout [UInt8]) {
        let start = out.count
        for s in token.unicodeScalars {
            let v = s.value
            guard v < 0x200, scalarToByte[Int(v)] >= 0 else {
                out.removeSubrange(start...)
                out.append(contentsOf: token.utf8)
                return
            }
            out.append(UInt8(scalarToByte[Int(v)]))
        }
    }

    /// The vocabulary string for a byte sequence.
    static func string(ofBytes bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }
}
