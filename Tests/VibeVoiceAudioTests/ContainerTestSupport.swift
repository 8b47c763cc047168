import Foundation
import XCTest
@testable import VibeVoiceAudio

/// The files of Tests/Fixtures/containers (made by scripts/make_container_fixtures.sh) and the WAVs of the
/// same samples the tests compare them with.
enum Containers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/containers")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Frames of the source audio (3.35 s at 24 kHz).
    static let sourceFrames = 80_434

    /// The 16-bit samples every fixture was encoded from: the tiny engine fixture's float audio as ffmpeg
    /// converts float to 16-bit (round half to even of x * 32768, clipped).
    static func source16() throws -> [Int16] {
        let audio = directory.deletingLastPathComponent().appendingPathComponent("engine/hf_bf16_chunked/audio.wav")
        let floats = try TestAudio.readFloat(audio).samples
        return floats.map { Int16(clamping: Int(($0 * 32_768).rounded(.toNearestOrEven))) }
    }

    /// Writes interleaved 16-bit samples as a WAV in `dir` and returns it.
    static func wav(_ samples: [Int16], rate: Int, channels: Int = 1, in dir: URL, name: String) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try TestAudio.writeInt16WAV(samples, rate: rate, channels: channels, to: url)
        return url
    }

    /// An AMR file (RFC 4867 storage format) of `frames` frames with deterministic pseudo-random payload bits:
    /// AMR-NB at 12.2 kbit/s (31 bytes a frame) or AMR-WB at 23.85 kbit/s (60 bytes). Debian's FFmpeg has AMR
    /// decoders but no AMR encoder; every payload is a valid frame of the codec, so the decoder gives 20 ms of
    /// audio for each.
    static func amr(wideband: Bool, frames: Int) -> Data {
        var rng = TestAudio.SplitMix(seed: wideband ? 17 : 16)
        var data = Data((wideband ? "#!AMR-WB\n" : "#!AMR\n").utf8)
        let header: UInt8 = wideband ? (8 << 3) | 0x04 : (7 << 3) | 0x04
        for _ in 0..<frames {
            data.append(header)
            data.append(contentsOf: (0..<(wideband ? 60 : 31)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        return data
    }

    /// `x` shifted by `lag` samples (x[i + lag] against reference[i]) and cut to the common length.
    static func aligned(_ x: [Float], _ reference: [Float], lag: Int) -> ([Float], [Float]) {
        let start = max(0, lag), refStart = max(0, -lag)
        let n = min(x.count - start, reference.count - refStart)
        return (Array(x[start..<(start + n)]), Array(reference[refStart..<(refStart + n)]))
    }

    /// The lag within `expected ± 8` at which `x` best matches `reference` (cross-correlation over 3 000..<23 000).
    static func lag(_ x: [Float], _ reference: [Float], near expected: Int) -> Int {
        var best = expected, bestValue = -Double.infinity
        for lag in (expected - 8)...(expected + 8) {
            var acc = 0.0
            for i in 3_000..<23_000 { acc += Double(x[i + lag]) * Double(reference[i]) }
            if acc > bestValue { bestValue = acc; best = lag }
        }
        return best
    }
}
