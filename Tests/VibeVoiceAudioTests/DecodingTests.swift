import Foundation
import XCTest
@testable import VibeVoiceAudio

final class DecodingTests: XCTestCase {
    static let rates = [8_000, 16_000, 22_050, 44_100, 48_000, 96_000]
    static let tone: (frequency: Double, amplitude: Double, phase: Double) = (440, 0.5, 0.3)

    /// Minimum SNR (dB) of a decoded, resampled tone against the analytic tone for each encoding.
    static func minimumSNR(_ format: TestFormat) -> Double {
        switch format.name {
        case let name where name.contains("8-bit"): return 35
        case let name where name.contains("16-bit"): return 75
        default: return 85
        }
    }

    /// Every lossless encoding at every rate: length `round(n * 24000 / rate)`, and the content is
    /// the analytic tone at 24 kHz (which also rules out any time shift).
    func testLosslessFormatsAtAllRates() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        for format in TestFormat.lossless {
            for rate in Self.rates {
                let n = rate / 4 + 3
                let x = TestAudio.tones([Self.tone], rate: rate, count: n)
                let url = dir.appendingPathComponent("\(rate).\(format.ext)")
                try TestAudio.write(x, rate: rate, channels: 1, format: format, to: url)
                let signal = try AudioLoader.load(contentsOf: url)
                XCTAssertEqual(signal.sourceFrames, n, "\(format) \(rate)")
                XCTAssertEqual(signal.sourceSampleRate, rate)
                XCTAssertEqual(signal.sourceChannels, 1)
                XCTAssertEqual(signal.samples.count, Resampler.outputLength(inputFrames: n, from: rate, to: 24_000))
                XCTAssertEqual(signal.duration, Double(signal.samples.count) / 24_000)
                let reference = TestAudio.tones([Self.tone], rate: 24_000, count: signal.samples.count)
                let snr = TestAudio.snr(signal.samples, reference, range: 600..<(signal.samples.count - 600))
                XCTAssertGreaterThan(snr, Self.minimumSNR(format), "\(format) at \(rate) Hz: SNR \(snr) dB")
            }
        }
    }

    /// Lossy codecs: the decoded length drives the output length, and the tone survives.
    func testCompressedFormats() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let cases: [(TestFormat, Int, Int)] = [
            (.vorbis, 44_100, 2), (.vorbis, 16_000, 1), (.opus, 48_000, 1), (.opus, 16_000, 2),
            (.mp3, 44_100, 2), (.mp3, 22_050, 1), (.mp3, 48_000, 1),
        ]
        for (format, rate, channels) in cases {
            let n = rate / 2
            let mono = TestAudio.tones([Self.tone], rate: rate, count: n)
            let x = channels == 1 ? mono : TestAudio.interleave([mono, mono])
            let url = dir.appendingPathComponent("\(rate)-\(channels).\(format.ext)")
            try TestAudio.write(x, rate: rate, channels: channels, format: format, to: url)
            let signal = try AudioLoader.load(contentsOf: url)
            XCTAssertEqual(signal.sourceSampleRate, rate, "\(format)")
            XCTAssertEqual(signal.sourceChannels, channels, "\(format)")
            XCTAssertEqual(Double(signal.sourceFrames), Double(n), accuracy: Double(n) * 0.01, "\(format) \(rate)")
            XCTAssertEqual(signal.samples.count,
                           Resampler.outputLength(inputFrames: signal.sourceFrames, from: rate, to: 24_000))
            let reference = TestAudio.tones([Self.tone], rate: 24_000, count: signal.samples.count)
            let range = 2_400..<(signal.samples.count - 2_400)
            let snr = TestAudio.snr(signal.samples, reference, range: range)
            XCTAssertGreaterThan(snr, 30, "\(format) \(rate) Hz \(channels) ch: SNR \(snr) dB")
            XCTAssertEqual(TestAudio.bestLag(signal.samples, reference, range: range, maxLag: 20), 0, "\(format) \(rate)")
        }
    }

    /// Stereo and 6-channel files: the result is the mean of the channels.
    func testMultiChannelIsMeanOfChannels() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let components: [(frequency: Double, amplitude: Double, phase: Double)] =
            [(220, 0.6, 0.0), (440, 0.3, 1.0), (660, 0.2, 2.0), (880, 0.4, 0.5), (1_100, 0.1, 0.2), (150, 0.5, 3.0)]
        for channels in [2, 6] {
            for rate in [24_000, 44_100, 48_000, 16_000] {
                let n = rate / 4
                let perChannel = (0..<channels).map { TestAudio.tones([components[$0]], rate: rate, count: n) }
                let url = dir.appendingPathComponent("\(channels)-\(rate).wav")
                try TestAudio.write(TestAudio.interleave(perChannel), rate: rate, channels: channels,
                                    format: .wavFloat, to: url)
                let signal = try AudioLoader.load(contentsOf: url)
                XCTAssertEqual(signal.sourceChannels, channels)
                // The mean of the channels as tones: amplitudes divided by the channel count.
                let meanTones = components[0..<channels].map { ($0.frequency, $0.amplitude / Double(channels), $0.phase) }
                if rate == 24_000 {
                    // No resampler: exactly the per-frame mean of what was written.
                    XCTAssertEqual(signal.samples.count, n)
                    for f in stride(from: 0, to: n, by: 97) {
                        let mean = (0..<channels).reduce(Float(0)) { $0 + perChannel[$1][f] } / Float(channels)
                        XCTAssertEqual(signal.samples[f], mean, accuracy: 1e-7, "frame \(f)")
                    }
                } else {
                    let reference = TestAudio.tones(meanTones, rate: 24_000, count: signal.samples.count)
                    let snr = TestAudio.snr(signal.samples, reference, range: 600..<(signal.samples.count - 600))
                    XCTAssertGreaterThan(snr, 85, "\(channels) ch at \(rate) Hz: SNR \(snr) dB")
                }
            }
        }
    }

    /// 24 kHz mono input is passed through bit for bit (no resampler in the path).
    func testPassthroughIsBitIdentical() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        var rng = TestAudio.SplitMix(seed: 3)
        let ints = (0..<30_001).map { _ in Int16.random(in: .min ... .max, using: &rng) }
        let intURL = dir.appendingPathComponent("int16.wav")
        try TestAudio.writeInt16WAV(ints, rate: 24_000, channels: 1, to: intURL)
        let fromInts = try AudioLoader.load(contentsOf: intURL)
        XCTAssertEqual(fromInts.samples, ints.map { Float($0) / 32_768 })
        XCTAssertEqual(fromInts.samples, try TestAudio.readFloat(intURL).samples)

        // Float data, including values beyond ±1 and tiny values, is kept exactly.
        var floats = (0..<70_000).map { _ in Float.random(in: -1.5...1.5, using: &rng) }
        floats[5] = 1e-30
        floats[6] = -3.25
        let floatURL = dir.appendingPathComponent("float.wav")
        try TestAudio.write(floats, rate: 24_000, channels: 1, format: .wavFloat, to: floatURL)
        XCTAssertEqual(try AudioLoader.load(contentsOf: floatURL).samples, floats)
        let flacURL = dir.appendingPathComponent("pass.flac")
        try TestAudio.write(floats.map { max(-1, min(1, $0)) }, rate: 24_000, channels: 1, format: .flac24, to: flacURL)
        XCTAssertEqual(try AudioLoader.load(contentsOf: flacURL).samples, try TestAudio.readFloat(flacURL).samples)
    }

    /// In-memory bytes decode exactly like the same file on disk.
    func testLoadFromDataMatchesLoadFromFile() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        for format in [TestFormat.wavPCM16, .flac16, .vorbis, .mp3, .aiff24, .wavexFloat] {
            let rate = 44_100
            let x = TestAudio.interleave([TestAudio.sine(300, rate: rate, count: 20_000),
                                          TestAudio.sine(500, rate: rate, count: 20_000)])
            let url = dir.appendingPathComponent("m.\(format.ext)")
            try TestAudio.write(x, rate: rate, channels: 2, format: format, to: url)
            let fromFile = try AudioLoader.load(contentsOf: url)
            var fromData = try AudioLoader.load(data: try Data(contentsOf: url), name: "clip")
            XCTAssertEqual(fromData.sourceFrames, fromFile.sourceFrames, "\(format)")
            XCTAssertEqual(fromData.samples, fromFile.samples, "\(format)")
            XCTAssertEqual(fromData.sourceFormat, fromFile.sourceFormat)
            fromData.sourceFormat = fromFile.sourceFormat
            XCTAssertEqual(fromData, fromFile)
        }
    }

    /// Files longer than one decoding block: correct length and content, and the output array
    /// was reserved once at its final size (no growth, no extra copies).
    func testLongFileIsDecodedInBlocksIntoOneReservedArray() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let rate = 44_100
        let n = 3 * AudioLoader.blockFrames + 1_234
        let left = TestAudio.tones([(440, 0.5, 0.3)], rate: rate, count: n)
        let right = TestAudio.tones([(1_000, 0.25, 0.9)], rate: rate, count: n)
        let url = dir.appendingPathComponent("long.flac")
        try TestAudio.write(TestAudio.interleave([left, right]), rate: rate, channels: 2, format: .flac24, to: url)
        let signal = try AudioLoader.load(contentsOf: url)
        let expected = Resampler.outputLength(inputFrames: n, from: rate, to: 24_000)
        XCTAssertEqual(signal.samples.count, expected)
        XCTAssertLessThanOrEqual(signal.samples.capacity, expected + 256)
        let reference = TestAudio.tones([(440, 0.25, 0.3), (1_000, 0.125, 0.9)], rate: 24_000, count: expected)
        let snr = TestAudio.snr(signal.samples, reference, range: 600..<(expected - 600))
        XCTAssertGreaterThan(snr, 85, "SNR \(snr) dB")
    }

    /// Loads on several threads at once (good and bad files) give the same results as one at a time.
    func testConcurrentLoads() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let good = dir.appendingPathComponent("good.flac")
        try TestAudio.write(TestAudio.sine(440, rate: 44_100, count: 30_000), rate: 44_100, channels: 1,
                            format: .flac16, to: good)
        let bad = dir.appendingPathComponent("bad.wav")
        try Data("not audio at all".utf8).write(to: bad)
        let expected = try AudioLoader.load(contentsOf: good).samples
        let results = ConcurrentResults(count: 16)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            if i % 2 == 0 {
                results.set(i, (try? AudioLoader.load(contentsOf: good).samples == expected) ?? false)
            } else {
                do {
                    _ = try AudioLoader.load(contentsOf: bad)
                    results.set(i, false)
                } catch let error as AudioError {
                    if case .unrecognizedFormat(let name, _) = error { results.set(i, name == bad.path) }
                } catch {
                    results.set(i, false)
                }
            }
        }
        XCTAssertEqual(results.values, [Bool](repeating: true, count: 16))
    }

    func testFromSamplesDownmixesAndResamples() throws {
        let rate = 48_000
        let left = TestAudio.sine(440, amplitude: 0.8, rate: rate, count: 12_000)
        let right = TestAudio.sine(440, amplitude: 0.2, rate: rate, count: 12_000)
        let signal = try AudioLoader.fromSamples(TestAudio.interleave([left, right]), sampleRate: rate, channels: 2)
        XCTAssertEqual(signal.samples.count, 6_000)
        XCTAssertEqual(signal.sourceFrames, 12_000)
        XCTAssertEqual(signal.sourceFormat, "samples")
        let reference = TestAudio.sine(440, amplitude: 0.5, rate: 24_000, count: 6_000)
        XCTAssertGreaterThan(TestAudio.snr(signal.samples, reference, range: 600..<5_400), 85)

        let mono: [Float] = [0.25, -0.5, 0.125]
        XCTAssertEqual(try AudioLoader.fromSamples(mono, sampleRate: 24_000).samples, mono)
    }
}

final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Bool]
    init(count: Int) { storage = [Bool](repeating: false, count: count) }
    func set(_ i: Int, _ value: Bool) { lock.lock(); storage[i] = value; lock.unlock() }
    var values: [Bool] { lock.lock(); defer { lock.unlock() }; return storage }
}
