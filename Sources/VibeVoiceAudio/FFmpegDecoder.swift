import CFFmpeg
import CFFmpegLog
import Foundation

/// What a caller asks of a decode.
struct DecodeRequest {
    var name: String
    var maxDuration: Double?
    var allowPartial: Bool
    /// Counted from 0 among the file's audio streams.
    var audioStream: Int
}

/// Decoding through FFmpeg's libraries (libavformat, libavcodec): AAC/M4A, ALAC, WMA, AMR and the audio track
/// of MP4, MOV, MKV, WebM and AVI files, for what libsndfile does not read. The decoded frames, whatever their
/// sample format, become float32 exactly as libsndfile scales integers (16-bit / 32768, 32-bit / 2^31), so a
/// PCM track in a MOV gives the samples of the same PCM in a WAV; then the same downmix and resampler as
/// every other format (`SignalAssembler`).
///
/// Damaged input: a read error of the container, a decoder error (checksums are verified where the codec
/// has them, and errors are not concealed), or fewer frames than the container declares for the stream
/// (beyond two codec frames and 20 ms: decoders may drop a frame of encoder delay) throws
/// `AudioError.decodeFailed` / `.incomplete`. With `allowPartial` a packet the decoder refuses becomes silence
/// of its duration (timestamps after it stay right) and decoding goes on; a read error or a short file keeps
/// what decoded. Either way a warning says so.
enum FFmpegDecoder {
    static func decode(_ bytes: SeekableBytes, _ request: DecodeRequest) throws -> AudioSignal {
        let input = try FFmpegInput(bytes, name: request.name)
        let index = try input.selectAudioStream(request.audioStream)
        return try StreamDecode(input: input, index: index, request: request).decode()
    }
}

/// One audio stream decoded to the end.
private final class StreamDecode {
    let input: FFmpegInput
    let index: Int
    let request: DecodeRequest
    let stream: UnsafeMutablePointer<AVStream>
    let codecName: String
    let declared: Double?
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var assembler: SignalAssembler?
    var converter = SampleConverter()
    /// The largest frame the decoder gave, in samples.
    var largestFrame = 0
    /// The first problem met (a read or decoder error), in words.
    var problem: String?
    /// Whether the problem is where the file ends: a read error, or a packet the decoder refused with no
    /// packet of the stream after it (a file cut off inside its last packet).
    var problemAtEnd = false
    var silencedPackets = 0
    var silencedFrames = 0
    var firstSilenced: Double?
    /// Timestamps of the stream's packets (in its time base): the first, the end of the last, and the
    /// encoder delay the container asked to skip at the start.
    var firstPTS: Int64?
    var endPTS: Int64?
    var startSkip = 0

    init(input: FFmpegInput, index: Int, request: DecodeRequest) throws {
        self.input = input
        self.index = index
        self.request = request
        stream = input.formatContext.pointee.streams[index]!
        let par = stream.pointee.codecpar!
        codecName = String(cString: avcodec_get_name(par.pointee.codec_id))
        declared = input.declaredSeconds(stream: index)
        let name = request.name
        if let limit = request.maxDuration, let seconds = declared, seconds > limit {
            throw AudioError.tooLong(name: name, seconds: seconds, limit: limit)
        }
        guard let decoder = avcodec_find_decoder(par.pointee.codec_id) else {
            throw AudioError.unsupportedEncoding(name: name, detail: "FFmpeg has no decoder for the codec '\(codecName)' of stream #\(index)")
        }
        codec = avcodec_alloc_context3(decoder)
        guard let codec else { throw AudioError.outOfMemory(name: name, bytes: 0) }
        guard avcodec_parameters_to_context(codec, par) >= 0 else {
            throw AudioError.unsupportedEncoding(name: name, detail: "the parameters of the '\(codecName)' stream #\(index) are unusable")
        }
        codec.pointee.pkt_timebase = stream.pointee.time_base
        // One thread: audio decoders gain little from more, and FFmpeg's error text is kept per thread.
        codec.pointee.thread_count = 1
        // Verify checksums where the codec has them (FLAC, ...) and report damage instead of concealing it.
        codec.pointee.err_recognition = AV_EF_CRCCHECK | AV_EF_EXPLODE
        let opened = avcodec_open2(codec, decoder, nil)
        guard opened >= 0 else {
            throw AudioError.unsupportedEncoding(name: name, detail: "the '\(codecName)' decoder refuses stream #\(index): "
                                                    + FFmpegLog.message(opened))
        }
    }

    deinit { avcodec_free_context(&codec) }

    func decode() throws -> AudioSignal {
        guard let packet = av_packet_alloc() else { throw AudioError.outOfMemory(name: request.name, bytes: 0) }
        guard let frame = av_frame_alloc() else { throw AudioError.outOfMemory(name: request.name, bytes: 0) }
        var packetRef: UnsafeMutablePointer<AVPacket>? = packet
        var frameRef: UnsafeMutablePointer<AVFrame>? = frame
        defer {
            av_packet_free(&packetRef)
            av_frame_free(&frameRef)
        }
        let context = input.formatContext
        reading: while true {
            vv_ffmpeg_clear_last_error()
            let read = av_read_frame(context, packet)
            if read == vv_averror_eof() { break }
            if read < 0 {
                problem = "reading the \(input.containerName) file failed after \(position) s: \(FFmpegLog.message(read))"
                problemAtEnd = true
                break
            }
            guard Int(packet.pointee.stream_index) == index else {
                av_packet_unref(packet)
                continue
            }
            note(packet)
            let duration = packet.pointee.duration
            var sent = avcodec_send_packet(codec, packet)
            if sent == vv_averror_eagain() {
                if !(try drain(frame)) { av_packet_unref(packet); break reading }
                sent = avcodec_send_packet(codec, packet)
            }
            av_packet_unref(packet)
            if sent < 0 {
                if try !skip(refused: sent, duration: duration) { break reading }
                continue
            }
            if !(try drain(frame)) { break reading }
        }
        if problem == nil {
            avcodec_send_packet(codec, nil)
            _ = try drain(frame)
        } else if !problemAtEnd {
            problemAtEnd = !packetsFollow(packet)
        }
        return try finish()
    }

    /// Whether the stream has another packet (read on without decoding, after a refused one).
    func packetsFollow(_ packet: UnsafeMutablePointer<AVPacket>) -> Bool {
        while av_read_frame(input.formatContext, packet) >= 0 {
            defer { av_packet_unref(packet) }
            if Int(packet.pointee.stream_index) == index { return true }
        }
        return false
    }

    /// Seconds decoded so far, for messages.
    var position: String {
        guard let assembler else { return "0.00" }
        return String(format: "%.2f", Double(assembler.decoded + converter.pendingFrames) / Double(assembler.rate))
    }

    func note(_ packet: UnsafeMutablePointer<AVPacket>) {
        let p = packet.pointee
        if p.pts != vv_av_nopts_value() {
            if firstPTS == nil {
                firstPTS = p.pts
                var size = 0
                if let skip = av_packet_get_side_data(packet, AV_PKT_DATA_SKIP_SAMPLES, &size), size >= 4 {
                    startSkip = Int(UInt32(skip[0]) | UInt32(skip[1]) << 8 | UInt32(skip[2]) << 16 | UInt32(skip[3]) << 24)
                }
            }
            let (end, overflow) = p.pts.addingReportingOverflow(p.duration)
            if p.duration > 0, !overflow { endPTS = max(endPTS ?? .min, end) }
        }
    }

    /// A packet the decoder refused: with `allowPartial`, once some audio decoded, it becomes silence of its
    /// duration and decoding goes on (`true`); otherwise the problem is recorded and decoding stops.
    func skip(refused code: Int32, duration: Int64) throws -> Bool {
        let at = position
        guard request.allowPartial, let assembler else {
            problem = "the \(codecName) decoder failed at \(at) s: \(FFmpegLog.message(code))"
            return false
        }
        // At most a second (or the longest frame seen) per packet, whatever a damaged header says.
        let stated = duration > 0
            ? av_rescale_q(duration, stream.pointee.time_base, AVRational(num: 1, den: Int32(assembler.rate))) : 0
        let frames = Int(min(max(stated, 0), Int64(max(largestFrame, assembler.rate))))
        try flushPending()
        if firstSilenced == nil { firstSilenced = Double(assembler.decoded) / Double(assembler.rate) }
        try assembler.appendSilence(frames: frames)
        silencedPackets += 1
        silencedFrames += frames
        return true
    }

    /// Takes every frame the decoder has ready; `false` when decoding has to stop.
    func drain(_ frame: UnsafeMutablePointer<AVFrame>) throws -> Bool {
        while true {
            let got = avcodec_receive_frame(codec, frame)
            if got == vv_averror_eagain() || got == vv_averror_eof() { return true }
            if got < 0 { return try skip(refused: got, duration: 0) }
            defer { av_frame_unref(frame) }
            try consume(frame)
        }
    }

    func consume(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        let f = frame.pointee
        let rate = Int(f.sample_rate)
        let channels = Int(f.ch_layout.nb_channels)
        let n = Int(f.nb_samples)
        guard n > 0 else { return }
        if let assembler {
            guard rate == assembler.rate, channels == assembler.channels else {
                try flushPending()
                throw AudioError.formatChanged(name: request.name, detail: "at \(position) s it changes from "
                    + "\(assembler.rate) Hz, \(assembler.channels) channel(s) to \(rate) Hz, \(channels) channel(s)")
            }
        } else {
            let expected = declared.map { Self.frames($0, rate: rate) }
            assembler = try SignalAssembler(name: request.name, rate: rate, channels: channels,
                                            maxDuration: request.maxDuration, expectedFrames: expected)
        }
        largestFrame = max(largestFrame, n)
        guard converter.add(frame, channels: channels) else {
            let format = av_get_sample_fmt_name(AVSampleFormat(rawValue: f.format)).map { String(cString: $0) } ?? "\(f.format)"
            throw AudioError.unsupportedEncoding(name: request.name, detail: "the \(codecName) decoder gives samples as '\(format)'")
        }
        if converter.pendingFrames >= max(1, min(AudioLoader.blockFrames, AudioLoader.maxBlockSamples / channels)) {
            try flushPending()
        }
    }

    func flushPending() throws {
        guard let assembler, converter.pendingFrames > 0 else { return }
        try converter.withPending { try assembler.append($0, frames: $1) }
    }

    func finish() throws -> AudioSignal {
        try flushPending()
        let name = request.name
        guard let assembler, assembler.decoded > 0 else {
            if let problem { throw AudioError.decodeFailed(name: name, detail: problem) }
            if let declared {
                throw AudioError.incomplete(name: name, detail: String(format: "no audio decoded of the %.2f s the container declares", declared))
            }
            if let truncation = input.truncation { throw AudioError.incomplete(name: name, detail: truncation) }
            throw AudioError.noSamples(name: name)
        }
        let rate = assembler.rate
        var decoded = assembler.decoded
        var warnings: [String] = []
        var shortfall: String?
        if let declared {
            let declaredFrames = Self.frames(declared, rate: rate)
            let slack = 2 * largestFrame + rate / 50
            if declaredFrames - decoded > slack {
                shortfall = "decoded \(decoded) of the \(declaredFrames) frames the container declares "
                    + String(format: "(%.2f of %.2f s)", Double(decoded) / Double(rate), declared)
            }
        }
        if shortfall == nil, let truncation = input.truncation { shortfall = truncation }
        if let problem {
            // Short of the declared length and failing where the bytes end: cut short. Otherwise damaged.
            if !request.allowPartial {
                if problemAtEnd, let shortfall { throw AudioError.incomplete(name: name, detail: "\(shortfall); \(problem)") }
                throw AudioError.decodeFailed(name: name, detail: problem)
            }
            warnings.append(DecodeCompleteness.keptWarning(problem, decoded: decoded, rate: rate))
        } else if let shortfall {
            guard request.allowPartial else { throw AudioError.incomplete(name: name, detail: shortfall) }
            warnings.append(DecodeCompleteness.keptWarning(shortfall, decoded: decoded, rate: rate))
        }
        if silencedPackets > 0 {
            warnings.append(String(format: "the audio is damaged: %d packet(s) could not be decoded (the first at %.2f s) "
                                       + "and %.2f s in all are transcribed as silence", silencedPackets, firstSilenced ?? 0,
                                   Double(silencedFrames) / Double(rate)))
        }
        if let end = trimmedLength(rate: rate), end < decoded, decoded - end <= largestFrame { decoded = end }
        let samples = try assembler.finish(keptFrames: decoded)
        return AudioSignal(samples: samples, sourceSampleRate: rate, sourceChannels: assembler.channels,
                           sourceFrames: decoded, sourceFormat: "\(input.containerName), \(codecDescription)",
                           warnings: warnings)
    }

    /// Where the stream ends, in frames, when the container trims the encoder delay at the start (an MP4 edit
    /// list, Matroska's codec delay): the end its last packet states, which FFmpeg's decoders do not apply, so
    /// the padding the encoder added to fill the last frame is dropped too. `nil` for other streams.
    func trimmedLength(rate: Int) -> Int? {
        guard startSkip > 0, let firstPTS, let endPTS else { return nil }
        let timeBase = av_q2d(stream.pointee.time_base)
        let start = Double(firstPTS) * timeBase + Double(startSkip) / Double(rate)
        let seconds = Double(endPTS) * timeBase - start
        return seconds > 0 ? Self.frames(seconds, rate: rate) : nil
    }

    /// `seconds × rate` rounded, within 0...2^53 (a damaged header can state any length).
    static func frames(_ seconds: Double, rate: Int) -> Int {
        let x = (seconds * Double(rate)).rounded()
        return x.isFinite ? Int(min(max(x, 0), 9_007_199_254_740_992)) : 0
    }

    var codecDescription: String {
        let descriptor = avcodec_descriptor_get(stream.pointee.codecpar.pointee.codec_id)
        let long = descriptor?.pointee.long_name.map { String(cString: $0) } ?? codecName
        return input.formatContext.pointee.nb_streams > 1 ? "\(long), stream #\(index)" : long
    }
}
