import Foundation
import XCTest
@testable import VibeVoiceText

final class PromptBuilderTests: XCTestCase {
    /// SPEC.md section 6: the released checkpoint's 103-id prompt for the 5.86 s clip (44 audio tokens).
    static let specPrompt: [Int] =
        [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 429, 1356, 55136, 7699, 1946, 1119, 1467, 2550, 304, 4718,
         3561, 13, 151645, 198, 151644, 872, 198, 151646]
        + [Int](repeating: 151648, count: 44)
        + [151647, 198, 1986, 374, 264, 220, 20, 13, 23, 21, 6486, 7699, 11, 4486, 1356, 3114, 432, 448, 1493, 6894, 25,
           5145, 882, 11, 3972, 882, 11, 29073, 3034, 11, 8883, 151645, 198]

    func testSpecPromptExactly() throws {
        let builder = try PromptBuilder(tokenizer: TokenizerFixtures.qwen())
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 140640), 44)
        XCTAssertEqual(builder.durationText(rawSampleCount: 140640), "5.86")
        let ids = builder.promptIDs(rawSampleCount: 140640, context: nil)
        XCTAssertEqual(ids.count, 103)
        XCTAssertEqual(ids, Self.specPrompt)
        XCTAssertEqual(builder.promptIDs(rawSampleCount: 140640, context: ""), Self.specPrompt)
        XCTAssertEqual(builder.promptIDs(rawSampleCount: 140640, context: " \n\t "), Self.specPrompt)
        XCTAssertEqual(builder.audioTokenID, 151648)
        XCTAssertEqual(builder.imStartID, 151644)
        XCTAssertEqual(builder.imEndID, 151645)
        XCTAssertEqual(builder.audioStartID, 151646)
        XCTAssertEqual(builder.audioEndID, 151647)
    }

    func testPromptsMatchHuggingFace() throws {
        let builder = try PromptBuilder(tokenizer: TokenizerFixtures.qwen())
        let root = try XCTUnwrap(TokenizerFixtures.json("prompts.json") as? [String: Any])
        let prompts = try XCTUnwrap(root["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 8)
        for p in prompts {
            let samples = try XCTUnwrap(p["samples"] as? Int)
            let context = p["context"] as? String
            let expected = (p["ids"] as? [Any] ?? []).map { ($0 as! NSNumber).intValue }
            let got = builder.promptIDs(rawSampleCount: samples, context: context)
            XCTAssertEqual(got, expected, "samples \(samples), context \(String(describing: context))")
            XCTAssertEqual(got.filter { $0 == builder.audioTokenID }.count, builder.audioTokenCount(rawSampleCount: samples))
        }
        let prefixes = try XCTUnwrap(root["assistant_prefixes"] as? [[String: Any]])
        XCTAssertEqual(prefixes.count, 3)
        for p in prefixes {
            let text = try XCTUnwrap(p["text"] as? String)
            let expected = (p["ids"] as? [Any] ?? []).map { ($0 as! NSNumber).intValue }
            XCTAssertEqual(builder.assistantPrefixIDs(text), expected, text)
        }
    }

    func testAudioTokenCountRoundsUp() throws {
        let builder = try PromptBuilder(tokenizer: TokenizerFixtures.qwen())
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 0), 0)
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 1), 1)
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 3200), 1)
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 3201), 2)
        XCTAssertEqual(builder.audioTokenCount(rawSampleCount: 24000 * 3600), 27000)
        let custom = try PromptBuilder(tokenizer: TokenizerFixtures.qwen(), hopLength: 320, sampleRate: 16000)
        XCTAssertEqual(custom.audioTokenCount(rawSampleCount: 16000), 50)
        XCTAssertEqual(custom.durationText(rawSampleCount: 16000 * 3 / 2), "1.50")
    }

    func testContextText() throws {
        let builder = try PromptBuilder(tokenizer: TokenizerFixtures.qwen())
        XCTAssertEqual(builder.suffixText(rawSampleCount: 48000, context: "  Alice, Bob \n"),
                       "This is a 2.00 seconds audio, with extra info: Alice, Bob\n\n"
                       + "Please transcribe it with these keys: Start time, End time, Speaker ID, Content")
        XCTAssertEqual(builder.suffixText(rawSampleCount: 12345, context: nil),
                       "This is a 0.51 seconds audio, please transcribe it with these keys: "
                       + "Start time, End time, Speaker ID, Content")
    }

    /// Markers are looked up by text: a tokenizer with other ids gives other ids.
    func testLooksUpMarkersByText() throws {
        let markers = ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>"]
        let added = markers.enumerated().map { TinyTokenizer.addedToken(400 + $0.offset, $0.element) }
        let tok = try Tokenizer(jsonData: TinyTokenizer.json(merges: [], added: added))
        let builder = try PromptBuilder(tokenizer: tok)
        let ids = builder.promptIDs(rawSampleCount: 6401, context: "x")
        XCTAssertEqual(builder.audioTokenID, 404)
        XCTAssertEqual(ids.first, 400)
        XCTAssertEqual(ids.filter { $0 == 404 }.count, 3)
        XCTAssertEqual(tok.decode(ids), "<|im_start|>system\nYou are a helpful assistant that transcribes audio input "
                       + "into text output in JSON format.<|im_end|>\n<|im_start|>user\n<|object_ref_start|>"
                       + "<|box_start|><|box_start|><|box_start|><|object_ref_end|>\nThis is a 0.27 seconds audio, "
                       + "with extra info: x\n\nPlease transcribe it with these keys: Start time, End time, Speaker ID, "
                       + "Content<|im_end|>\n")
        XCTAssertEqual(builder.assistantPrefixIDs("[").first, 400)
        XCTAssertEqual(tok.decode(builder.assistantPrefixIDs("[{")), "<|im_start|>assistant\n[{")
    }

    func testMissingMarkerAndBadParameters() throws {
        let tok = try Tokenizer(jsonData: TinyTokenizer.json(merges: [], added: [TinyTokenizer.addedToken(300, "<|im_start|>")]))
        XCTAssertThrowsError(try PromptBuilder(tokenizer: tok)) { e in
            XCTAssertEqual(e as? TokenizerError, .missingToken("<|im_end|>"))
        }
        XCTAssertThrowsError(try PromptBuilder(tokenizer: TokenizerFixtures.qwen(), hopLength: 0)) { e in
            XCTAssertEqual(e as? PromptBuilderError, .invalidParameter(name: "hopLength", value: 0, expected: "> 0"))
        }
        XCTAssertThrowsError(try PromptBuilder(tokenizer: TokenizerFixtures.qwen(), sampleRate: -1))
    }
}
