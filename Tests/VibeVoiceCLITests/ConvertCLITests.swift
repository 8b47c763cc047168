import XCTest
import VibeVoiceASR

/// Runs the built `vibevoice-asr convert` on the transcript fixtures.
final class ConvertCLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/transcripts")

    func fixture(_ name: String) -> URL { Self.fixtures.appendingPathComponent(name) }

    // MARK: content

    func testEveryFixtureIntoEveryFormatMatchesTheLibrary() throws {
        let names = ["librispeech_raw.txt", "meeting_raw.txt", "truncated_raw.txt", "plain_raw.txt",
                     "meeting.json", "meeting_verbose.json"]
        for name in names {
            let text = try String(contentsOf: fixture(name), encoding: .utf8)
            let transcript = try TranscriptReader.read(text)
            for format in OutputFormat.allCases {
                let r = try CLIRunner.run(["convert", fixture(name).path, "--to", format.rawValue])
                XCTAssertEqual(r.status, 0, "\(name) → \(format): \(r.stderr)")
                let fileID = (name as NSString).deletingPathExtension
                XCTAssertEqual(r.stdout, TranscriptRenderer.render(transcript, as: format, fileID: fileID),
                               "\(name) → \(format)")
            }
        }
    }

    func testRawOutputToSRTGolden() throws {
        let r = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--to", "srt"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(r.stdout, """
        1
        00:00:00,000 --> 00:00:04,200
        [Speaker 0] Welcome, everyone. Let's begin.

        2
        00:00:04,200 --> 00:00:09,750
        [Speaker 1] Merci ! Grüße aus München, 你好。

        3
        00:00:09,750 --> 00:00:15,000
        [Speaker 0] [Music]

        4
        00:59:59,500 --> 01:00:05,130
        [Speaker 1] Still here after an hour.


        """)
    }

    func testRawOutputToJSONVTTAndRTTMGolden() throws {
        let json = try CLIRunner.run(["convert", fixture("librispeech_raw.txt").path, "--to", "json"])
        XCTAssertEqual(json.stdout, """
        [
          {"start": 0.0, "end": 5.86, "speaker": 0, "text": "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel."}
        ]

        """)
        let vtt = try CLIRunner.run(["convert", fixture("librispeech_raw.txt").path, "--to", "vtt"])
        XCTAssertEqual(vtt.stdout, """
        WEBVTT

        00:00:00.000 --> 00:00:05.860
        <v Speaker 0>Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.

        """)
        let rttm = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--to", "rttm",
                                      "--file-id", "meeting42"])
        XCTAssertEqual(rttm.stdout, """
        SPEAKER meeting42 1 0.000 4.200 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER meeting42 1 4.200 5.550 <NA> <NA> speaker_1 <NA> <NA>
        SPEAKER meeting42 1 9.750 5.250 <NA> <NA> speaker_0 <NA> <NA>
        SPEAKER meeting42 1 3599.500 5.630 <NA> <NA> speaker_1 <NA> <NA>

        """)
        let text = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--to", "text"])
        XCTAssertEqual(text.stdout,
                       "Welcome, everyone. Let's begin. Merci ! Grüße aus München, 你好。 [Music] Still here after an hour.\n")
    }

    func testSavedJSONAndVerboseJSONReadBack() throws {
        let fromJSON = try CLIRunner.run(["convert", fixture("meeting.json").path, "--to", "srt"])
        XCTAssertEqual(fromJSON.status, 0)
        XCTAssertEqual(fromJSON.stdout, """
        1
        00:00:00,000 --> 00:00:04,200
        [Speaker 0] Welcome, everyone. Let's begin.

        2
        00:00:04,200 --> 00:00:09,750
        Merci ! Grüße aus München, 你好。


        """)
        // verbose_json → verbose_json keeps duration, tokens and prompt_tokens: the same file comes back.
        let verbose = try CLIRunner.run(["convert", fixture("meeting_verbose.json").path, "--to", "verbose_json"])
        XCTAssertEqual(verbose.status, 0)
        XCTAssertEqual(verbose.stdout, try String(contentsOf: fixture("meeting_verbose.json"), encoding: .utf8))
        // json → json is stable too.
        let json = try CLIRunner.run(["convert", fixture("meeting.json").path, "--to", "json"])
        XCTAssertEqual(json.stdout, try String(contentsOf: fixture("meeting.json"), encoding: .utf8))
        // diarized_json, and back: speakers A and B are speakers 0 and 1 again.
        let dir = try CLIRunner.makeTempDir(self)
        let diarizedPath = dir.appendingPathComponent("meeting.diarized.json").path
        let diarized = try CLIRunner.run(["convert", fixture("meeting_verbose.json").path, "--to", "diarized_json",
                                          "--output", diarizedPath])
        XCTAssertEqual(diarized.status, 0, diarized.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: diarizedPath))) as? [String: Any]
        let segments = object?["segments"] as? [[String: Any]] ?? []
        XCTAssertEqual(segments.map { $0["speaker"] as? String }, ["A", "B"])
        XCTAssertEqual(segments.map { $0["id"] as? String }, ["seg_0", "seg_1"])
        XCTAssertEqual(object?["duration"] as? Double, 10)
        let back = try CLIRunner.run(["convert", diarizedPath, "--to", "json"])
        let direct = try CLIRunner.run(["convert", fixture("meeting_verbose.json").path, "--to", "json"])
        XCTAssertEqual(back.stdout, direct.stdout)
        XCTAssertTrue(back.stdout.contains("\"speaker\": 1"), back.stdout)
    }

    func testTruncatedAndPlainOutputsWarnAndKeepWhatTheyCan() throws {
        let t = try CLIRunner.run(["convert", fixture("truncated_raw.txt").path, "--to", "text"])
        XCTAssertEqual(t.status, 0)
        XCTAssertEqual(t.stdout, "First part. Second part.\n")
        XCTAssertTrue(t.stderr.contains("cut short"), t.stderr)
        let tv = try CLIRunner.run(["convert", fixture("truncated_raw.txt").path, "--to", "verbose_json"])
        XCTAssertTrue(tv.stdout.contains("\"truncated\": true"))
        let p = try CLIRunner.run(["convert", fixture("plain_raw.txt").path, "--to", "text"])
        XCTAssertEqual(p.status, 0)
        XCTAssertEqual(p.stdout, "I cannot transcribe this audio.\n")
        XCTAssertTrue(p.stderr.contains("no segment list"), p.stderr)
        let pj = try CLIRunner.run(["convert", fixture("plain_raw.txt").path, "--to", "json"])
        XCTAssertEqual(pj.stdout, "[]\n")
    }

    func testStandardInput() throws {
        let raw = try String(contentsOf: fixture("meeting_raw.txt"), encoding: .utf8)
        let r = try CLIRunner.run(["convert", "-", "--to", "rttm"], stdin: Data(raw.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("SPEAKER audio 1 0.000 4.200 <NA> <NA> speaker_0 <NA> <NA>\n"), r.stdout)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 4)
    }

    // MARK: files

    func testOutputFileIsWrittenWholeWithNoTemporaryLeft() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let out = dir.appendingPathComponent("meeting.vtt")
        try "old content".write(to: out, atomically: true, encoding: .utf8)
        // The format comes from the extension.
        let r = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        let written = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(written.hasPrefix("WEBVTT\n\n00:00:00.000 --> 00:00:04.200\n<v Speaker 0>Welcome"), written)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["meeting.vtt"])
    }

    // MARK: errors

    func testMissingInputIsAUsageErrorAndWritesNothing() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let out = dir.appendingPathComponent("out.srt")
        let r = try CLIRunner.run(["convert", dir.appendingPathComponent("nope.txt").path, "--to", "srt",
                                   "-o", out.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("nope.txt"), r.stderr)
        XCTAssertTrue(r.stderr.contains("does not exist"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        let d = try CLIRunner.run(["convert", dir.path, "--to", "srt"])
        XCTAssertEqual(d.status, 1)
        XCTAssertTrue(d.stderr.contains("directory"), d.stderr)
    }

    func testUnknownFormatListsTheFormatsAndWritesNothing() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let out = dir.appendingPathComponent("out.txt")
        let r = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--to", "docx", "--output", out.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("'docx'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("json, verbose_json, diarized_json, text, srt, vtt, rttm"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        // No --to and an output extension that names no format.
        let n = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path,
                                   "--output", dir.appendingPathComponent("out.bin").path])
        XCTAssertEqual(n.status, 1)
        XCTAssertTrue(n.stderr.contains("--to"), n.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testNeverOverwritesTheInput() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let input = dir.appendingPathComponent("saved.json")
        let original = try String(contentsOf: fixture("meeting.json"), encoding: .utf8)
        try original.write(to: input, atomically: true, encoding: .utf8)
        let link = dir.appendingPathComponent("link.json")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: input)
        for target in [input.path, dir.path + "/./saved.json", link.path] {
            let r = try CLIRunner.run(["convert", input.path, "--to", "srt", "--output", target])
            XCTAssertEqual(r.status, 1, target)
            XCTAssertTrue(r.stderr.contains("is the input file"), r.stderr)
            XCTAssertEqual(try String(contentsOf: input, encoding: .utf8), original)
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["saved.json", "link.json"])
    }

    func testMissingOutputFolderIsAUsageError() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let r = try CLIRunner.run(["convert", fixture("meeting_raw.txt").path, "--to", "srt",
                                   "--output", dir.appendingPathComponent("no/such/dir/out.srt").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("does not exist"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testNotUTF8InputIsAUsageError() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let input = dir.appendingPathComponent("binary.txt")
        try Data([0xFF, 0xFE, 0x00, 0xC3, 0x28]).write(to: input)
        let r = try CLIRunner.run(["convert", input.path, "--to", "json"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("not UTF-8"), r.stderr)
    }

    func testHelp() throws {
        let r = try CLIRunner.run(["convert", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("--to <format>"), r.stdout)
    }
}
