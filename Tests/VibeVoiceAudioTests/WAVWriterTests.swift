import Foundation
import XCTest
@testable import VibeVoiceAudio

final class WAVWriterTests: XCTestCase {
    func testRoundTripIsBitIdenticalAndLeavesNoTemporaryFile() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let url = dir.appendingPathComponent("out.wav")
        var rng = TestAudio.SplitMix(seed: 9)
        let x = (0..<12_345).map { _ in Float.random(in: -2...2, using: &rng) }
        try WAVWriter.writeFloat32Mono(x, sampleRate: 24_000, to: url)
        let back = try TestAudio.readFloat(url)
        XCTAssertEqual(back.rate, 24_000)
        XCTAssertEqual(back.channels, 1)
        XCTAssertEqual(back.samples, x)
        XCTAssertEqual(try AudioLoader.load(contentsOf: url).samples, x)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.wav"])

        // Overwriting replaces the file as a whole.
        try WAVWriter.writeFloat32Mono([0.5, -0.5], sampleRate: 16_000, to: url)
        let again = try TestAudio.readFloat(url)
        XCTAssertEqual(again.samples, [0.5, -0.5])
        XCTAssertEqual(again.rate, 16_000)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.wav"])
    }

    func testFailuresAreTypedAndLeaveNothingBehind() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let missingDir = dir.appendingPathComponent("no/such/dir/out.wav")
        XCTAssertThrowsError(try WAVWriter.writeFloat32Mono([0], sampleRate: 24_000, to: missingDir)) { error in
            guard case .writeFailed(let path, _) = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, missingDir.path)
        }
        // The target is a directory: the rename fails and the temporary file is removed.
        let target = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inner"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try WAVWriter.writeFloat32Mono([0], sampleRate: 24_000, to: target)) { error in
            guard case .writeFailed = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".hasPrefix(target.path), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["taken"])
        XCTAssertThrowsError(try WAVWriter.writeFloat32Mono([0], sampleRate: 0, to: dir.appendingPathComponent("x.wav")))
    }
}
