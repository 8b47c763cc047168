import CSndfile
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads audio and video files and turns them into the model's input signal: mean of the channels,
/// resampled to 24 kHz with libsoxr (see `Resampler`).
///
/// Two decoders, one path after them. libsndfile reads what it knows: WAV (8/16/24/32-bit integer,
/// 32/64-bit float, WAVE_FORMAT_EXTENSIBLE), AIFF, FLAC, Ogg Vorbis, Ogg Opus, MP3 (and CAF, W64, RF64, AU).
/// What it does not recognise, or recognises but cannot decode, goes to FFmpeg (`FFmpegDecoder`): AAC/M4A,
/// ALAC, WMA, AMR, and the audio track of MP4, MOV, MKV, WebM and AVI video. Both give float32 frames
/// (integers scaled the same way) to the same downmix and resampler (`SignalAssembler`), so the
/// decoder that reads a WAV or FLAC today still does, sample for sample.
///
/// `audioStream` picks an audio stream of a container with several (counted from 0 among the audio
/// streams, as ffmpeg's `-map 0:a:N`); any stream other than the first is read through FFmpeg.
///
/// Decoding is streamed in blocks of `blockFrames` frames: each block is downmixed and fed to
/// the resampler, and only the 24 kHz output is kept, so peak memory is close to the size of the
/// 24 kHz float signal. Audio that is already 24 kHz mono is copied as decoded (no resampler).
///
/// Damaged input: a file that decodes to fewer frames than its header or container declares (a flipped
/// bit or a spliced frame in a FLAC, a cut-short download or recording, see `DecodeCompleteness`) throws
/// `AudioError.incomplete`, and a decoder or read error `AudioError.decodeFailed`; with `allowPartial` the
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

    /// Decodes an audio or video file.
    /// - Parameter maxDuration: if given, audio longer than this many seconds (of source audio)
    ///   is refused with `AudioError.tooLong`; the header's frame count is checked before any
    ///   sample is decoded when the format states it, otherwise decoding stops with
    ///   `AudioError.tooLongWhileDecoding` as soon as the limit is passed.
    /// - Parameter allowPartial: keep the audio that decoded from a damaged or cut-short file (fewer frames
    ///   than the header declares, or a decoder error after some audio) and say so in `warnings`, instead
    ///   of throwing `AudioError.incomplete` / `.decodeFailed`.
    /// - Parameter audioStream: which audio stream to decode, counted from 0 among the file's audio streams
    ///   (default: the first).
    public static func load(contentsOf url: URL, maxDuration: Double? = nil,
                            allowPartial: Bool = false, audioStream: Int = 0,
                       oggPages: () -> String? = { nil }) throws -> AudioSignal {
        let path = url.path
        try validate(maxDuration: maxDuration, audioStream: audioStream)
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
        let request = DecodeRequest(name: path, maxDuration: maxDuration, allowPartial: allowPartial,
                                    audioStream: audioStream)
        // libsndfile gets a duplicate to own: libsndfile 1.2 closes the descriptor of a failed open even when
        // told not to, and this one must stay open for FFmpeg (and be closed once, by the defer above).
        return try decodeEither(request, pages: pages, bytes: FileBytes(fd: fd, size: size)) { info in
            let owned = dup(fd)
            return owned < 0 ? nil : sf_open_fd(owned, Int32(SFM_READ), &info, 1)
        }
    }

    /// An Ogg file whose pages are broken is refused before libsndfile opens it: the verdict is the same
    /// after decoding, and libsndfile 1.2's failed Vorbis open leaks its `vorbis_info` (found by fuzzing
    /// the loader under the leak sanitizer). With `allowPartial` it is decoded as far as it goes.
    static func refuseBrokenOgg(_ problem: String?, name: String, allowPartial: Bool) throws {
        if let problem, !allowPartial { throw AudioError.incomplete(name: name, detail: problem) }
    }

    /// libsndfile first, for the first audio stream; FFmpeg for what libsndfile does not recognise or cannot
    /// decode, and for any other stream. A file libsndfile recognises and refuses (a damaged header, an absurd
    /// rate or channel count) is not handed on: its error stands.
    /// When FFmpeg does not recognise the bytes either, libsndfile's verdict is the error.
    static func decodeEither(_ request: DecodeRequest, pages: String?, bytes: SeekableBytes,
                             openSndfile: (inout SF_INFO) -> OpaquePointer?) throws -> AudioSignal {
        guard request.audioStream == 0 else {
            do {
                return try FFmpegDecoder.decode(bytes, request)
            } catch let refusal as FFmpegInput.NotRecognised {
                throw AudioError.unrecognizedFormat(name: request.name, detail: refusal.detail)
            }
        }
        var info = SF_INFO()
        let handle: OpaquePointer
        do {
            handle = try openLocked(name: request.name) { openSndfile(&info) }
        } catch let error as AudioError {
            switch error {
            case .unrecognizedFormat, .unsupportedEncoding:
                do {
                    return try FFmpegDecoder.decode(bytes, request)
                } catch is FFmpegInput.NotRecognised {
                    throw error
                }
            default:
                throw error
            }
        }
        defer { sf_close(handle) }
        return try decode(handle, info: info, name: request.name, maxDuration: request.maxDuration,
                          allowPartial: request.allowPartial) { pages }
    }

    /// Decodes audio held in memory (the bytes of a file in any supported format).
    /// - Parameter name: how the input is named in error messages.
    public static func load(data: Data, name: String = "<memory>", maxDuration: Double? = nil,
                            allowPartial: Bool = false, audioStream: Int = 0,
                       oggPages: () -> String? = { nil }) throws -> AudioSignal {
        try validate(maxDuration: maxDuration, audioStream: audioStream)
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
            let request = DecodeRequest(name: name, maxDuration: maxDuration, allowPartial: allowPartial,
                                        audioStream: audioStream)
            return try withExtendedLifetime(reader) {
                let user = Unmanaged.passUnretained(reader).toOpaque()
                // FFmpeg reads the same bytes through a reader of its own (libsndfile may have moved this one).
                return try decodeEither(request, pages: pages, bytes: MemoryReader(base: base, count: raw.count)) { info in
                    sf_open_virtual(&io, Int32(SFM_READ), &info, user)
                }
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

    static func validate(maxDuration: Double?, audioStream: Int = 0) throws {
        if let limit = maxDuration, !(limit.isFinite && limit > 0) {
            throw AudioError.invalidMaxDuration(limit)
        }
        if audioStream < 0 { throw AudioError.invalidAudioStream(audioStream) }
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
}
