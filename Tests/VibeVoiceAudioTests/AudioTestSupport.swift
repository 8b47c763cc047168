import CSndfile
import Foundation
import XCTest
@testable import VibeVoiceAudio

/// Audio formats the tests write with libsndfile.
struct TestFormat: CustomStringConvertible {
    let name: String
    let ext: String
    let format: Int32
    /// Lossy codecs do not preserve samples; their checks are looser.
    let lossy: Bool

    var description: String { name }

    static let wavPCM8 = TestFormat(name: "WAV 8-bit", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_U8), lossy: false)
    static let wavPCM16 = TestFormat(name: "WAV 16-bit", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), lossy: false)
    static let wavPCM24 = TestFormat(name: "WAV 24-bit", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24), lossy: false)
    static let wavPCM32 = TestFormat(name: "WAV 32-bit", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32), lossy: false)
    static let wavFloat = TestFormat(name: "WAV float32", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), lossy: false)
    static let wavDouble = TestFormat(name: "WAV float64", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_DOUBLE), lossy: false)
    static let wavex16 = TestFormat(name: "WAVEX 16-bit", ext: "wav", format: Int32(SF_FORMAT_WAVEX | SF_FORMAT_PCM_16), lossy: false)
    static let wavexFloat = TestFormat(name: "WAVEX float32", ext: "wav", format: Int32(SF_FORMAT_WAVEX | SF_FORMAT_FLOAT), lossy: false)
    static let aiff16 = TestFormat(name: "AIFF 16-bit", ext: "aiff", format: Int32(SF_FORMAT_AIFF | SF_FORMAT_PCM_16), lossy: false)
    static let aiff24 = TestFormat(name: "AIFF 24-bit", ext: "aiff", format: Int32(SF_FORMAT_AIFF | SF_FORMAT_PCM_24), lossy: false)
    static let flac16 = TestFormat(name: "FLAC 16-bit", ext: "flac", format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), lossy: false)
    static let flac24 = TestFormat(name: "FLAC 24-bit", ext: "flac", format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_24), lossy: false)
    static let vorbis = TestFormat(name: "Ogg Vorbis", ext: "ogg", format: Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), lossy: true)
    static let opus = TestFormat(name: "Ogg Opus", ext: "opus", format: Int32(SF_FORMAT_OGG | SF_FORMAT_OPUS), lossy: true)
    static let mp3 = TestFormat(name: "MP3", ext: "mp3", format: Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III), lossy: true)

    static let lossless: [TestFormat] = [.wavPCM8, .wavPCM16, .wavPCM24, .wavPCM32, .wavFloat, .wavDouble,
                                         .wavex16, .wavexFloat, .aiff16, .aiff24, .flac16, .flac24]
    static let compressed: [TestFormat] = [.vorbis, .opus, .mp3]
}

enum TestAudio {
    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vibevoice-audio-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Writes interleaved float samples with libsndfile in `format`.
    static func write(_ interleaved: [Float], rate: Int, channels: Int, format: TestFormat, to url: URL) throws {
        var info = SF_INFO()
        info.samplerate = Int32(rate)
        info.channels = Int32(channels)
        info.format = format.format
        guard sf_format_check(&info) != 0 else {
            throw TestError("libsndfile cannot write \(format) at \(rate) Hz with \(channels) channels")
        }
        guard let handle = sf_open(url.path, Int32(SFM_WRITE), &info) else {
            throw TestError("sf_open(\(url.path)) for writing: \(String(cString: sf_strerror(nil)))")
        }
        // Float data written to integer formats is clipped rather than wrapped.
        sf_command(handle, Int32(SFC_SET_CLIPPING), nil, 1)
        let frames = interleaved.count / channels
        let written = interleaved.withUnsafeBufferPointer { Int(sf_writef_float(handle, $0.baseAddress, sf_count_t(frames))) }
        sf_close(handle)
        guard written == frames else { throw TestError("wrote \(written) of \(frames) frames") }
    }

    /// Writes 16-bit integer samples to a WAV file.
    static func writeInt16WAV(_ interleaved: [Int16], rate: Int, channels: Int, to url: URL) throws {
        var info = SF_INFO()
        info.samplerate = Int32(rate)
        info.channels = Int32(channels)
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        guard let handle = sf_open(url.path, Int32(SFM_WRITE), &info) else {
            throw TestError("sf_open(\(url.path)) for writing: \(String(cString: sf_strerror(nil)))")
        }
        let frames = interleaved.count / channels
        let written = interleaved.withUnsafeBufferPointer { Int(sf_writef_short(handle, $0.baseAddress, sf_count_t(frames))) }
        sf_close(handle)
        guard written == frames else { throw TestError("wrote \(written) of \(frames) frames") }
    }

    /// Reads a whole file as float with libsndfile (the reference for passthrough checks).
    static func readFloat(_ url: URL) throws -> (samples: [Float], rate: Int, channels: Int) {
        var info = SF_INFO()
        guard let handle = sf_open(url.path, Int32(SFM_READ), &info) else {
            throw TestError("sf_open(\(url.path)): \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(handle) }
        var out = [Float](repeating: 0, count: Int(info.frames) * Int(info.channels))
        let n = out.withUnsafeMutableBufferPointer { Int(sf_readf_float(handle, $0.baseAddress, info.frames)) }
        out.removeLast(out.count - n * Int(info.channels))
        return (out, Int(info.samplerate), Int(info.channels))
    }

    /// `sum_k amplitude_k * sin(2π f_k t + phase_k)` sampled at `rate`, computed in Double.
    static func tones(_ components: [(frequency: Double, amplitude: Double, phase: Double)],
                      rate: Int, count: Int) -> [Float] {
        (0..<count).map { i in
            let t = Double(i) / Double(rate)
            return Float(components.reduce(0.0) { $0 + $1.amplitude * sin(2 * Double.pi * $1.frequency * t + $1.phase) })
        }
    }

    static func sine(_ frequency: Double, amplitude: Double = 0.5, phase: Double = 0, rate: Int, count: Int) -> [Float] {
        tones([(frequency, amplitude, phase)], rate: rate, count: count)
    }

    /// Interleaves per-channel signals.
    static func interleave(_ channels: [[Float]]) -> [Float] {
        let frames = channels[0].count
        var out = [Float](repeating: 0, count: frames * channels.count)
        for (c, ch) in channels.enumerated() {
            for f in 0..<frames { out[f * channels.count + c] = ch[f] }
        }
        return out
    }

    /// SNR in dB of `actual` against `reference` over `range`.
    static func snr(_ actual: [Float], _ reference: [Float], range: Range<Int>) -> Double {
        var signal = 0.0, noise = 0.0
        for i in range {
            let r = Double(reference[i])
            let e = Double(actual[i]) - r
            signal += r * r
            noise += e * e
        }
        return noise == 0 ? .infinity : 10 * log10(signal / noise)
    }

    /// The lag (in samples, within ±maxLag) at which `x` best matches `reference`
    /// (peak of the cross-correlation over `range`).
    static func bestLag(_ x: [Float], _ reference: [Float], range: Range<Int>, maxLag: Int) -> Int {
        var best = 0
        var bestValue = -Double.infinity
        for lag in -maxLag...maxLag {
            var acc = 0.0
            for i in range { acc += Double(x[i + lag]) * Double(reference[i]) }
            if acc > bestValue { bestValue = acc; best = lag }
        }
        return best
    }

    /// Deterministic pseudo-random generator (SplitMix64) for reproducible noise and bytes.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
