import Foundation
import XCTest
@testable import VibeVoiceAudio

/// Damaged files never decode to a silently shorter signal: each one either fails with a clear error
/// naming the file, or (with `allowPartial`) keeps what decoded and says so in `warnings`.
final class DamagedAudioTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try TestAudio.temporaryDirectory(self)
    }

    /// 4 s of a sine with deterministic noise at 24 kHz (noise keeps FLAC frames large, so a flipped bit
    /// lands in sample data).
    private func source(_ format: TestFormat) throws -> (URL, frames: Int) {
        var rng = TestAudio.SplitMix(seed: 5)
        let tone = TestAudio.sine(440, amplitude: 0.3, rate: 24_000, count: 96_000)
        let samples = tone.map { $0 + Float.random(in: -0.02...0.02, using: &rng) }
        let url = dir.appendingPathComponent("clean.\(format.ext)")
        try TestAudio.write(samples, rate: 24_000, channels: 1, format: format, to: url)
        return (url, try AudioLoader.load(contentsOf: url).sourceFrames)
    }

    private func damaged(_ url: URL, _ name: String, _ edit: (inout Data) -> Void) throws -> URL {
        var data = try Data(contentsOf: url)
        edit(&data)
        let out = dir.appendingPathComponent(name)
        try data.write(to: out)
        return out
    }

    /// The invariant for every codec and every bit flip: an error naming the file, or the whole length.
    func testBitFlipsNeverGiveASilentlyShortSignal() throws {
        for format in [TestFormat.flac16, .flac24, .wavPCM16, .vorbis, .opus, .mp3] {
            let (clean, frames) = try source(format)
            let size = try Data(contentsOf: clean).count
            for k in 1...8 {
                let at = size * (10 + 10 * k) / 100
                let url = try damaged(clean, "flip\(k).\(format.ext)") { $0[at] ^= 0x10 }
                do {
                    let signal = try AudioLoader.load(contentsOf: url)
                    let slack = format.ext == "mp3" ? DecodeCompleteness.mpegSlack(frames) : 0
                    XCTAssertGreaterThanOrEqual(signal.sourceFrames, frames - slack, "\(format) flip at \(at): short and silent")
                    XCTAssertEqual(signal.warnings, [])
                } catch let error as AudioError {
                    XCTAssertTrue(error.description.hasPrefix(url.path), "\(error)")
                }
            }
        }
    }

    func testFlippedBitInFLACIsRefusedOrKeptWithAWarning() throws {
        let (clean, frames) = try source(.flac16)
        let size = try Data(contentsOf: clean).count
        let url = try damaged(clean, "flip.flac") { $0[size / 2] ^= 0x10 }
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url)) { error in
            guard case .incomplete(let name, let detail)? = error as? AudioError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, url.path)
            XCTAssertTrue(detail.contains("of the 96000 frames the header declares"), detail)
            XCTAssertTrue("\(error)".contains("--allow-partial-audio"), "\(error)")
        }
        let kept = try AudioLoader.load(contentsOf: url, allowPartial: true)
        XCTAssertGreaterThan(kept.sourceFrames, 0)
        XCTAssertLessThan(kept.sourceFrames, frames)
        XCTAssertEqual(kept.samples.count, kept.sourceFrames)
        XCTAssertEqual(kept.warnings.count, 1)
        XCTAssertTrue(kept.warnings[0].contains("s that decoded are transcribed"), kept.warnings[0])
        // In memory too.
        XCTAssertThrowsError(try AudioLoader.load(data: try Data(contentsOf: url), name: "mem.flac"))
    }

    func testSplicedAndCutFilesAreRefused() throws {
        // An Ogg stream states no length that survives a cut; its pages (checksums, sequence, end-of-stream
        // page) tell instead.
        for format in [TestFormat.flac16, .wavPCM16, .aiff16, .mp3, .vorbis, .opus] {
            let (clean, _) = try source(format)
            let size = try Data(contentsOf: clean).count
            let spliced = try damaged(clean, "splice.\(format.ext)") { $0.removeSubrange((size / 3)..<(size / 2)) }
            let cut = try damaged(clean, "cut.\(format.ext)") { $0 = $0.prefix(size / 2) }
            for url in ["flac", "mp3", "ogg", "opus"].contains(format.ext) ? [spliced, cut] : [cut] {
                XCTAssertThrowsError(try AudioLoader.load(contentsOf: url), "\(format) \(url.lastPathComponent)") { error in
                    guard case .incomplete? = error as? AudioError else { return XCTFail("\(format): \(error)") }
                }
                let kept = try AudioLoader.load(contentsOf: url, allowPartial: true)
                XCTAssertEqual(kept.warnings.count, 1, "\(format)")
            }
        }
    }

    func testOneFrameThatResamplesToNothingNamesTheFile() throws {
        let url = dir.appendingPathComponent("one.wav")
        try TestAudio.write([0.5], rate: 96_000, channels: 1, format: .wavFloat, to: url)
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url)) { error in
            XCTAssertEqual(error as? AudioError, .tooShortToResample(name: url.path, frames: 1, rate: 96_000))
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": 1 frame(s) at 96000 Hz"), "\(error)")
        }
    }

    func testClampedChunkLogLines() {
        XCTAssertEqual(DecodeCompleteness.clampedChunk(log: "fmt  : 16\ndata : 9600 (should be 4001)\nEnd\n")?.declared, 9600)
        XCTAssertEqual(DecodeCompleteness.clampedChunk(log: "  SSND : 100 (should be 40)")?.present, 40)
        XCTAssertNil(DecodeCompleteness.clampedChunk(log: "RIFF : 480036 (should be 240014)\ndata : 480000\n"))
        XCTAssertNil(DecodeCompleteness.clampedChunk(log: ""))
    }

    /// Fuzzing finding (FuzzAudioLoader, leak sanitizer): this damaged Ogg Vorbis file made libsndfile's failed
    /// open leak 11 KB; its broken page structure is now refused before libsndfile opens it.
    func testFuzzedOggWithBrokenPagesIsRefusedBeforeOpening() throws {
        for file in ["audio-vorbis-open-leak.ogg", "audio-vorbis-open-leak-2.ogg"] {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/fuzz/\(file)")
            let bytes = try Data(contentsOf: url)
            XCTAssertNotNil(bytes.withUnsafeBytes { OggPageCheck.problem($0) })
            for load in [{ try AudioLoader.load(contentsOf: url) }, { try AudioLoader.load(data: bytes, name: url.path) }] {
                XCTAssertThrowsError(try load()) { error in
                    guard case .incomplete(let name, _)? = error as? AudioError else { return XCTFail("\(error)") }
                    XCTAssertEqual(name, url.path)
                }
            }
            // With allowPartial libsndfile opens it (and refuses it: a clear error, not a crash).
            XCTAssertThrowsError(try AudioLoader.load(contentsOf: url, allowPartial: true)) { error in
                XCTAssertTrue("\(error)".hasPrefix(url.path), "\(error)")
            }
        }
    }

    /// Fuzzing finding (FuzzAudioLoader): a stereo float WAV of ±3.3e38 samples is finite, but the channel mean
    /// overflowed to infinity and the signal came back with infinite samples.
    func testSamplesNearTheFloatLimitThatOverflowAreRefused() throws {
        let url = dir.appendingPathComponent("huge.wav")
        let x: Float = 3.3e38
        try TestAudio.write([x, x, -x, -x, x, x], rate: 16_000, channels: 2, format: .wavFloat, to: url)
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url)) { error in
            XCTAssertEqual(error as? AudioError, .overflow(name: url.path))
        }
        XCTAssertThrowsError(try AudioLoader.fromSamples([x, x], sampleRate: 24_000, channels: 2))
        // Mono at the limit needs no mixing and no resampling: it loads.
        XCTAssertEqual(try AudioLoader.fromSamples([x, -x], sampleRate: 24_000).samples, [x, -x])
    }

    /// Fuzzing finding (FuzzAudioLoader): an ASF header object whose size field is near 2^64 overflowed the header
    /// walk (`offset + size`) and trapped the process. The fuzzed WMA and a minimal header of the same shape (a
    /// header object, then one object of size 2^64-1) are now read without a trap: the walk ends at the object
    /// that does not fit, and the file goes on to FFmpeg, which refuses or decodes it like any other.
    func testASFObjectSizeNearTwoToThe64DoesNotTrap() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/audio-asf-object-size-overflow.wma")
        var minimal = ASFHeaderCheck.headerGUID + le64(94) + [0, 0, 0, 0, 1, 2]
        minimal += [UInt8](repeating: 0x5A, count: 16) + le64(UInt64.max) + [UInt8](repeating: 0, count: 40)
        for bytes in [try Data(contentsOf: url), Data(minimal)] {
            let problem = bytes.withUnsafeBytes { raw in
                ASFHeaderCheck.problem(MemoryReader(base: raw.baseAddress!, count: raw.count))
            }
            XCTAssertNil(problem)
            do {
                let signal = try AudioLoader.load(data: bytes, name: "fuzzed.wma", maxDuration: 60)
                XCTAssertFalse(signal.samples.isEmpty)
                XCTAssertTrue(signal.samples.allSatisfy(\.isFinite))
            } catch {
                XCTAssertTrue(error is AudioError, "\(error)")
            }
        }
    }

    private func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}

