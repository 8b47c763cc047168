import CSndfile
import Foundation
import XCTest

/// Error messages that say what went wrong, refused absurd values, output names that cannot collide, and
/// damaged audio that is refused or kept with a warning.
final class CLIMessagesTests: XCTestCase {
    static let fixture = TranscribeCLITests.engine.appendingPathComponent("hf_bf16_chunked")
    let model = CLIMessagesTests.fixture.appendingPathComponent("model").path
    let audio = CLIMessagesTests.fixture.appendingPathComponent("audio.wav").path

    func testVersion() throws {
        let r = try CLIRunner.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("vibevoice-asr "), r.stdout)
    }

    func testNegativeNumbersAreNamedNotMissing() throws {
        let cases: [([String], String)] = [
            (["transcribe", audio, "--threads", "-3"], "--threads must be between 1 and 1024, got -3"),
            (["transcribe", audio, "--max-new-tokens", "-1"], "--max-new-tokens must be between 1 and 131072"),
            (["transcribe", audio, "--temperature", "-0.5"], "--temperature must be 0 or more"),
            (["transcribe", audio, "--max-duration", "-2"], "--max-duration must be a positive number"),
            (["transcribe", audio, "--seed", "-1"], "'-1' is invalid for '--seed"),
            (["bench", "--model", model, "--seconds", "-5"], "--seconds must be more than 0"),
            (["bench", "--model", model, "--tokens", "-5"], "--tokens must be between 1 and 32768"),
            (["prompt", "--tokenizer", model, "--samples", "-7"], "--samples must be between 0 and"),
        ]
        for (args, expected) in cases {
            let r = try CLIRunner.run(args + (args[0] == "transcribe" ? ["-m", model, "-q"] : []))
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
    }

    func testAbsurdValuesAreRefused() throws {
        for (args, expected) in [(["--max-new-tokens", "1000000000"], "--max-new-tokens must be between 1 and 131072"),
                                 (["--threads", "100000"], "--threads must be between 1 and 1024, got 100000")] {
            let r = try CLIRunner.run(["transcribe", audio, "-m", model, "-q"] + args)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
        let bench = try CLIRunner.run(["bench", "--model", model, "--seconds", "1e12"])
        XCTAssertEqual(bench.status, 1)
        XCTAssertTrue(bench.stderr.contains("at most 10800"), bench.stderr)
    }

    func testBenchWithARepoIDFailsAtOnce() throws {
        let start = Date()
        let r = try CLIRunner.run(["bench", "--model", "org/name"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("'org/name' is not a local checkpoint folder"), r.stderr)
        XCTAssertFalse(r.stderr.contains("measuring"), "no machine measurement before the model is found")
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    func testOutputDirThatIsAFile() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let file = dir.appendingPathComponent("notadir")
        try Data("x".utf8).write(to: file)
        let r = try CLIRunner.run(["transcribe", audio, "-m", model, "-q", "--output-dir", file.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("is a file, not a folder"), r.stderr)
        let missing = try CLIRunner.run(["transcribe", audio, "-m", model, "-q", "--output-dir", dir.appendingPathComponent("none").path])
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)
    }

    /// Decision: inputs whose outputs would have the same name are refused before any work, naming both.
    func testSameNameInTwoFoldersIsRefusedBeforeAnyWork() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let out = dir.appendingPathComponent("out")
        for sub in ["a", "b", "out"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let a = dir.appendingPathComponent("a/talk.wav"), b = dir.appendingPathComponent("b/talk.wav")
        try FileManager.default.copyItem(atPath: audio, toPath: a.path)
        try FileManager.default.copyItem(atPath: audio, toPath: b.path)
        let verbose = dir.appendingPathComponent("b/talk.verbose.wav")
        try FileManager.default.copyItem(atPath: audio, toPath: verbose.path)
        let cases: [([String], String)] = [
            ([a.path, b.path], "'\(a.path)' and '\(b.path)' have the same name"),
            ([a.path, a.path], "'\(a.path)' is given twice"),
            ([a.path, verbose.path, "-f", "verbose_json", "-f", "json"], "talk.verbose.json"),
        ]
        for (inputs, expected) in cases {
            let r = try CLIRunner.run(["transcribe"] + inputs + ["-m", "/nonexistent/model", "-q", "--output-dir", out.path])
            XCTAssertEqual(r.status, 1, r.stderr)   // a usage error: the model (missing: exit 2) is never reached
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
        }
    }

    func testConvertOfDevNullAndEmptyInput() throws {
        let r = try CLIRunner.run(["convert", "/dev/null", "--to", "json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("'/dev/null' is empty"), r.stderr)
        XCTAssertFalse(r.stderr.contains("permission"), r.stderr)
        let stdin = try CLIRunner.run(["convert", "-", "--to", "json"])
        XCTAssertTrue(stdin.stderr.contains("standard input' is empty"), stdin.stderr)
    }

    func testConvertToVerboseJSONFileName() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let input = dir.appendingPathComponent("raw.txt")
        try Data(#"[{"Start":0,"End":1.5,"Speaker":0,"Content":"hi"}]"#.utf8).write(to: input)
        let output = dir.appendingPathComponent("x.verbose.json")
        let r = try CLIRunner.run(["convert", input.path, "-o", output.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any]
        XCTAssertNotNil(json?["segments"], "verbose_json is an object with segments")
    }

    func testOneFrameFileErrorNamesTheFile() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let url = dir.appendingPathComponent("one.wav")
        try writeWAV([0.5], rate: 96_000, to: url)
        let r = try CLIRunner.run(["transcribe", url.path, "-m", model, "-q"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(url.path): "), r.stderr)
    }

    /// A FLAC with one flipped bit decodes only in part: refused, or with --allow-partial-audio kept and
    /// said on stderr and in verbose_json.
    func testDamagedFLACIsRefusedOrKeptWithAWarning() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let clean = dir.appendingPathComponent("clean.flac")
        var rng = SystemRandomNumberGenerator()
        let samples = (0..<72_000).map { i in Float(0.3 * sin(Double(i) * 0.05)) + Float.random(in: -0.02...0.02, using: &rng) }
        try writeFLAC(samples, to: clean)
        var bytes = try Data(contentsOf: clean)
        bytes[bytes.count / 2] ^= 0x10
        let flipped = dir.appendingPathComponent("flipped.flac")
        try bytes.write(to: flipped)
        let refused = try CLIRunner.run(["transcribe", flipped.path, "-m", model, "-q"])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("flipped.flac: the audio is damaged or cut short"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--allow-partial-audio"), refused.stderr)

        let kept = try CLIRunner.run(["transcribe", flipped.path, "-m", model, "-q", "--allow-partial-audio",
                                      "-f", "verbose_json", "--max-new-tokens", "4"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(kept.stderr.contains("warning: \(flipped.path): the audio is damaged or cut short"), kept.stderr)
        let json = try JSONSerialization.jsonObject(with: kept.stdoutData) as? [String: Any]
        let warnings = json?["warnings"] as? [String] ?? []
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("that decoded are transcribed") == true, "\(warnings)")
    }

    /// libmpg123 prints notes on standard error itself ("Note: Illegal Audio-MPEG-Header"); under --quiet
    /// only our own one-line warnings and errors may appear, and --verbose shows the notes as decoder lines.
    func testMP3DecoderChatterStaysOffStandardError() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let clean = dir.appendingPathComponent("clean.mp3")
        try write((0..<120_000).map { Float(0.1 * sin(Double($0) / 10)) }, rate: 24_000,
                  format: Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III), to: clean)
        let original = try Data(contentsOf: clean)
        var state: UInt64 = 1
        var chatterSeen = false
        for k in 0..<6 {
            var bytes = original
            for _ in 0..<20 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[200 + Int(state >> 33) % (bytes.count - 200)] = UInt8(truncatingIfNeeded: state >> 17)
            }
            let url = dir.appendingPathComponent("junk\(k).mp3")
            try bytes.write(to: url)
            let quiet = try CLIRunner.run(["transcribe", url.path, "-m", model, "-q", "--allow-partial-audio",
                                           "--max-new-tokens", "2"])
            for line in quiet.stderr.split(separator: "\n") {
                XCTAssertTrue(line.hasPrefix("warning: ") || line.hasPrefix("error: "), "decoder chatter: \(line)")
            }
            let verbose = try CLIRunner.run(["transcribe", url.path, "-m", model, "-v", "--allow-partial-audio",
                                             "--max-new-tokens", "2"])
            if verbose.stderr.contains(": decoder: ") { chatterSeen = true }
        }
        XCTAssertTrue(chatterSeen, "at least one damaged MP3 makes libmpg123 talk (else this test checks nothing)")
    }

    // MARK: helpers

    private func writeWAV(_ samples: [Float], rate: Int32, to url: URL) throws {
        try write(samples, rate: rate, format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), to: url)
    }

    private func writeFLAC(_ samples: [Float], to url: URL) throws {
        try write(samples, rate: 24_000, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), to: url)
    }

    private func write(_ samples: [Float], rate: Int32, format: Int32, to url: URL) throws {
        var info = SF_INFO(frames: 0, samplerate: rate, channels: 1, format: format, sections: 0, seekable: 0)
        guard let f = sf_open(url.path, Int32(SFM_WRITE), &info) else { throw CocoaError(.fileWriteUnknown) }
        defer { sf_close(f) }
        _ = samples.withUnsafeBufferPointer { sf_writef_float(f, $0.baseAddress, sf_count_t($0.count)) }
    }
}
