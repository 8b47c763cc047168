import Foundation
import XCTest
@testable import VibeVoiceAudio

final class ResamplerTests: XCTestCase {
    static let rates = [8_000, 16_000, 22_050, 44_100, 48_000, 96_000]

    func testOutputLengthIsRoundedScaledInputLength() throws {
        XCTAssertEqual(Resampler.outputLength(inputFrames: 44_100, from: 44_100, to: 24_000), 24_000)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 1, from: 48_000, to: 24_000), 1)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 3, from: 48_000, to: 24_000), 2)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 100_001, from: 96_000, to: 24_000), 25_000)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 3, from: 22_050, to: 24_000), 3)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 0, from: 22_050, to: 24_000), 0)
        XCTAssertEqual(Resampler.outputLength(inputFrames: -5, from: 22_050, to: 24_000), 0)
        XCTAssertEqual(Resampler.outputLength(inputFrames: 10, from: 0, to: 24_000), 0)
        for rate in Self.rates + [11_025, 32_000, 12_000, 7_350] {
            for n in [1, 2, 3, 7, 100, 4_409, 44_101, 70_001] {
                let x = (0..<n).map { Float(sin(Double($0) * 0.37)) * 0.3 }
                let y = try Resampler.resample(x, from: rate, to: 24_000)
                let expected = Int((Double(n) * 24_000 / Double(rate)).rounded(.toNearestOrAwayFromZero))
                XCTAssertEqual(y.count, expected, "n=\(n) rate=\(rate)")
            }
        }
    }

    /// A sum of tones below 10 kHz, resampled to 24 kHz, matches the same tones evaluated
    /// analytically at 24 kHz: high SNR and therefore no time shift.
    func testMultiToneMatchesAnalyticSignalAtEveryRate() throws {
        let tones: [(frequency: Double, amplitude: Double, phase: Double)] =
            [(97, 0.2, 0.1), (440, 0.3, 1.3), (1_234, 0.15, 2.0), (3_000, 0.1, 0.5)]
        for rate in Self.rates {
            let n = rate / 2
            // Tones up to 80 % of the lower Nyquist frequency (inside the passband).
            var components = tones
            if rate >= 22_050 { components.append((7_000, 0.05, 0.7)) }
            if rate >= 44_100 { components.append((9_600, 0.05, 2.9)) }
            let x = TestAudio.tones(components, rate: rate, count: n)
            let y = try Resampler.resample(x, from: rate, to: 24_000)
            let reference = TestAudio.tones(components, rate: 24_000, count: y.count)
            // Away from the edges (where the input starts and stops abruptly).
            let snr = TestAudio.snr(y, reference, range: 1_200..<(y.count - 1_200))
            XCTAssertGreaterThan(snr, 85, "rate \(rate): SNR \(snr) dB")
            print("multi-tone \(rate) Hz -> 24 kHz: SNR \(String(format: "%.1f", snr)) dB")
            XCTAssertEqual(TestAudio.bestLag(y, reference, range: 2_000..<(y.count - 2_000), maxLag: 8), 0, "rate \(rate)")
        }
    }

    /// An impulse at input time t comes out centred at output time t (linear phase, no delay).
    func testImpulseIsNotShifted() throws {
        for rate in Self.rates {
            // A position whose time is an exact 24 kHz sample.
            let g = gcd(rate, 24_000)
            let inStep = rate / g, outStep = 24_000 / g
            let k = max(1, 2_000 / outStep)
            let p = inStep * k, q = outStep * k
            var x = [Float](repeating: 0, count: p * 2 + inStep * 7)
            x[p] = 1
            let y = try Resampler.resample(x, from: rate, to: 24_000)
            let peak = y.indices.max { abs(y[$0]) < abs(y[$1]) }!
            XCTAssertEqual(peak, q, "rate \(rate)")
            for d in 1...5 {
                XCTAssertEqual(y[q - d], y[q + d], accuracy: 1e-4 * abs(y[q]), "rate \(rate): asymmetric at ±\(d)")
            }
        }
    }

    /// Feeding the stream in small blocks gives the same samples as one big block, so block-wise
    /// decoding does not change the output.
    func testBlockSizeDoesNotChangeOutput() throws {
        var rng = TestAudio.SplitMix(seed: 7)
        let x = (0..<150_000).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
        func run(block: Int) throws -> [Float] {
            let stream = try StreamingResampler(from: 44_100, to: 24_000)
            var out: [Float] = []
            try x.withUnsafeBufferPointer { buffer in
                var start = 0
                while start < buffer.count {
                    let end = min(buffer.count, start + block)
                    try stream.process(UnsafeBufferPointer(rebasing: buffer[start..<end]), into: &out)
                    start = end
                }
            }
            try stream.flush(into: &out)
            return out
        }
        let whole = try run(block: x.count)
        XCTAssertEqual(try run(block: 65_536), whole)
        XCTAssertEqual(try run(block: 1_000), whole)
        XCTAssertEqual(try run(block: 7), whole)
    }

    func testSameRateReturnsInputUnchanged() throws {
        let x: [Float] = [0.1, -0.7, 1.5, 0]
        XCTAssertEqual(try Resampler.resample(x, from: 24_000, to: 24_000), x)
    }

    func testRejectsBadRatesAndNonFiniteSamples() {
        for rate in [0, -1, 999, 768_001] {
            XCTAssertThrowsError(try Resampler.resample([0, 1], from: rate, to: 24_000)) { error in
                XCTAssertEqual(error as? AudioError, .invalidSampleRate(name: "<samples>", rate: rate))
            }
        }
        XCTAssertThrowsError(try Resampler.resample([0, .nan, 1], from: 16_000, to: 24_000)) { error in
            XCTAssertEqual(error as? AudioError, .nonFiniteSample(name: "<samples>", frame: 1, channel: 0))
        }
        XCTAssertThrowsError(try Resampler.resample([0, 1, -.infinity], from: 16_000, to: 24_000)) { error in
            XCTAssertEqual(error as? AudioError, .nonFiniteSample(name: "<samples>", frame: 2, channel: 0))
        }
    }

    private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
