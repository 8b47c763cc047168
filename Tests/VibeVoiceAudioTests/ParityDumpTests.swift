import Foundation
import XCTest
@testable import VibeVoiceAudio

/// Writes source files and our 24 kHz output for `scripts/check_audio_parity.py`, which compares
/// them with independent resamplers. The files go to `$AUDIO_PARITY_DIR` when set, else to a
/// temporary directory; the test checks the output either way.
final class ParityDumpTests: XCTestCase {
    /// 24 tones from 60 Hz to 9.6 kHz with fixed pseudo-random amplitudes and phases.
    static func tones(seed: UInt64, maxFrequency: Double) -> [(frequency: Double, amplitude: Double, phase: Double)] {
        var rng = TestAudio.SplitMix(seed: seed)
        return (0..<24).map { i in
            let f = 60 * pow(maxFrequency / 60, Double(i) / 23)
            return (f, Double.random(in: 0.005...0.05, using: &rng), Double.random(in: 0...(2 * .pi), using: &rng))
        }
    }

    func testDumpResampledOutput() throws {
        let dir: URL
        if let path = ProcessInfo.processInfo.environment["AUDIO_PARITY_DIR"], !path.isEmpty {
            dir = URL(fileURLWithPath: path, isDirectory: true)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } else {
            dir = try TestAudio.temporaryDirectory(self)
        }
        let cases: [(name: String, rate: Int, channels: Int, seconds: Double, maxFrequency: Double)] = [
            ("stereo44k", 44_100, 2, 3.0, 9_600), ("mono16k", 16_000, 1, 2.0, 6_400), ("mono48k", 48_000, 1, 2.0, 9_600),
        ]
        for c in cases {
            let n = Int(Double(c.rate) * c.seconds) + 17
            let perChannel = (0..<c.channels).map { ch in
                TestAudio.tones(Self.tones(seed: UInt64(ch + 1), maxFrequency: c.maxFrequency), rate: c.rate, count: n)
            }
            let source = dir.appendingPathComponent("\(c.name)_source.wav")
            try TestAudio.write(TestAudio.interleave(perChannel), rate: c.rate, channels: c.channels,
                                format: .wavFloat, to: source)
            let signal = try AudioLoader.load(contentsOf: source)
            let output = dir.appendingPathComponent("\(c.name)_ours_24k.wav")
            try WAVWriter.writeFloat32Mono(signal.samples, sampleRate: 24_000, to: output)

            let expected = Resampler.outputLength(inputFrames: n, from: c.rate, to: 24_000)
            XCTAssertEqual(signal.samples.count, expected)
            XCTAssertEqual(try TestAudio.readFloat(output).samples, signal.samples)
            // Against the analytic mean of the channels at 24 kHz.
            let meanTones = (0..<c.channels).flatMap { ch in
                Self.tones(seed: UInt64(ch + 1), maxFrequency: c.maxFrequency)
                    .map { ($0.frequency, $0.amplitude / Double(c.channels), $0.phase) }
            }
            let reference = TestAudio.tones(meanTones, rate: 24_000, count: expected)
            let snr = TestAudio.snr(signal.samples, reference, range: 1_200..<(expected - 1_200))
            XCTAssertGreaterThan(snr, 85, "\(c.name): SNR \(snr) dB")
            print("\(c.name) -> 24 kHz vs analytic: SNR \(String(format: "%.1f", snr)) dB")
        }
    }
}
