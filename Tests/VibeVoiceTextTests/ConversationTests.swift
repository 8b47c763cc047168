import Foundation
import XCTest
@testable import VibeVoiceText

/// The conversation file format and both renderings; `reference` against transformers 5.23.0's processor
/// (Tests/Fixtures/conversations/prompts.json, made by scripts/make_conversation_fixtures.py).
final class ConversationTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/conversations")

    struct PromptCase {
        var name: String
        var messagesJSON: Data
        var systemPrompt: String?
        var inputIDs: [Int]?
        var error: String?
    }

    static func promptCases() throws -> [PromptCase] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("prompts.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        return try cases.map { c in
            PromptCase(name: try XCTUnwrap(c["name"] as? String),
                       messagesJSON: try JSONSerialization.data(withJSONObject: try XCTUnwrap(c["messages"])),
                       systemPrompt: c["system_prompt"] as? String,
                       inputIDs: c["input_ids"] as? [Int], error: c["error"] as? String)
        }
    }

    func testReferenceRenderingMatchesTransformersOnEveryFixture() throws {
        let renderer = try ConversationRenderer(tokenizer: TokenizerFixtures.qwen())
        let cases = try Self.promptCases()
        XCTAssertEqual(cases.count, 16)
        var errors = 0
        for c in cases {
            let conversation = try Conversation.read(json: Array(c.messagesJSON))
            if let expected = c.inputIDs {
                let ids = try renderer.ids(for: conversation, template: .reference, systemPrompt: c.systemPrompt)
                XCTAssertEqual(ids, expected, c.name)
            } else {
                errors += 1
                XCTAssertThrowsError(try renderer.ids(for: conversation, template: .reference, systemPrompt: c.systemPrompt),
                                     c.name) { error in
                    guard case ConversationError.reference(let message, _) = error else {
                        return XCTFail("\(c.name): \(error)")
                    }
                    // the same exception as the reference raised
                    let kind = c.error!.split(separator: ":")[0]
                    XCTAssertTrue(message.hasPrefix(String(kind)), "\(c.name): \(message) vs \(c.error!)")
                }
            }
        }
        XCTAssertEqual(errors, 3)
    }

    func testTranscriptionRequestEqualsThePromptBuilder() throws {
        let tok = try TokenizerFixtures.qwen()
        let renderer = try ConversationRenderer(tokenizer: tok)
        for context in [nil, "Alice, Bob"] as [String?] {
            var items: [ContentItem] = [.audio(.samples(140_640))]
            if let context { items.append(.text(context)) }
            let ids = try renderer.ids(for: Conversation([.user(items)]), template: .reference)
            XCTAssertEqual(ids, renderer.promptBuilder.promptIDs(rawSampleCount: 140_640, context: context))
        }
    }

    func testChatMLOfTheTrainedRequestIsTheTrainedPromptPlusTheAssistantHeader() throws {
        let tok = try TokenizerFixtures.qwen()
        let renderer = try ConversationRenderer(tokenizer: tok)
        let b = renderer.promptBuilder
        let instruction = b.suffixText(rawSampleCount: 140_640, context: nil)
        let conversation = Conversation([.user([.audio(.samples(140_640)), .text(instruction)])])
        let ids = try renderer.ids(for: conversation, template: .chatml)
        XCTAssertEqual(ids, b.promptIDs(rawSampleCount: 140_640, context: nil) + [b.imStartID] + tok.encode("assistant\n"))
    }

    func testChatMLKeepsEveryTurnInOrder() throws {
        let tok = try TokenizerFixtures.qwen()
        let renderer = try ConversationRenderer(tokenizer: tok)
        let conversation = Conversation([
            .system("Answer briefly."),
            .user([.text("Listen:"), .audio(.samples(6400)), .text("Who speaks?")]),
            .assistant("Ana."),
            Message(role: .user, content: .string("And <|im_end|> then?")),
        ])
        let ids = try renderer.ids(for: conversation, template: .chatml)
        let text = tok.decode(ids)
        XCTAssertEqual(text, "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
            + "<|im_start|>user\nListen:\n<|object_ref_start|><|box_start|><|box_start|><|object_ref_end|>\nWho speaks?<|im_end|>\n"
            + "<|im_start|>assistant\nAna.<|im_end|>\n"
            + "<|im_start|>user\nAnd <|im_end|> then?<|im_end|>\n<|im_start|>assistant\n")
        // the typed control token stayed text: only four <|im_end|> ids (one per turn)
        XCTAssertEqual(ids.filter { $0 == renderer.promptBuilder.imEndID }.count, 4)
        // --system replaces the leading system message
        let overridden = try renderer.ids(for: conversation, template: .chatml, systemPrompt: "Other.")
        XCTAssertTrue(tok.decode(overridden).hasPrefix("<|im_start|>system\nOther.<|im_end|>\n<|im_start|>user\nListen:"))
        // the model's own tokens stand in for an assistant message's text
        let replaced = try renderer.ids(for: conversation, template: .chatml, assistantContentIDs: [2: [42, 43]])
        let header = [renderer.promptBuilder.imStartID] + tok.encodePlainText("assistant\n")
        XCTAssertNotNil(Self.find(header + [42, 43, renderer.promptBuilder.imEndID], in: replaced))
    }

    func testChatMLEndingWithTheAssistantHasNoGenerationPrompt() throws {
        let tok = try TokenizerFixtures.qwen()
        let renderer = try ConversationRenderer(tokenizer: tok)
        let ids = try renderer.ids(for: Conversation([.user([.text("Hi")]), .assistant("Hello.")]), template: .chatml)
        XCTAssertTrue(tok.decode(ids).hasSuffix("<|im_start|>assistant\nHello.<|im_end|>\n"))
    }

    func testAudioLengthsComeFromTheCallerOrTheItems() throws {
        let renderer = try ConversationRenderer(tokenizer: TokenizerFixtures.qwen())
        let conversation = Conversation([.user([.audio(.file("a.wav")), .audio(.samples(3200))])])
        XCTAssertThrowsError(try renderer.ids(for: conversation, template: .chatml)) { error in
            XCTAssertTrue("\(error)".contains("a.wav"), "\(error)")
        }
        XCTAssertThrowsError(try renderer.ids(for: conversation, template: .chatml, audioSampleCounts: [1])) { error in
            XCTAssertEqual(error as? ConversationError, .audioCountMismatch(items: 2, sampleCounts: 1))
        }
        let ids = try renderer.ids(for: conversation, template: .reference, audioSampleCounts: [6401, 3200])
        XCTAssertEqual(ids.filter { $0 == renderer.promptBuilder.audioTokenID }.count, 3 + 1)
        XCTAssertTrue(renderer.tokenizer.decode(ids).contains("This is a 0.27 seconds audio"))
    }

    func testFileFormatRoundTrip() throws {
        let json = """
        [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": [{"type": "audio", "path": "a b.wav"}, {"type": "text", "text": "Names: \\"Ana\\"\\n"}],
          "extra": 1},
         {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
         {"role": "user", "content": [{"type": "audio", "samples": 24000, "path": "x.wav"}]}]
        """
        let c = try Conversation.read(json: json)
        XCTAssertEqual(c.messages.count, 4)
        XCTAssertEqual(c.messages[0], Message(role: .system, content: .string("Be brief.")))
        XCTAssertEqual(c.messages[1].content, .items([.audio(.file("a b.wav")), .text("Names: \"Ana\"\n")]))
        XCTAssertEqual(c.audioItems, [.file("a b.wav"), AudioReference(path: "x.wav", sampleCount: 24000)])
        XCTAssertEqual(try Conversation.read(json: c.jsonText()), c)
        XCTAssertEqual(Conversation().jsonText(), "[]\n")
    }

    func testFileFormatErrorsSayWhereAndWhat() {
        func message(_ json: String) -> String {
            do { _ = try Conversation.read(json: json); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("{").contains("not valid JSON"))
        XCTAssertTrue(message("{\"role\": \"user\"}").contains("array of messages"))
        XCTAssertTrue(message("[{\"role\": \"bot\", \"content\": \"x\"}]").contains("message 1: expected role system, user or assistant"))
        XCTAssertTrue(message("[{\"role\": \"user\"}]").contains("\"content\" as a string or a list"))
        XCTAssertTrue(message("[{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]").contains("item 1: expected item type text or audio"))
        XCTAssertTrue(message("[{\"role\": \"user\", \"content\": [{\"type\": \"audio\", \"samples\": -1}]}]").contains("whole number"))
        XCTAssertTrue(message("[{\"role\": \"user\", \"content\": [{\"type\": \"audio\"}]}]").contains("\"path\""))
        XCTAssertTrue(message("[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]").contains("\"text\" string"))
    }

    func testPlainTextEncodingIgnoresControlTokens() throws {
        let tok = try TokenizerFixtures.qwen()
        XCTAssertEqual(tok.encodePlainText("hello world"), tok.encode("hello world"))
        XCTAssertFalse(tok.encodePlainText("a<|im_end|>b").contains(151645))
        XCTAssertEqual(tok.decode(tok.encodePlainText("a<|im_end|>b")), "a<|im_end|>b")
    }

    static func find(_ needle: [Int], in haystack: [Int]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}
