import CSndfile
import Foundation
import XCTest
@testable import VibeVoiceAudio

/// Bad input never crashes or hangs; each case gives a typed error naming the input.
final class BadInputTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try TestAudio.temporaryDirectory(self)
    }

    /// A valid 16-bit mono WAV (44-byte canonical header) of `frames` frames.
    private func wav16(frames: Int = 4_800, rate: Int = 16_000, name: String = "a.wav") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try TestAudio.write(TestAudio.sine(440, rate: rate, count: frames), rate: rate, channels: 1,
                            format: .wavPCM16, to: url)
        return url
    }

    private func patched(_ url: URL, name: String, _ edit: (inout Data) -> Void) throws -> URL {
        var data = try Data(contentsOf: url)
        edit(&data)
        let out = dir.appendingPathComponent(name)
        try data.write(to: out)
        return out
    }

    private func setLE32(_ data: inout Data, at offset: Int, _ value: UInt32) {
        for i in 0..<4 { data[offset + i] = UInt8((value >> (8 * UInt32(i))) & 0xFF) }
    }

    private func setLE16(_ data: inout Data, at offset: Int, _ value: UInt16) {
        data[offset] = UInt8(value & 0xFF)
        data[offset + 1] = UInt8(value >> 8)
    }

    private func expectError(_ url: URL, file: StaticString = #filePath, line: UInt = #line,
                             _ check: (AudioError) -> Bool) {
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url), file: file, line: line) { error in
            guard let audioError = error as? AudioError else {
                return XCTFail("not an AudioError: \(error)", file: file, line: line)
            }
            XCTAssertTrue(check(audioError), "unexpected error: \(audioError)", file: file, line: line)
            XCTAssertTrue(audioError.description.contains(url.path) || audioError.description.contains(url.lastPathComponent),
                          "message does not name the file: \(audioError)", file: file, line: line)
        }
    }

    func testMissingFile() {
        let url = dir.appendingPathComponent("missing.wav")
        expectError(url) { $0 == .fileNotFound(path: url.path) }
        XCTAssertEqual(AudioError.fileNotFound(path: url.path).description, "\(url.path): no such file")
    }

    func testDirectory() {
        expectError(dir) { $0 == .notARegularFile(path: self.dir.path) }
    }

    func testEmptyFileAndEmptyData() throws {
        let url = dir.appendingPathComponent("empty.wav")
        try Data().write(to: url)
        expectError(url) { $0 == .emptyInput(name: url.path) }
        XCTAssertThrowsError(try AudioLoader.load(data: Data(), name: "upload")) { error in
            XCTAssertEqual(error as? AudioError, .emptyInput(name: "upload"))
        }
    }

    func testValidHeaderWithZeroFrames() throws {
        let url = try wav16(frames: 0)
        expectError(url) { $0 == .noSamples(name: url.path) }
        XCTAssertThrowsError(try AudioLoader.fromSamples([], sampleRate: 16_000)) { error in
            XCTAssertEqual(error as? AudioError, .noSamples(name: "<samples>"))
        }
    }

    func testTextFileNamedWav() throws {
        let url = dir.appendingPathComponent("notes.wav")
        try Data("This is a text file, not audio.\n".utf8).write(to: url)
        expectError(url) { if case .unrecognizedFormat = $0 { return true } else { return false } }
    }

    func testRandomBytesNamedMp3() throws {
        var rng = TestAudio.SplitMix(seed: 11)
        for (i, size) in [1, 3, 100, 4_096, 65_536].enumerated() {
            let url = dir.appendingPathComponent("noise\(i).mp3")
            try Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: url)
            expectError(url) { if case .unrecognizedFormat = $0 { return true } else { return false } }
        }
    }

    func testTruncatedHeader() throws {
        let source = try wav16()
        for cut in [4, 12, 20, 30, 43] {
            let url = try patched(source, name: "cut\(cut).wav") { $0 = $0.prefix(cut) }
            expectError(url) { error in
                switch error {
                case .unrecognizedFormat, .malformed, .openFailed, .noSamples: return true
                default: return false
                }
            }
        }
    }

    /// Decision: a header that promises more sample data than the file holds (an interrupted download or
    /// recording) is an error, unless `allowPartial` keeps what is there and says so; a streaming
    /// writer's placeholder length (0x7FFF0000 bytes and up) is no promise and decodes whole.
    func testHeaderClaimingMoreDataThanExistsIsRefusedOrKeptWithAWarning() throws {
        let source = try wav16(frames: 4_800, rate: 16_000)
        // The file stops halfway through the sample data.
        let truncated = try patched(source, name: "truncated.wav") { $0 = $0.prefix(44 + 2 * 2_000 + 1) }
        expectError(truncated) { error in
            guard case .incomplete(_, let detail) = error else { return false }
            return detail == "the header declares 9600 bytes of sample data, the file holds 4001"
        }
        let partial = try AudioLoader.load(contentsOf: truncated, allowPartial: true)
        XCTAssertEqual(partial.sourceFrames, 2_000)
        XCTAssertEqual(partial.samples.count, 3_000)
        XCTAssertEqual(partial.warnings.count, 1)
        XCTAssertTrue(partial.warnings[0].contains("only the 0.12 s that decoded"), partial.warnings[0])
        // The data chunk claims 2 GB but holds 4 800 frames.
        let bigClaim = try patched(source, name: "bigclaim.wav") { self.setLE32(&$0, at: 40, 0x7FFF_FFF0) }
        let whole = try AudioLoader.load(contentsOf: bigClaim)
        XCTAssertEqual(whole.sourceFrames, 4_800)
        XCTAssertEqual(whole.warnings, [])
        XCTAssertEqual(whole.samples, try AudioLoader.load(contentsOf: source).samples)
    }

    func testTruncatedCompressedFilesDecodeWhatExistsOrFailClearly() throws {
        for format in TestFormat.compressed + [.flac16] {
            let url = dir.appendingPathComponent("full.\(format.ext)")
            try TestAudio.write(TestAudio.sine(440, rate: 48_000, count: 48_000), rate: 48_000, channels: 1,
                                format: format, to: url)
            let cut = try patched(url, name: "half.\(format.ext)") { $0 = $0.prefix($0.count / 2) }
            do {
                let signal = try AudioLoader.load(contentsOf: cut)
                XCTAssertGreaterThan(signal.sourceFrames, 0, "\(format)")
                XCTAssertLessThan(signal.sourceFrames, 48_000, "\(format)")
                XCTAssertEqual(signal.samples.count,
                               Resampler.outputLength(inputFrames: signal.sourceFrames, from: 48_000, to: 24_000))
            } catch let error as AudioError {
                XCTAssertTrue(error.description.hasPrefix(cut.path), "\(error)")
            }
        }
    }

    /// A WAV header: `fmt ` chunk bytes as given, then `dataBytes` bytes of sample data.
    private func wavHeader(fmt: [UInt8], dataBytes: Int) -> Data {
        var h = Data()
        func le32(_ v: Int) { for i in 0..<4 { h.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        h.append(contentsOf: Array("RIFF".utf8))
        le32(4 + 8 + fmt.count + 8 + dataBytes)
        h.append(contentsOf: Array("WAVEfmt ".utf8))
        le32(fmt.count)
        h.append(contentsOf: fmt)
        h.append(contentsOf: Array("data".utf8))
        le32(dataBytes)
        h.append(contentsOf: [UInt8](repeating: 0x11, count: dataBytes))
        return h
    }

    func testUnsupportedCodec() throws {
        // 1 channel, 16 kHz, 32000 bytes/s, block align 2, 16 bits.
        let common: [UInt8] = [1, 0, 0x80, 0x3E, 0, 0, 0x00, 0x7D, 0, 0, 2, 0, 16, 0]
        // WAVE_FORMAT_EXTENSIBLE whose sub-format GUID names no known codec.
        let extensible: [UInt8] = [0xFE, 0xFF] + common + [22, 0, 16, 0, 4, 0, 0, 0]
            + [0x34, 0x12, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]
        let url = dir.appendingPathComponent("codec.wav")
        try wavHeader(fmt: extensible, dataBytes: 4_000).write(to: url)
        expectError(url) { if case .unsupportedEncoding = $0 { return true } else { return false } }
        // A plain format tag 0x1234 (no such codec): libsndfile rejects the 'fmt ' chunk.
        let tagURL = dir.appendingPathComponent("tag.wav")
        try wavHeader(fmt: [0x34, 0x12] + common + [0, 0], dataBytes: 4_000).write(to: tagURL)
        expectError(tagURL) { error in
            switch error {
            case .unsupportedEncoding, .malformed: return true
            default: return false
            }
        }
        // The same header with the PCM tag decodes, so the codec is what was refused.
        let pcm = try AudioLoader.load(data: wavHeader(fmt: [1, 0] + common + [0, 0], dataBytes: 4_000))
        XCTAssertEqual(pcm.sourceFrames, 2_000)
    }

    func testNaNAndInfiniteSamples() throws {
        var x = TestAudio.sine(440, rate: 48_000, count: 100_000)
        x[70_001] = .nan
        let nanURL = dir.appendingPathComponent("nan.wav")
        try TestAudio.write(TestAudio.interleave([x, x]), rate: 48_000, channels: 2, format: .wavFloat, to: nanURL)
        expectError(nanURL) { $0 == .nonFiniteSample(name: nanURL.path, frame: 70_001, channel: 0) }

        var y = TestAudio.sine(440, rate: 24_000, count: 1_000)
        y[17] = -.infinity
        let infURL = dir.appendingPathComponent("inf.wav")
        try TestAudio.write(y, rate: 24_000, channels: 1, format: .wavDouble, to: infURL)
        expectError(infURL) { $0 == .nonFiniteSample(name: infURL.path, frame: 17, channel: 0) }

        XCTAssertThrowsError(try AudioLoader.fromSamples([0, 0, 0, .infinity], sampleRate: 16_000, channels: 2)) { error in
            XCTAssertEqual(error as? AudioError, .nonFiniteSample(name: "<samples>", frame: 1, channel: 1))
        }
    }

    func testAbsurdSampleRates() throws {
        let source = try wav16()
        for (i, rate) in [UInt32(0), 1_000_000, 0xFFFF_FFFF, 500].enumerated() {
            let url = try patched(source, name: "rate\(i).wav") { data in
                self.setLE32(&data, at: 24, rate)
                self.setLE32(&data, at: 28, rate &* 2)  // byte rate, kept consistent
            }
            expectError(url) { error in
                switch error {
                case .invalidSampleRate(_, let r): return r == Int(Int32(bitPattern: rate))
                // libsndfile itself refuses a zero or negative rate ("SF_INFO struct incomplete").
                case .openFailed: return rate == 0 || rate == 0xFFFF_FFFF
                default: return false
                }
            }
        }
        for rate in [0, -8_000, 999, 768_001, Int(Int32.max)] {
            XCTAssertThrowsError(try AudioLoader.fromSamples([0, 1], sampleRate: rate)) { error in
                XCTAssertEqual(error as? AudioError, .invalidSampleRate(name: "<samples>", rate: rate))
            }
        }
    }

    func testAbsurdChannelCounts() throws {
        let source = try wav16()
        for (i, channels) in [UInt16(0), 2_000].enumerated() {
            let url = try patched(source, name: "ch\(i).wav") { self.setLE16(&$0, at: 22, channels) }
            expectError(url) { error in
                switch error {
                // libsndfile refuses these itself ("Channel count is zero", "Too many channels").
                case .openFailed: return true
                default: return false
                }
            }
        }
        for channels in [0, -1, 1_025] {
            XCTAssertThrowsError(try AudioLoader.fromSamples([0, 1], sampleRate: 16_000, channels: channels)) { error in
                XCTAssertEqual(error as? AudioError, .invalidChannelCount(name: "<samples>", channels: channels))
            }
        }
        XCTAssertThrowsError(try AudioLoader.fromSamples([0, 1, 2], sampleRate: 16_000, channels: 2)) { error in
            XCTAssertEqual(error as? AudioError, .sampleCountNotMultipleOfChannels(name: "<samples>", count: 3, channels: 2))
        }
    }

    /// The header's frame count is checked before decoding: the file below has a NaN in its first
    /// frame, which decoding would report, but the length check fires first.
    func testTooLongIsRefusedFromTheHeaderBeforeDecoding() throws {
        var x = TestAudio.sine(440, rate: 16_000, count: 32_000)
        x[0] = .nan
        let url = dir.appendingPathComponent("long.wav")
        try TestAudio.write(x, rate: 16_000, channels: 1, format: .wavFloat, to: url)
        expectError(url) { _ in true }
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: url, maxDuration: 1.5)) { error in
            XCTAssertEqual(error as? AudioError, .tooLong(name: url.path, seconds: 2, limit: 1.5))
            XCTAssertEqual("\(error)", "\(url.path): audio is 2.00 s long, more than the maximum of 1.50 s")
        }
        XCTAssertThrowsError(try AudioLoader.load(data: try Data(contentsOf: url), maxDuration: 1.999)) { error in
            XCTAssertEqual(error as? AudioError, .tooLong(name: "<memory>", seconds: 2, limit: 1.999))
        }
        let ok = try wav16(frames: 32_000, name: "ok.wav")
        XCTAssertEqual(try AudioLoader.load(contentsOf: ok, maxDuration: 2.0).sourceFrames, 32_000)
        XCTAssertThrowsError(try AudioLoader.fromSamples([Float](repeating: 0, count: 16_001), sampleRate: 16_000,
                                                         maxDuration: 1)) { error in
            XCTAssertEqual(error as? AudioError, .tooLong(name: "<samples>", seconds: 16_001.0 / 16_000, limit: 1))
        }
        for bad in [0, -1, Double.nan, .infinity] {
            XCTAssertThrowsError(try AudioLoader.load(contentsOf: ok, maxDuration: bad)) { error in
                guard case .invalidMaxDuration = error as? AudioError else { return XCTFail("\(error)") }
            }
        }
    }

    /// When the header does not state the length (libsndfile reports SF_COUNT_MAX, as for
    /// streams), the limit is enforced while decoding.
    func testTooLongIsRefusedWhileDecodingWhenTheLengthIsUnknown() throws {
        let url = try wav16(frames: 32_000, rate: 16_000, name: "unknown.wav")
        var info = SF_INFO()
        let handle = try XCTUnwrap(sf_open(url.path, Int32(SFM_READ), &info))
        defer { sf_close(handle) }
        info.frames = Int64.max
        XCTAssertThrowsError(try AudioLoader.decode(handle, info: info, name: "stream", maxDuration: 1.0)) { error in
            XCTAssertEqual(error as? AudioError, .tooLongWhileDecoding(name: "stream", decodedSeconds: 2, limit: 1))
            XCTAssertEqual("\(error)", "stream: audio is longer than the maximum of 1.00 s (decoding stopped at 2.00 s)")
        }
        sf_seek(handle, 0, SEEK_SET)
        let whole = try AudioLoader.decode(handle, info: info, name: "stream", maxDuration: 2.0)
        XCTAssertEqual(whole.sourceFrames, 32_000)
        XCTAssertEqual(whole.samples.count, 48_000)
    }

    func testErrorMessagesNameTheInput() {
        let messages = [
            AudioError.emptyInput(name: "x.wav").description,
            AudioError.invalidSampleRate(name: "x.wav", rate: 0).description,
            AudioError.invalidChannelCount(name: "x.wav", channels: 0).description,
            AudioError.nonFiniteSample(name: "x.wav", frame: 3, channel: 1).description,
            AudioError.noSamples(name: "x.wav").description,
        ]
        for message in messages { XCTAssertTrue(message.hasPrefix("x.wav: "), message) }
        XCTAssertEqual(AudioError.invalidSampleRate(name: "x.wav", rate: 0).description,
                       "x.wav: sample rate 0 Hz is out of range (expected 1000...768000 Hz)")
        XCTAssertEqual(AudioError.nonFiniteSample(name: "x.wav", frame: 3, channel: 1).description,
                       "x.wav: sample at frame 3, channel 1 is NaN or infinite")
    }
}

final class SpecialFileTests: XCTestCase {
    /// A FIFO with no writer would block a plain open(2); it is refused at once instead.
    func testFIFOIsRefusedWithoutBlocking() throws {
        let dir = try TestAudio.temporaryDirectory(self)
        let path = dir.appendingPathComponent("pipe.wav").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertThrowsError(try AudioLoader.load(contentsOf: URL(fileURLWithPath: path))) { error in
            XCTAssertEqual(error as? AudioError, .notARegularFile(path: path))
        }
    }
}
