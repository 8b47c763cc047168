import CSndfile
import Foundation
import XCTest

/// `transcribe` on M4A, MP4, WebM and MKV files and on standard input, on the tiny hf_bf16_chunked checkpoint:
/// the generated ids are those of a WAV of the same samples.
final class ContainerCLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let model = fixtures.appendingPathComponent("engine/hf_bf16_chunked/model").path
    static func container(_ name: String) -> URL { fixtures.appendingPathComponent("containers/\(name)") }

    private var dir: URL!

    override func setUpWithError() throws {
        dir = try CLIRunner.makeTempDir(self)
    }

    /// The 16-bit samples the container fixtures hold (scripts/make_container_fixtures.sh), as a WAV.
    private func sourceWAV(_ transform: ([Int16]) -> [Int16] = { $0 }, name: String = "source.wav") throws -> URL {
        let audio = Self.fixtures.appendingPathComponent("engine/hf_bf16_chunked/audio.wav")
        var info = SF_INFO()
        let f = try XCTUnwrap(sf_open(audio.path, Int32(SFM_READ), &info))
        var floats = [Float](repeating: 0, count: Int(info.frames))
        _ = sf_readf_float(f, &floats, info.frames)
        sf_close(f)
        let samples = transform(floats.map { Int16(clamping: Int(($0 * 32_768).rounded(.toNearestOrEven))) })
        let url = dir.appendingPathComponent(name)
        var out = SF_INFO(frames: 0, samplerate: 24_000, channels: 1, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16),
                          sections: 0, seekable: 0)
        let w = try XCTUnwrap(sf_open(url.path, Int32(SFM_WRITE), &out))
        _ = sf_writef_short(w, samples, sf_count_t(samples.count))
        sf_close(w)
        return url
    }

    private func tokens(_ input: String, stdin: Data = Data(), extra: [String] = []) throws -> [Int] {
        let run = try CLIRunner.run(["transcribe", input, "--model", Self.model, "--format", "verbose_json",
                                     "--max-new-tokens", "24", "--quiet"] + extra, stdin: stdin)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any] ?? [:]
        return json["tokens"] as? [Int] ?? []
    }

    /// AAC (M4A, MP4 with a video track), Opus (WebM with a video track) and Vorbis (MKV) at 64 kbit/s give the
    /// WAV's 24 greedy ids. (Measured: so do they all; raw ADTS AAC, MP3 in AVI and WMA do not, because their
    /// audio starts 1024, 1105 and -2048 samples off the WAV's, as ContainerDecodingTests shows: encoder delay
    /// that those containers do not record.)
    func testLossyContainersGiveTheWAVsIDs() throws {
        let expected = try tokens(try sourceWAV().path)
        XCTAssertEqual(expected.count, 24)
        for file in ["aac.m4a", "aac-moov-end.m4a", "aac-video.mp4", "opus-video.webm", "vorbis.mkv"] {
            XCTAssertEqual(try tokens(Self.container(file).path), expected, file)
        }
    }

    /// `--audio-stream 1` picks the MKV's second FLAC track, whose samples are the first track's reversed.
    func testAudioStreamPicksTheTrack() throws {
        let head = try tokens(try sourceWAV({ Array($0[0..<24_000]) }, name: "head.wav").path)
        let reversed = try tokens(try sourceWAV({ Array($0[0..<24_000].reversed()) }, name: "rev.wav").path)
        XCTAssertNotEqual(head, reversed)
        let mkv = Self.container("flac-2audio.mkv").path
        XCTAssertEqual(try tokens(mkv), head)
        XCTAssertEqual(try tokens(mkv, extra: ["--audio-stream", "1"]), reversed)
        let run = try CLIRunner.run(["transcribe", mkv, "--audio-stream", "2", "--model", Self.model, "--quiet"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("there is no audio stream 2; audio streams count from 0, and this file has 2 "
                                              + "(0 = #1 audio flac [eng], 1 = #2 audio flac [fra])"), run.stderr)
        let negative = try CLIRunner.run(["transcribe", mkv, "--audio-stream", "-1", "--model", Self.model])
        XCTAssertEqual(negative.status, 1)
        XCTAssertTrue(negative.stderr.contains("--audio-stream must be 0 or more"), negative.stderr)
    }

    func testVideoWithoutAudioExitsOne() throws {
        let video = Self.container("video-only.mp4").path
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let run = try CLIRunner.run(["transcribe", video, "--model", Self.model, "--output-dir", out.path])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("\(video): no audio stream to transcribe (streams: #0 video mpeg4)"), run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
    }

    /// `transcribe -` reads the file from standard input (an MP4 whose index comes last too: it is held in
    /// memory and read by seeking); with --output-dir its outputs are stdin.*, next to other inputs' own.
    func testStandardInput() throws {
        let m4a = try Data(contentsOf: Self.container("aac-moov-end.m4a"))
        let expected = try tokens(Self.container("aac.m4a").path)
        XCTAssertEqual(try tokens("-", stdin: m4a), expected)

        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let webm = Self.container("opus-video.webm").path
        let run = try CLIRunner.run(["transcribe", "-", webm, "--model", Self.model, "--output-dir", out.path,
                                     "-f", "verbose_json", "-f", "srt", "--max-new-tokens", "24", "--quiet"], stdin: m4a)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["opus-video.srt", "opus-video.verbose.json", "stdin.srt", "stdin.verbose.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("stdin.verbose.json")))
        XCTAssertEqual((json as? [String: Any])?["tokens"] as? [Int], expected)

        let twice = try CLIRunner.run(["transcribe", "-", "-", "--model", Self.model, "--output-dir", out.path])
        XCTAssertEqual(twice.status, 1)
        XCTAssertTrue(twice.stderr.contains("'-' (standard input) can be given once"), twice.stderr)
        let empty = try CLIRunner.run(["transcribe", "-", "--model", Self.model])
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains("standard input: the file is empty (0 bytes)"), empty.stderr)
        let cut = try CLIRunner.run(["transcribe", "-", "--model", Self.model], stdin: m4a.prefix(m4a.count / 2))
        XCTAssertEqual(cut.status, 1)
        XCTAssertTrue(cut.stderr.contains("standard input: damaged audio file: QuickTime / MOV: moov atom not found"),
                      cut.stderr)
        XCTAssertEqual(cut.stdout, "")
    }

    /// A cut M4A stops with exit code 1 and no output file; --allow-partial-audio transcribes what decoded and
    /// warns.
    func testCutM4AStopsUnlessPartialAudioIsAllowed() throws {
        let data = try Data(contentsOf: Self.container("aac.m4a"))
        let cut = dir.appendingPathComponent("memo.m4a")
        try data.prefix(data.count / 2).write(to: cut)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let refused = try CLIRunner.run(["transcribe", cut.path, "--model", Self.model, "--output-dir", out.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("\(cut.path): the audio is damaged or cut short: decoded "), refused.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
        let kept = try CLIRunner.run(["transcribe", cut.path, "--model", Self.model, "--output-dir", out.path,
                                      "--allow-partial-audio", "--max-new-tokens", "8", "--quiet"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(kept.stderr.contains("of the 80448 frames the container declares"), kept.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), ["memo.json"])
    }
}
