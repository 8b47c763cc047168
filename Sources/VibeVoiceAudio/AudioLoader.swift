import CSndfile
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads audio files (through libsndfile) and turns them into the model's input signal:
/// mean of the channels, resampled to 24 kHz with libsoxr (see `Resampler`).
///
/// Formats: whatever the system libsndfile reads, which includes WAV (8/16/24/32-bit integer,
/// 32/64-bit float, WAVE_FORMAT_EXTENSIBLE), AIFF, FLAC, Ogg Vorbis, Ogg Opus and MP3.
///
/// Decoding is streamed in blocks of `blockFrames` frames: each block is downmixed and fed to
/// the resampler, and only the 24 kHz output is kept, so peak memory is close to the size of the
/// 24 kHz float signal. Audio that is already 24 kHz mono is copied as decoded (no resampler).
///
/// Damaged input: a file that decodes to fewer frames than its header declares (a flipped bit or a
/// spliced frame in a FLAC, a cut-short download or recording, see `DecodeCompleteness`) throws
/// `AudioError.incomplete`, and a decoder error `AudioError.decodeFailed`; with `allowPartial` the
/// audio that decoded is kept and the signal's `warnings` say how much. A header that cannot be
/// parsed, an unknown codec, NaN or infinite samples and out-of-range rates or channel counts
/// throw an `AudioError`. Only regular files are read (not FIFOs or devices).
///
/// The result is not loudness-normalised: the caller applies `LoudnessNormalizer.normalize`
/// to `samples` (the reference does it in the feature extractor, after resampling).
/// All functions are safe to call from several threads at once.
public enum AudioLoader {
    /// Source sample rates accepted (Hz).
    public static let supportedSampleRates: ClosedRange<Int> = 1_000...768_000
    /// Source channel counts accepted (libsndfile's own limit is 1024).
    public static let supportedChannelCounts: ClosedRange<Int> = 1...1_024
    /// Frames decoded per block.
    static let blockFrames = 65_536
    /// Upper bound on interleaved samples per block (keeps many-channel blocks small).
    static let maxBlockSamples = 1 << 20
    /// Output samples reserved up front at most (3 hours at 24 kHz); longer audio grows the array.
    static let maxReservedSamples = 3 * 3_600 * AudioSignal.sampleRate

    /// Decodes an audio file.
    /// - Parameter maxDuration: if given, audio longer than this many seconds (of source audio)
    ///   is refused with `AudioError.tooLong`; the header's frame count is checked before any
    ///   sample is decoded when the format states it, otherwise decoding stops with
    ///   `AudioError.tooLongWhileDecoding` as soon as the limit is passed.
    /// - Parameter allowPartial: keep the audio that decoded from a damaged or cut-short file (fewer frames
    ///   than the header declares, or a decoder error after some audio) and say so in `warnings`, instead
    ///   of throwing `AudioError.incomplete` / `.decodeFailed`.
    public static func load(contentsOf url: URL, maxDuration: Double? = nil,
                            allowPartial: Bool = false,
                       oggPages: () -> String? = { nil }) throws -> AudioSignal {
        let path = url.path
        try validate(maxDuration: maxDuration)
        // Non-blocking so that a FIFO cannot hang the open; it is refused just below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw AudioError.fileNotFound(path: path) }
            throw AudioError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw AudioError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw AudioError.notARegularFile(path: path) }
        guard st.st_size > 0 else { throw AudioError.emptyInput(name: path) }

        let size = Int(st.st_size)
        var pages: String?
        if let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED {
            pages = OggPageCheck.problem(UnsafeRawBufferPointer(start: map, count: size))
            munmap(map, size)
        }
        try refuseBrokenOgg(pages, name: path, allowPartial: allowPartial)
        var info = SF_INFO()
        // The descriptor stays ours (closed by the defer above), whatever libsndfile does.
        let handle = try openLocked(name: path) { sf_open_fd(fd, Int32(SFM_READ), &info, 0) }
        defer { sf_close(handle) }
        return try decode(handle, info: info, name: path, maxDuration: maxDuration, allowPartial: allowPartial) { pages }
    }

    /// An Ogg file whose pages are broken is refused before libsndfile opens it: the verdict is the same
    /// after decoding, and libsndfile 1.2's failed Vorbis open leaks its `vorbis_info` (found by fuzzing
    /// the loader under the leak sanitizer). With `allowPartial` it is decoded as far as it goes.
    static func refuseBrokenOgg(_ problem: String?, name: String, allowPartial: Bool) throws {
        if let problem, !allowPartial { throw AudioError.incomplete(name: name, detail: problem) }
    }

    /// Decodes audio held in memory (the bytes of a file in any supported format).
    /// - Parameter name: how the input is named in error messages.
    public static func load(data: Data, name: String = "<memory>", maxDuration: Double? = nil,
                            allowPartial: Bool = false,
                       oggPages: () -> String? = { nil }) throws -> AudioSignal {
        try validate(maxDuration: maxDuration)
        guard !data.isEmpty else { throw AudioError.emptyInput(name: name) }
        return try data.withUnsafeBytes { raw -> AudioSignal in
            guard let base = raw.baseAddress else { throw AudioError.emptyInput(name: name) }
            let reader = MemoryReader(base: base, count: raw.count)
            var io = SF_VIRTUAL_IO(
                get_filelen: { user in
                    Int64(Unmanaged<MemoryReader>.fromOpaque(user!).takeUnretainedValue().count)
                },
                seek: { offset, whence, user in
                    Unmanaged<MemoryReader>.fromOpaque(user!).takeUnretainedValue().seek(offset, whence)
                },
                read: { dst, count, user in
                    Unmanaged<MemoryReader>.fromOpaque(user!).takeUnretainedValue().read(into: dst, count)
                },
                write: { _, _, _ in 0 },
                tell: { user in
                    Int64(Unmanaged<MemoryReader>.fromOpaque(user!).takeUnretainedValue().position)
                })
            let pages = OggPageCheck.problem(UnsafeRawBufferPointer(raw))
            try refuseBrokenOgg(pages, name: name, allowPartial: allowPartial)
            var info = SF_INFO()
            return try withExtendedLifetime(reader) {
                let user = Unmanaged.passUnretained(reader).toOpaque()
                let handle = try openLocked(name: name) { sf_open_virtual(&io, Int32(SFM_READ), &info, user) }
                defer { sf_close(handle) }
                return try decode(handle, info: info, name: name, maxDuration: maxDuration,
                                  allowPartial: allowPartial) { pages }
            }
        }
    }

    /// Builds the signal from samples already in memory (interleaved when `channels > 1`):
    /// mean of the channels, then resampling to 24 kHz.
    public static func fromSamples(_ s: [Float], sampleRate: Int, channels: Int = 1,
                                   maxDuration: Double? = nil) throws -> AudioSignal {
        let name = "<samples>"
        try validate(maxDuration: maxDuration)
        guard supportedChannelCounts.contains(channels) else {
            throw AudioError.invalidChannelCount(name: name, channels: channels)
        }
        guard supportedSampleRates.contains(sampleRate) else {
            throw AudioError.invalidSampleRate(name: name, rate: sampleRate)
        }
        guard s.count % channels == 0 else {
            throw AudioError.sampleCountNotMultipleOfChannels(name: name, count: s.count, channels: channels)
        }
        let frames = s.count / channels
        guard frames > 0 else { throw AudioError.noSamples(name: name) }
        if let limit = maxDuration, Double(frames) / Double(sampleRate) > limit {
            throw AudioError.tooLong(name: name, seconds: Double(frames) / Double(sampleRate), limit: limit)
        }
        if let bad = s.firstIndex(where: { !$0.isFinite }) {
            throw AudioError.nonFiniteSample(name: name, frame: bad / channels, channel: bad % channels)
        }
        var mono: [Float]
        if channels == 1 {
            mono = s
        } else {
            mono = [Float](repeating: 0, count: frames)
            s.withUnsafeBufferPointer { src in
                mono.withUnsafeMutableBufferPointer { dst in
                    downmix(src.baseAddress!, frames: frames, channels: channels, into: dst.baseAddress!)
                }
            }
        }
        let samples = sampleRate == AudioSignal.sampleRate
            ? mono : try Resampler.resample(mono, from: sampleRate, to: AudioSignal.sampleRate)
        guard !samples.contains(where: { !$0.isFinite }) else { throw AudioError.overflow(name: name) }
        return AudioSignal(samples: samples, sourceSampleRate: sampleRate, sourceChannels: channels,
                           sourceFrames: frames, sourceFormat: "samples")
    }

    // MARK: - Internals

    static func validate(maxDuration: Double?) throws {
        if let limit = maxDuration, !(limit.isFinite && limit > 0) {
            throw AudioError.invalidMaxDuration(limit)
        }
    }

    /// Mean of the channels, summed left to right in float32 then divided by the channel count
    /// (what numpy's `mean(axis=0)` does for float32 input).
    @inline(__always)
    static func downmix(_ src: UnsafePointer<Float>, frames: Int, channels: Int, into dst: UnsafeMutablePointer<Float>) {
        let scale = Float(channels)
        for f in 0..<frames {
            let row = src + f * channels
            var sum = row[0]
            for c in 1..<channels { sum += row[c] }
            dst[f] = sum / scale
        }
    }

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
        var maxFrames: Int? = nil
        if let limit = maxDuration {
            if let frames = headerFrames, Double(frames) / Double(rate) > limit {
                throw AudioError.tooLong(name: name, seconds: Double(frames) / Double(rate), limit: limit)
            }
            let bound = (limit * Double(rate)).rounded(.down)
            if bound < 9e18 { maxFrames = Int(bound) }
        }
        // Integer data is scaled to [-1, 1) (libsndfile's default; set explicitly).
        sf_command(handle, Int32(SFC_SET_NORM_FLOAT), nil, 1)

        let target = AudioSignal.sampleRate
        var output: [Float] = []
        if let frames = headerFrames {
            let expected = Resampler.outputLength(inputFrames: frames, from: rate, to: target)
            let reserve = min(expected, maxReservedSamples) + 64
            // Swift traps when an array cannot grow; under a memory limit (ulimit -v, a cgroup) the buffer
            // the header asks for is tried first with malloc, so that its failure is an error, not a crash.
            guard let probe = malloc(reserve * MemoryLayout<Float>.size) else {
                throw AudioError.outOfMemory(name: name, bytes: reserve * MemoryLayout<Float>.size)
            }
            free(probe)
            output.reserveCapacity(reserve)
        }
        let block = max(1, min(blockFrames, maxBlockSamples / channels))
        var interleaved = [Float](repeating: 0, count: block * channels)
        var mono = [Float](repeating: 0, count: channels > 1 ? block : 0)
        let resampler = rate == target ? nil : try StreamingResampler(from: rate, to: target)
        var decoded = 0

        while true {
            let n = interleaved.withUnsafeMutableBufferPointer { buf in
                Int(sf_readf_float(handle, buf.baseAddress, sf_count_t(block)))
            }
            if n <= 0 { break }
            let count = n * channels
            if let bad = interleaved[0..<count].firstIndex(where: { !$0.isFinite }) {
                throw AudioError.nonFiniteSample(name: name, frame: decoded + bad / channels, channel: bad % channels)
            }
            decoded += n
            if let maxFrames, decoded > maxFrames {
                throw AudioError.tooLongWhileDecoding(name: name, decodedSeconds: Double(decoded) / Double(rate),
                                                      limit: maxDuration!)
            }
            if channels > 1 {
                interleaved.withUnsafeBufferPointer { src in
                    mono.withUnsafeMutableBufferPointer { dst in
                        downmix(src.baseAddress!, frames: n, channels: channels, into: dst.baseAddress!)
                    }
                }
            }
            let blockSamples = channels > 1 ? mono : interleaved
            if let resampler {
                try blockSamples.withUnsafeBufferPointer { buf in
                    try resampler.process(UnsafeBufferPointer(rebasing: buf[0..<n]), into: &output)
                }
            } else {
                output.append(contentsOf: blockSamples[0..<n])
            }
        }
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
        if let resampler {
            try resampler.flush(into: &output)
            Resampler.fitLength(&output, to: Resampler.outputLength(inputFrames: decoded, from: rate, to: target))
        }
        guard !output.isEmpty else { throw AudioError.tooShortToResample(name: name, frames: decoded, rate: rate) }
        // Finite input can still overflow in the channel mean or the resampler (a float WAV of 3e38 values,
        // found by fuzzing); an infinite sample would turn the loudness normalisation into NaN.
        guard !output.contains(where: { !$0.isFinite }) else { throw AudioError.overflow(name: name) }
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
        let origin: Int
        switch whence {
        case SEEK_SET: origin = 0
        case SEEK_CUR: origin = position
        case SEEK_END: origin = count
        default: return -1
        }
        let (target, overflow) = origin.addingReportingOverflow(Int(offset))
        guard !overflow, target >= 0 else { return -1 }
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
