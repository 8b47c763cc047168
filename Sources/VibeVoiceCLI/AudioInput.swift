import ArgumentParser
import Foundation
import VibeVoiceASR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--audio-stream N` (transcribe, chat, score, fidelity).
struct AudioStreamOption: ParsableArguments {
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Which audio stream of a file with several (a video with two languages): counted from 0 among the file's audio streams, as ffmpeg's -map 0:a:N (default 0, the first).",
                               valueName: "n"))
    var audioStream: Int = 0

    func validate() throws {
        if audioStream < 0 {
            throw CLIUsageError("--audio-stream must be 0 or more (audio streams count from 0), got \(audioStream)")
        }
    }
}

/// `-` as an input: the audio file comes on standard input. It is read into memory whole (an MP4 whose index
/// comes last cannot be decoded without seeking), up to `maxBytes`, then decoded like a file.
enum StandardInputAudio {
    /// The input argument that means standard input.
    static let argument = "-"
    /// How the input is named in messages.
    static let name = "standard input"
    /// The most bytes read from standard input (2 GiB: three hours of 48 kHz stereo 16-bit WAV); a file on
    /// disk has no such limit.
    static let maxBytes = 2 << 30

    /// `input` as messages name it.
    static func label(_ input: String) -> String { input == argument ? name : input }

    /// Refuses `-` when standard input is a terminal (nothing was piped in).
    static func checkPiped() throws {
        if isatty(STDIN_FILENO) == 1 {
            throw CLIUsageError("'-' reads the audio from standard input, which is a terminal here; pipe a file in, "
                                    + "e.g. ffmpeg -i talk.mkv -f wav - | vibevoice-asr transcribe -")
        }
    }

    /// All of standard input, up to `limit` bytes.
    static func read(limit: Int = maxBytes) throws -> Data {
        var data = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = buffer.withUnsafeMutableBytes { readStandardInput(into: $0.baseAddress!, count: chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIUsageError("cannot read standard input: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return data }
            guard data.count + n <= limit else {
                throw CLIUsageError("standard input holds more than \(ByteCountFormatter.string(fromByteCount: Int64(limit), countStyle: .binary)) "
                                        + "of audio, more than is read into memory; save it to a file and transcribe the file "
                                        + "(files are decoded in blocks, without this limit)")
            }
            data.append(contentsOf: buffer[0..<n])
        }
    }
}

private func readStandardInput(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
    read(STDIN_FILENO, buffer, count)
}
