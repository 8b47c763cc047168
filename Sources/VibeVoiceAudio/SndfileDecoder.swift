import CSndfile
import Foundation

/// Decoding through libsndfile: WAV, AIFF, FLAC, Ogg Vorbis/Opus, MP3 and the other formats it reads.
extension AudioLoader {
    /// Serialises opening: libsndfile keeps the error of a failed open in a process-wide slot.
    private static let openLock = NSLock()

    /// Runs an `sf_open*` call; on failure, reads libsndfile's error before another open can
    /// overwrite it.
    static func openLocked(name: String, _ open: () -> OpaquePointer?) throws -> OpaquePointer {
        openLock.lock()
        defer { openLock.unlock() }
        guard let handle = open() else { throw openError(name: name) }
        return handle
    }

    /// Maps the error of a failed `sf_open*` to an `AudioError`: by libsndfile's public error
    /// code, and for its internal codes by its message (kept in the error either way).
    static func openError(name: String) -> AudioError {
        let code = sf_error(nil)
        let message = String(cString: sf_strerror(nil))
        switch Int(code) {
        case SF_ERR_UNRECOGNISED_FORMAT: return .unrecognizedFormat(name: name, detail: message)
        case SF_ERR_MALFORMED_FILE: return .malformed(name: name, detail: message)
        case SF_ERR_UNSUPPORTED_ENCODING: return .unsupportedEncoding(name: name, detail: message)
        default:
            let lower = message.lowercased()
            if lower.contains("unimplemented") || lower.contains("not supported") || lower.contains("unsupported") {
                return .unsupportedEncoding(name: name, detail: message)
            }
            if lower.contains("malformed") {
                return .malformed(name: name, detail: message)
            }
            // libsndfile says this whenever a decoder (libmpg123) refuses the start of a file it did open.
            if lower.hasPrefix("file does not exist or is not a regular file") {
                return .malformed(name: name, detail: "the decoder cannot read the start of the file (damaged, or not audio)")
            }
            return .openFailed(name: name, detail: message)
        }
    }

    /// libsndfile's names for the container and the encoding, e.g. "WAV (Microsoft), Signed 16 bit PCM".
    static func formatName(_ format: Int32) -> String {
        func name(_ value: Int32) -> String? {
            var fi = SF_FORMAT_INFO()
            fi.format = value
            guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &fi, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
                  let cName = fi.name else { return nil }
            return String(cString: cName)
        }
        let major = name(format & Int32(SF_FORMAT_TYPEMASK))
        let sub = name(format & Int32(SF_FORMAT_SUBMASK))
        return [major, sub].compactMap { $0 }.joined(separator: ", ")
    }

    static func decode(_ handle: OpaquePointer, info: SF_INFO, name: String, maxDuration: Double?,
                       allowPartial: Bool = false,
                       oggPages: () -> String? = { nil }) throws -> AudioSignal {
        let channels = Int(info.channels)
        let rate = Int(info.samplerate)
        guard supportedChannelCounts.contains(channels) else {
            throw AudioError.invalidChannelCount(name: name, channels: channels)
        }
        guard supportedSampleRates.contains(rate) else {
            throw AudioError.invalidSampleRate(name: name, rate: rate)
        }
        // libsndfile reports SF_COUNT_MAX when the length is unknown.
        let headerFrames: Int? = info.frames > 0 && info.frames < Int64.max ? Int(info.frames) : nil
        if let limit = maxDuration, let frames = headerFrames, Double(frames) / Double(rate) > limit {
            throw AudioError.tooLong(name: name, seconds: Double(frames) / Double(rate), limit: limit)
        }
        // Integer data is scaled to [-1, 1) (libsndfile's default; set explicitly).
        sf_command(handle, Int32(SFC_SET_NORM_FLOAT), nil, 1)

        let assembler = try SignalAssembler(name: name, rate: rate, channels: channels, maxDuration: maxDuration,
                                            expectedFrames: headerFrames)
        let block = max(1, min(blockFrames, maxBlockSamples / channels))
        var interleaved = [Float](repeating: 0, count: block * channels)
        while true {
            let n = interleaved.withUnsafeMutableBufferPointer { buf in
                Int(sf_readf_float(handle, buf.baseAddress, sf_count_t(block)))
            }
            if n <= 0 { break }
            try interleaved.withUnsafeBufferPointer { try assembler.append($0, frames: n) }
        }
        let decoded = assembler.decoded
        var warnings: [String] = []
        let status = sf_error(handle)
        if status != 0 {
            let detail = String(cString: sf_strerror(handle))
            guard allowPartial, decoded > 0 else { throw AudioError.decodeFailed(name: name, detail: detail) }
            warnings.append(DecodeCompleteness.keptWarning("decoding failed (\(detail))", decoded: decoded, rate: rate))
        }
        guard decoded > 0 else { throw AudioError.noSamples(name: name) }
        let pages = info.format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_OGG) ? oggPages() : nil
        if let shortfall = DecodeCompleteness.shortfall(handle, info: info, decoded: decoded) ?? pages {
            guard allowPartial else { throw AudioError.incomplete(name: name, detail: shortfall) }
            warnings.append(DecodeCompleteness.keptWarning(shortfall, decoded: decoded, rate: rate))
        }
        let output = try assembler.finish()
        return AudioSignal(samples: output, sourceSampleRate: rate, sourceChannels: channels,
                           sourceFrames: decoded, sourceFormat: formatName(info.format), warnings: warnings)
    }
}

/// The read side of libsndfile's virtual I/O over a byte buffer.
final class MemoryReader {
    let base: UnsafeRawPointer
    let count: Int
    var position = 0

    init(base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    func seek(_ offset: Int64, _ whence: Int32) -> Int64 {
        guard let target = seekTarget(offset, whence: whence) else { return -1 }
        position = target
        return Int64(target)
    }

    func read(into dst: UnsafeMutableRawPointer?, _ requested: Int64) -> Int64 {
        guard let dst, requested > 0, position < count else { return 0 }
        let n = min(Int(requested), count - position)
        dst.copyMemory(from: base + position, byteCount: n)
        position += n
        return Int64(n)
    }
}
