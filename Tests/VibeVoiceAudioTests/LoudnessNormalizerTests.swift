import Foundation
import XCTest
@testable import VibeVoiceAudio

final class LoudnessNormalizerTests: XCTestCase {
    /// Target level: 10^(-25/20).
    let target = 0.056_234_132_519_034_91

    func testMatchesHandComputation() {
        var x: [Float] = [0.1, -0.2, 0.3, -0.4]
        // rms = sqrt((0.01 + 0.04 + 0.09 + 0.16) / 4) = sqrt(0.075)
        let rms = 0.075.squareRoot()
        let gain = target / (rms + 1e-6)
        let expected = [0.1, -0.2, 0.3, -0.4].map { $0 * gain }
        LoudnessNormalizer.normalize(&x)
        for (a, e) in zip(x, expected) { XCTAssertEqual(Double(a), e, accuracy: 1e-7) }
        // Peak 0.4 * 0.2053 < 1: no limiting.
        XCTAssertEqual(Double(x[3]), -0.082_134_9, accuracy: 1e-6)
    }

    func testReachesMinus25dBFS() {
        var rng = TestAudio.SplitMix(seed: 5)
        var x = (0..<48_000).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        let before = LoudnessNormalizer.rms(x)
        LoudnessNormalizer.normalize(&x)
        // The epsilon in the denominator leaves the level a hair under the target.
        XCTAssertEqual(LoudnessNormalizer.rms(x), target * before / (before + 1e-6), accuracy: target * 1e-6)
        XCTAssertEqual(20 * log10(LoudnessNormalizer.rms(x)), -25, accuracy: 1e-3)
    }

    func testPeakLimiting() {
        // One full-scale click in silence: rms = 1/100, gain ≈ 5.62, peak ≈ 5.62 > 1.
        var x = [Float](repeating: 0, count: 10_000)
        x[1_234] = 1
        LoudnessNormalizer.normalize(&x)
        let gain = target / (0.01 + 1e-6)
        XCTAssertEqual(Double(x[1_234]), gain / (gain + 1e-6), accuracy: 1e-7)
        XCTAssertLessThan(x[1_234], 1)
        XCTAssertEqual(x.filter { $0 != 0 }.count, 1)

        // A quiet square wave with one loud sample: limited so the maximum is just under 1 and
        // the shape is kept.
        var y = (0..<1_000).map { Float($0 % 2 == 0 ? 0.01 : -0.01) }
        y[10] = 1
        let before = y
        LoudnessNormalizer.normalize(&y)
        let peak = y.map { abs($0) }.max()!
        XCTAssertLessThan(peak, 1)
        XCTAssertGreaterThan(peak, 0.9999)
        for i in [0, 1, 2, 999] { XCTAssertEqual(y[i] / y[10], before[i] / before[10], accuracy: 1e-6) }
    }

    func testSilenceAndEmpty() {
        var zeros = [Float](repeating: 0, count: 100)
        LoudnessNormalizer.normalize(&zeros)
        XCTAssertEqual(zeros, [Float](repeating: 0, count: 100))
        var empty: [Float] = []
        LoudnessNormalizer.normalize(&empty)
        XCTAssertEqual(empty, [])
        XCTAssertEqual(LoudnessNormalizer.rms([]), 0)
    }
}
