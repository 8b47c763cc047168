/// Checks the page structure of an Ogg file (Vorbis, Opus): libogg drops a page whose checksum fails
/// and the decoders carry on, and a cut-short stream has no length to compare with, so a damaged Ogg file
/// decodes to less audio with no error. Each page must start where the previous one ended, pass its CRC,
/// and follow the previous page of its logical stream in sequence; every logical stream must end with
/// its end-of-stream page (RFC 3533).
enum OggPageCheck {
    /// A sentence saying what is wrong, or `nil` when the structure is whole (or the bytes are no Ogg file).
    static func problem(_ bytes: UnsafeRawBufferPointer) -> String? {
        let n = bytes.count
        guard n >= 27, isCapture(bytes, 0) else { return nil }
        var offset = 0
        var nextSequence: [UInt32: UInt32] = [:]   // by stream serial number
        var ended = Set<UInt32>()
        while offset < n {
            guard offset + 27 <= n else { return "the file ends inside the page header at byte \(offset) (cut short)" }
            guard isCapture(bytes, offset) else { return "no Ogg page where one should start, at byte \(offset)" }
            let flags = bytes[offset + 5]
            let serial = le32(bytes, offset + 14)
            let sequence = le32(bytes, offset + 18)
            let stored = le32(bytes, offset + 22)
            let segments = Int(bytes[offset + 26])
            guard offset + 27 + segments <= n else { return "the file ends inside the page at byte \(offset) (cut short)" }
            var body = 0
            for k in 0..<segments { body += Int(bytes[offset + 27 + k]) }
            let end = offset + 27 + segments + body
            guard end <= n else { return "the file ends inside the page at byte \(offset) (cut short)" }
            guard crc(bytes, offset, end) == stored else { return "the page at byte \(offset) fails its checksum" }
            if let expected = nextSequence[serial], sequence != expected {
                return "page \(expected) of the stream is missing before byte \(offset)"
            }
            nextSequence[serial] = sequence &+ 1
            if flags & 0x04 != 0 { ended.insert(serial) }
            offset = end
        }
        if nextSequence.keys.contains(where: { !ended.contains($0) }) {
            return "the stream has no end-of-stream page (cut short)"
        }
        return nil
    }

    private static func isCapture(_ b: UnsafeRawBufferPointer, _ i: Int) -> Bool {
        i + 4 <= b.count && b[i] == 0x4F && b[i + 1] == 0x67 && b[i + 2] == 0x67 && b[i + 3] == 0x53   // "OggS"
    }

    private static func le32(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    /// Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial 0) of a page with its CRC field as zero.
    private static func crc(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt32 {
        var c: UInt32 = 0
        for i in start..<end {
            let byte = (i >= start + 22 && i < start + 26) ? 0 : b[i]
            c = (c << 8) ^ table[Int(((c >> 24) ^ UInt32(byte)) & 0xFF)]
        }
        return c
    }

    private static let table: [UInt32] = (0..<256).map { i in
        var r = UInt32(i) << 24
        for _ in 0..<8 { r = r & 0x8000_0000 != 0 ? (r << 1) ^ 0x04C1_1DB7 : r << 1 }
        return r
    }
}
