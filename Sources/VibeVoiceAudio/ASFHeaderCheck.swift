/// Tells whether an ASF file (WMA, WMV) is shorter than its header says. FFmpeg's ASF reader drops the play
/// duration of a file shorter than its header's file size and then decodes what is there with no error, so a
/// cut-short WMA would decode to less audio in silence. The header's File Properties Object states the file
/// size; a file that is not a live broadcast must hold that many bytes.
enum ASFHeaderCheck {
    /// The ASF Header Object and File Properties Object GUIDs, as stored.
    static let headerGUID: [UInt8] = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C]
    static let filePropertiesGUID: [UInt8] = [0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11, 0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65]
    /// The header is read up to this size (real headers are a few kilobytes).
    static let maxHeaderBytes = 1 << 20

    /// A sentence saying what is missing, or `nil` when the file is whole (or is no ASF file, or a broadcast).
    static func problem(_ bytes: SeekableBytes) -> String? {
        let saved = bytes.offset
        defer { bytes.offset = saved }
        bytes.offset = 0
        let want = min(bytes.size, maxHeaderBytes)
        var header = [UInt8](repeating: 0, count: want)
        var got = 0
        while got < want {
            let n = header.withUnsafeMutableBytes { bytes.read(into: $0.baseAddress! + got, count: want - got) }
            if n <= 0 { break }
            got += n
        }
        guard got >= 30, Array(header[0..<16]) == headerGUID else { return nil }
        let headerSize = min(Int(clamping: le64(header, 16)), got)
        var offset = 30
        while offset + 24 <= headerSize {
            // An object that does not fit in what is left of the header ends the walk (the next step would leave
            // the header anyway); its size may be anything up to 2^64-1, so it is compared, never added first
            // (a fuzzed WMA with a huge object size overflowed `offset + size`).
            let size = Int(clamping: le64(header, offset + 16))
            guard size >= 24, size <= headerSize - offset else { return nil }
            if Array(header[offset..<(offset + 16)]) == filePropertiesGUID, offset + 92 <= got {
                let declared = le64(header, offset + 40)
                let broadcast = header[offset + 88] & 0x01 != 0
                guard !broadcast, declared > UInt64(bytes.size) else { return nil }
                return "the header declares \(declared) bytes, the file holds \(bytes.size)"
            }
            offset += size
        }
        return nil
    }

    private static func le64(_ b: [UInt8], _ i: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
    }
}
