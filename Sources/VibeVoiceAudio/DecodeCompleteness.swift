import CSndfile
import Foundation

/// Tells whether a decode got all the audio the file declares.
///
/// libsndfile stops quietly where a codec loses sync: a FLAC with one flipped bit decodes to half its
/// frames with no error set, and a WAV cut short reports the frames present as its length. Two signs are
/// checked after decoding:
/// - fewer frames decoded than `SF_INFO.frames` declares (FLAC, Ogg Vorbis/Opus, MP3, and every format
///   whose header states its length);
/// - a PCM chunk (`data` of WAV/RF64/W64, `SSND` of AIFF) whose declared byte length exceeds the bytes
///   in the file, which libsndfile logs as `data : 9600 (should be 4001)` and then clamps. A declared
///   length of 0x7FFF0000 bytes or more is the placeholder streaming writers put in a header they cannot
///   seek back to (sox, ffmpeg to a pipe), not a promise, and is not held against the file.
enum DecodeCompleteness {
    /// Declared PCM chunk lengths from this size up are streaming placeholders.
    static let placeholderBytes: UInt64 = 0x7FFF_0000

    /// A sentence saying what is missing, or `nil` when the decode is complete.
    static func shortfall(_ handle: OpaquePointer, info: SF_INFO, decoded: Int) -> String? {
        let rate = Double(info.samplerate)
        if info.frames > 0, info.frames < Int64.max, decoded < Int(info.frames) {
            let declared = Int(info.frames)
            let slack = isMPEG(info.format) ? mpegSlack(declared) : 0
            if declared - decoded > slack {
                return "decoded \(decoded) of the \(declared) frames the header declares "
                    + String(format: "(%.2f of %.2f s)", Double(decoded) / rate, Double(declared) / rate)
            }
        }
        if let (declared, present) = clampedChunk(log: logInfo(handle)), declared < placeholderBytes {
            return "the header declares \(declared) bytes of sample data, the file holds \(present)"
        }
        return nil
    }

    /// The warning kept in `AudioSignal.warnings` when `allowPartial` keeps a short decode.
    static func keptWarning(_ shortfall: String, decoded: Int, rate: Int) -> String {
        "the audio is damaged or cut short: \(shortfall); only the \(String(format: "%.2f", Double(decoded) / Double(rate))) s "
            + "that decoded are transcribed"
    }

    /// MPEG lengths without an exact Xing/Info header are estimated by libmpg123 from the file size and
    /// bit rate, so a short decode of up to 1 % (at least two 1152-sample frames) is not counted.
    static func mpegSlack(_ declared: Int) -> Int { max(2 * 1152, declared / 100) }

    static func isMPEG(_ format: Int32) -> Bool {
        format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_MPEG)
    }

    static func logInfo(_ handle: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 16_384)
        let n = buffer.withUnsafeMutableBufferPointer { buf in
            sf_command(handle, Int32(SFC_GET_LOG_INFO), buf.baseAddress, Int32(buf.count))
        }
        guard n > 0 else { return "" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The declared and present byte lengths of a PCM chunk that libsndfile logged as longer than the file
    /// (`data : 9600 (should be 4001)`), or `nil`.
    static func clampedChunk(log: String) -> (declared: UInt64, present: UInt64)? {
        for line in log.split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " })
            guard trimmed.hasPrefix("data") || trimmed.hasPrefix("SSND"),
                  let should = trimmed.range(of: "(should be ") else { continue }
            let head = trimmed[..<should.lowerBound].split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) }
            let tail = trimmed[should.upperBound...].prefix(while: { $0.isNumber })
            if let head, let declared = UInt64(head), let present = UInt64(tail), declared > present {
                return (declared, present)
            }
        }
        return nil
    }
}
