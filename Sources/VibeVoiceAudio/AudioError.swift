import Foundation

/// Everything that can go wrong while reading, converting or writing audio.
///
/// `description` is the one-line message for the user; it names the file (or `<memory>` /
/// `<samples>` for in-memory input) and the problem.
public enum AudioError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The path does not exist.
    case fileNotFound(path: String)
    /// The path exists but is not a regular file (a directory, for example).
    case notARegularFile(path: String)
    /// The file exists but could not be read (permissions, I/O error).
    case unreadable(path: String, reason: String)
    /// The file or buffer has zero bytes.
    case emptyInput(name: String)
    /// Neither libsndfile nor FFmpeg recognises the bytes as an audio or video file it can read.
    case unrecognizedFormat(name: String, detail: String)
    /// The container was recognised but its header or data is damaged.
    case malformed(name: String, detail: String)
    /// The container was recognised but its codec / sample encoding is not supported.
    case unsupportedEncoding(name: String, detail: String)
    /// Any other failure to open the input (the decoder library's message is kept).
    case openFailed(name: String, detail: String)
    /// The container holds no audio stream; `streams` lists what it holds ("#0 video h264").
    case noAudioStream(name: String, streams: String)
    /// The requested audio stream (counted from 0 among the audio streams) does not exist; `audioStreams`
    /// lists those there are.
    case audioStreamNotFound(name: String, requested: Int, audioStreams: String)
    /// An audio stream number below 0 was requested.
    case invalidAudioStream(Int)
    /// The sample rate or channel count changes in the middle of the stream.
    case formatChanged(name: String, detail: String)
    /// The sample rate is outside `AudioLoader.supportedSampleRates`.
    case invalidSampleRate(name: String, rate: Int)
    /// The channel count is outside `AudioLoader.supportedChannelCounts`.
    case invalidChannelCount(name: String, channels: Int)
    /// The interleaved sample count is not a multiple of the channel count.
    case sampleCountNotMultipleOfChannels(name: String, count: Int, channels: Int)
    /// The input decodes to zero frames.
    case noSamples(name: String)
    /// A decoded sample is NaN or infinite.
    case nonFiniteSample(name: String, frame: Int, channel: Int)
    /// The audio is longer than the configured maximum (length known from the header).
    case tooLong(name: String, seconds: Double, limit: Double)
    /// The header did not state the length and decoding passed the configured maximum
    /// (`decodedSeconds` is how far decoding got).
    case tooLongWhileDecoding(name: String, decodedSeconds: Double, limit: Double)
    /// A maximum duration that is not a positive finite number was requested.
    case invalidMaxDuration(Double)
    /// The decoder (libsndfile, FFmpeg) or the container reader reported an error in the sample data.
    case decodeFailed(name: String, detail: String)
    /// Fewer frames decoded than the header declares (a damaged or cut-short file); `AudioLoader`'s
    /// `allowPartial` keeps what decoded instead.
    case incomplete(name: String, detail: String)
    /// Finite samples so close to the float limit (±3.4e38) that the channel mean or the resampler overflows.
    case overflow(name: String)
    /// The buffer for the decoded signal could not be allocated (a memory limit).
    case outOfMemory(name: String, bytes: Int)
    /// The audio decoded, but is too short to give one sample at 24 kHz.
    case tooShortToResample(name: String, frames: Int, rate: Int)
    /// libsoxr reported an error.
    case resamplerFailed(detail: String)
    /// Writing an output file failed.
    case writeFailed(path: String, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file"
        case .notARegularFile(let path):
            return "\(path): not a regular file (expected an audio file, found a directory or special file)"
        case .unreadable(let path, let reason):
            return "\(path): cannot read the file: \(reason)"
        case .emptyInput(let name):
            return "\(name): the file is empty (0 bytes), expected audio data"
        case .unrecognizedFormat(let name, let detail):
            return "\(name): not a recognised audio file (WAV, FLAC, MP3, Ogg, M4A/AAC, WMA, AMR, AIFF, or a video file "
                + "with an audio track expected): \(detail)"
        case .malformed(let name, let detail):
            return "\(name): damaged audio file: \(detail)"
        case .unsupportedEncoding(let name, let detail):
            return "\(name): unsupported audio encoding: \(detail)"
        case .openFailed(let name, let detail):
            return "\(name): cannot open the audio: \(detail)"
        case .noAudioStream(let name, let streams):
            return "\(name): no audio stream to transcribe (streams: \(streams))"
        case .audioStreamNotFound(let name, let requested, let audioStreams):
            return "\(name): there is no audio stream \(requested); audio streams count from 0, and this file has "
                + audioStreams
        case .invalidAudioStream(let n):
            return "audio stream \(n) is invalid (expected 0 or more: audio streams count from 0)"
        case .formatChanged(let name, let detail):
            return "\(name): the audio format changes mid-stream (\(detail)); convert the file to one rate and channel "
                + "count first, e.g. ffmpeg -i IN -ac 1 -ar 24000 OUT.wav"
        case .invalidSampleRate(let name, let rate):
            return "\(name): sample rate \(rate) Hz is out of range (expected "
                + "\(AudioLoader.supportedSampleRates.lowerBound)...\(AudioLoader.supportedSampleRates.upperBound) Hz)"
        case .invalidChannelCount(let name, let channels):
            return "\(name): channel count \(channels) is out of range (expected "
                + "\(AudioLoader.supportedChannelCounts.lowerBound)...\(AudioLoader.supportedChannelCounts.upperBound))"
        case .sampleCountNotMultipleOfChannels(let name, let count, let channels):
            return "\(name): \(count) interleaved samples is not a multiple of \(channels) channels"
        case .noSamples(let name):
            return "\(name): the audio contains no samples"
        case .nonFiniteSample(let name, let frame, let channel):
            return "\(name): sample at frame \(frame), channel \(channel) is NaN or infinite"
        case .tooLong(let name, let seconds, let limit):
            return "\(name): audio is \(String(format: "%.2f", seconds)) s long, more than the maximum of "
                + "\(String(format: "%.2f", limit)) s"
        case .tooLongWhileDecoding(let name, let seconds, let limit):
            return "\(name): audio is longer than the maximum of \(String(format: "%.2f", limit)) s "
                + "(decoding stopped at \(String(format: "%.2f", seconds)) s)"
        case .invalidMaxDuration(let value):
            return "maximum duration \(value) s is invalid (expected a positive number of seconds)"
        case .decodeFailed(let name, let detail):
            return "\(name): decoding failed: \(detail) (--allow-partial-audio keeps what decoded)"
        case .incomplete(let name, let detail):
            return "\(name): the audio is damaged or cut short: \(detail) (--allow-partial-audio keeps what decoded)"
        case .overflow(let name):
            return "\(name): the samples reach the limit of 32-bit floats (about 3.4e38), so mixing the channels "
                + "or resampling overflows; this is no usable audio"
        case .outOfMemory(let name, let bytes):
            return "\(name): not enough memory for the decoded audio (\(String(format: "%.2f", Double(bytes) / 1e9)) GB at "
                + "24 kHz); raise the memory limit, or transcribe a shorter file"
        case .tooShortToResample(let name, let frames, let rate):
            return "\(name): \(frames) frame(s) at \(rate) Hz is shorter than one sample at 24 kHz; nothing to transcribe"
        case .resamplerFailed(let detail):
            return "resampling failed (libsoxr): \(detail)"
        case .writeFailed(let path, let detail):
            return "\(path): cannot write the audio file: \(detail)"
        }
    }
}
