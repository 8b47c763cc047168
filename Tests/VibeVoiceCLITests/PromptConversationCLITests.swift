import Foundation
import XCTest
@testable import VibeVoiceASR

/// `prompt --conversation` against transformers' chat template (prompts.json), and `transcribe --prompt`.
final class PromptConversationCLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    func tokenizer() throws -> String { try XCTUnwrap(TokenizeCLITests.tokenizerPath, "cannot unpack the tokenizer fixture") }
    /// The tiny checkpoint's tokenizer: loads at once, for the tests that check the command rather than parity.
    static let tinyTokenizer = fixtures.appendingPathComponent("engine/hf_bf16_chunked/model/tokenizer.json").path

    /// Three of the fixture conversations (the library test checks all sixteen; each CLI run loads the
    /// 151 665-token tokenizer, ~3 s in a debug build): a system prompt, two turns with audio, an error.
    func testFixtureConversationsGiveTheReferenceIDs() throws {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("conversations/prompts.json"))) as! [String: Any]
        let dir = try CLIRunner.makeTempDir(self)
        let chosen = ["system_prompt_override", "two_user_turns_with_audio", "error_audio_in_assistant_turn"]
        let cases = (root["cases"] as! [[String: Any]]).filter { chosen.contains($0["name"] as! String) }
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            let name = c["name"] as! String
            let file = dir.appendingPathComponent("\(name).json")
            try JSONSerialization.data(withJSONObject: c["messages"]!).write(to: file)
            var args = ["prompt", "--tokenizer", try tokenizer(), "--conversation", file.path]
            if let s = c["system_prompt"] as? String { args += ["--system", s] }
            let run = try CLIRunner.run(args)
            if let ids = c["input_ids"] as? [Int] {
                XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
                XCTAssertEqual(try JSONSerialization.jsonObject(with: run.stdoutData) as? [Int], ids, name)
            } else {
                XCTAssertEqual(run.status, 1, "\(name): \(run.stderr)")
                XCTAssertTrue(run.stderr.contains("reference chat template cannot render"), "\(name): \(run.stderr)")
            }
        }
    }

    func testAudioFilesRelativeToTheConversationAndChatML() throws {
        let dir = try CLIRunner.makeTempDir(self)
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("conversations/second.wav"),
                                         to: dir.appendingPathComponent("clip.wav"))
        let file = dir.appendingPathComponent("c.json")
        try Data("""
            [{"role": "user", "content": [{"type": "audio", "path": "clip.wav"}, {"type": "text", "text": "Who?"}]},
             {"role": "assistant", "content": "Ana."}, {"role": "user", "content": "Sure?"}]
            """.utf8).write(to: file)
        let tok = try Tokenizer(url: URL(fileURLWithPath: Self.tinyTokenizer))
        let renderer = try ConversationRenderer(tokenizer: tok)
        let conversation = try Conversation.read(json: Array(try Data(contentsOf: file)))
        for (template, system) in [(ConversationTemplate.chatml, "Be brief."), (.reference, "Transcribe.")] {
            let run = try CLIRunner.run(["prompt", "--tokenizer", Self.tinyTokenizer, "--conversation", file.path,
                                         "--template", template.rawValue, "--system", system])
            XCTAssertEqual(run.status, 0, run.stderr)
            let expected = try renderer.ids(for: conversation, template: template, systemPrompt: system, audioSampleCounts: [19_000])
            XCTAssertEqual(try JSONSerialization.jsonObject(with: run.stdoutData) as? [Int], expected, template.rawValue)
        }
        let piped = try CLIRunner.run(["prompt", "--tokenizer", Self.tinyTokenizer, "--conversation", "-"],
                                      stdin: Data("[{\"role\": \"user\", \"content\": [{\"type\": \"audio\", \"samples\": 140640}]}]".utf8))
        XCTAssertEqual(try JSONSerialization.jsonObject(with: piped.stdoutData) as? [Int],
                       renderer.promptBuilder.promptIDs(rawSampleCount: 140_640, context: nil))
    }

    func testUsageErrors() throws {
        let cases: [([String], String)] = [
            (["--samples", "10", "--conversation", "x.json"], "exclude each other"),
            ([], "give --samples N or --conversation FILE"),
            (["--conversation", "/nonexistent.json"], "does not exist"),
            (["--samples", "10", "--system", "x"], "--system goes with --conversation"),
            (["--conversation", "-", "--context", "x"], "--context goes with --samples"),
            (["--conversation", "-", "--template", "jinja"], "template"),
        ]
        for (extra, needle) in cases {
            let r = try CLIRunner.run(["prompt", "--tokenizer", Self.tinyTokenizer] + extra, stdin: Data("[]".utf8))
            XCTAssertEqual(r.status, 1, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(extra): \(r.stderr)")
        }
        let bad = try CLIRunner.run(["prompt", "--tokenizer", Self.tinyTokenizer, "--conversation", "-"],
                                    stdin: Data("[{\"role\": \"user\", \"content\": [{\"type\": \"audio\", \"path\": \"missing.wav\"}]}]".utf8))
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("missing.wav"), bad.stderr)
    }
}

extension TranscribeCLITests {
    /// --prompt is apply_transcription_request's prompt: verbatim. Trimmed text gives the reference case's
    /// greedy ids (its context, stripped); whitespace changes the prompt; a typed placeholder fails as in
    /// the reference.
    func testTranscribePrompt() throws {
        let r = try reference("original_sharded_context")
        let stripped = try XCTUnwrap(r.context).trimmingCharacters(in: .whitespaces)
        func run(_ extra: [String]) throws -> CLIRunner.Result {
            try CLIRunner.run(["transcribe", r.audio.path, "--model", r.model.path, "--format", "verbose_json",
                               "--max-new-tokens", "\(r.generated.count)", "--quiet"] + r.tokenizerArgs + extra)
        }
        let exact = try run(["--prompt", stripped])
        XCTAssertEqual(exact.status, 0, exact.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: exact.stdoutData) as? [String: Any])
        XCTAssertEqual(json["tokens"] as? [Int], r.generated)
        XCTAssertEqual(json["prompt_tokens"] as? Int, r.promptLength)

        let spaced = try run(["--prompt", r.context!])
        XCTAssertEqual(spaced.status, 0, spaced.stderr)
        let spacedJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: spaced.stdoutData) as? [String: Any])
        XCTAssertNotEqual(spacedJSON["prompt_tokens"] as? Int, r.promptLength, "the spaces are kept")
        let viaContext = try run(["--context", r.context!])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: viaContext.stdoutData) as? [String: Any])?["tokens"] as? [Int], r.generated)

        let placeholder = try run(["--prompt", "<|AUDIO_DURATION|>"])
        XCTAssertEqual(placeholder.status, 1, placeholder.stderr)
        XCTAssertTrue(placeholder.stderr.contains("StopIteration"), placeholder.stderr)
        let both = try run(["--prompt", "a", "--context", "b"])
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("--prompt"), both.stderr)
    }
}
