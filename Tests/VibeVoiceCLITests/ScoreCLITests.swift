import Foundation
import XCTest

/// `vibevoice-asr score` end to end: the figures transformers 5.23.0 gives (scoring.json), from a transcript
/// in any of the three forms.
final class ScoreCLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let caseDir = fixtures.appendingPathComponent("engine/hf_inmemory_f32_long")

    func score(_ transcript: String, _ extra: [String] = []) throws -> CLIRunner.Result {
        try CLIRunner.run(["score", Self.caseDir.appendingPathComponent("audio.wav").path,
                           "--model", Self.caseDir.appendingPathComponent("model").path,
                           "--transcript", transcript, "--context", "  Alice, Bob; budget ", "--quiet"] + extra)
    }

    func testJSONGivesTheReferenceFiguresForEveryTranscriptForm() throws {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("conversations/scoring.json"))) as! [String: Any]
        let teacher = (root["teacher_forced"] as! [[String: Any]]).first { $0["checkpoint"] as? String == "hf_inmemory_f32_long" }!
        let loss = (root["loss_cases"] as! [[String: Any]]).first {
            $0["checkpoint"] as? String == "hf_inmemory_f32_long" && $0["name"] as? String == "transcription_with_answer" }!
        var outputs: [String] = []
        for name in ["meeting_raw.txt", "meeting.json", "meeting_verbose.json"] {
            let run = try score(Self.fixtures.appendingPathComponent("conversations/\(name)").path)
            XCTAssertEqual(run.status, 0, run.stderr)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any], run.stdout)
            let nll = try XCTUnwrap(json["nll"] as? Double), ref = teacher["nll"] as! Double
            XCTAssertLessThan(abs(nll - ref) / ref, 1e-4, name)
            XCTAssertEqual(try XCTUnwrap(json["perplexity"] as? Double), Foundation.exp(nll), accuracy: 1e-9)
            XCTAssertEqual(json["tokens"] as? Int, teacher["scored_tokens"] as? Int)
            let rl = try XCTUnwrap(json["reference_loss"] as? Double), refLoss = loss["loss"] as! Double
            XCTAssertLessThan(abs(rl - refLoss) / refLoss, 1e-4, name)
            XCTAssertEqual(json["reference_loss_tokens"] as? Int, loss["labelled_positions"] as? Int)
            outputs.append(run.stdout)
        }
        XCTAssertEqual(Set(outputs).count, 1, "the three forms are the same transcript")
    }

    func testVerboseJSONHasTokensAndSegments() throws {
        let run = try score(Self.fixtures.appendingPathComponent("conversations/meeting.json").path, ["-f", "verbose_json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: run.stdoutData) as? [String: Any], run.stdout)
        let tokens = try XCTUnwrap(json["token_logprobs"] as? [[String: Any]])
        XCTAssertEqual(tokens.count, json["tokens"] as? Int)
        let mean = -tokens.map { $0["logprob"] as! Double }.reduce(0, +) / Double(tokens.count)
        XCTAssertEqual(mean, json["nll"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(tokens.map { $0["text"] as! String }.joined(), (json["transcript"] as! String) + "<|im_end|>")
        let segments = try XCTUnwrap(json["segments"] as? [[String: Any]])
        XCTAssertEqual(segments.map { $0["text"] as? String }, ["Alice and Bob talk about the budget.", "Yes, the meeting is today."])
        XCTAssertEqual(segments.map { $0["speaker"] as? Int }, [0, 1])
        for s in segments { XCTAssertNotNil(s["avg_logprob"] as? Double) }
        XCTAssertNotNil(json["prompt_tokens"] as? Int)
    }

    func testStandardInputAndErrors() throws {
        let raw = try Data(contentsOf: Self.fixtures.appendingPathComponent("conversations/meeting_raw.txt"))
        let piped = try CLIRunner.run(["score", Self.caseDir.appendingPathComponent("audio.wav").path,
                                       "--model", Self.caseDir.appendingPathComponent("model").path,
                                       "--transcript", "-", "--context", "Alice, Bob; budget", "--quiet"], stdin: raw)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let fromFile = try score(Self.fixtures.appendingPathComponent("conversations/meeting_raw.txt").path)
        XCTAssertEqual(piped.stdout, fromFile.stdout)

        let dir = try CLIRunner.makeTempDir(self)
        let empty = dir.appendingPathComponent("empty.txt")
        try Data("  \n".utf8).write(to: empty)
        for (extra, needle) in [(["--transcript", empty.path], "empty"), (["--transcript", "/nonexistent"], "does not exist"),
                                (["--transcript", empty.path, "-f", "srt"], "json or verbose_json")] as [([String], String)] {
            let r = try CLIRunner.run(["score", Self.caseDir.appendingPathComponent("audio.wav").path,
                                       "--model", Self.caseDir.appendingPathComponent("model").path] + extra)
            XCTAssertEqual(r.status, 1, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(extra): \(r.stderr)")
        }
        let noModel = try CLIRunner.run(["score", Self.caseDir.appendingPathComponent("audio.wav").path, "--model", dir.path,
                                         "--transcript", Self.fixtures.appendingPathComponent("conversations/meeting.json").path])
        XCTAssertEqual(noModel.status, 2, noModel.stderr)
    }
}
