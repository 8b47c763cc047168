import Foundation
import XCTest
@testable import VibeVoiceASR

/// Multi-turn conversations reuse the encoded audio and the KV cache, and give what a fresh prefill of the
/// whole rendered conversation gives.
final class ConversationSessionTests: XCTestCase {
    static let engine = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine/hf_bf16_chunked")

    func makeSession(_ template: ConversationTemplate) throws -> ConversationSession {
        let transcriber = try Transcriber(modelDirectory: Self.engine.appendingPathComponent("model"))
        var options = ChatOptions(template: template, maxNewTokens: 6)
        options.systemPrompt = template == .chatml ? "Answer questions about the recording." : nil
        return ConversationSession(transcriber: transcriber, options: options, baseDirectory: Self.engine)
    }

    /// Greedy tokens from a fresh session over exactly `ids`: what a follow-up must reproduce.
    func freshTokens(_ s: ConversationSession, ids: [Int], audio: AudioFeatures) throws -> [Int] {
        let fresh = DecoderSession(model: s.transcriber.model, audioTokenID: s.transcriber.promptBuilder.audioTokenID)
        try fresh.extend(to: ids, audio: audio)
        var stops: Set<Int> = [s.transcriber.promptBuilder.imEndID]
        stops.insert(s.transcriber.tokenizer.id(forToken: "<|endoftext|>")!)
        return fresh.generate(options: GenerationOptions(maxNewTokens: 6, stopTokenIDs: stops)).tokens
    }

    func testChatMLFollowUpCostsOnlyItsNewTokens() throws {
        let s = try makeSession(.chatml)
        s.add(.user([.audio(.file("audio.wav")), .text("Who speaks first?")]))
        let turn1 = try s.prepareTurn()
        XCTAssertEqual(turn1.encodedAudioItems, 1)
        var streamed = ""
        let r1 = try s.reply { streamed += $0 }
        XCTAssertEqual(r1.encodedAudioItems, 0)       // prepareTurn above encoded it already
        XCTAssertEqual(r1.prefilledTokens, turn1.ids.count)
        XCTAssertEqual(r1.reusedTokens, 0)
        XCTAssertEqual(r1.tokens, try freshTokens(s, ids: turn1.ids, audio: turn1.audio))
        XCTAssertEqual(streamed, r1.text)
        XCTAssertEqual(s.conversation.messages.last, .assistant(r1.text))

        s.add(.user([.text("And then?")]))
        let turn2 = try s.prepareTurn()
        XCTAssertEqual(turn2.encodedAudioItems, 0)
        let r2 = try s.reply()
        // everything of turn 1, the reply included, stays in the cache
        let inCache = turn1.ids.count + r1.tokens.count - 1
        XCTAssertEqual(Array(turn2.ids[0..<inCache]), turn1.ids + r1.tokens.dropLast())
        XCTAssertEqual(r2.reusedTokens, inCache)
        XCTAssertEqual(r2.prefilledTokens, turn2.ids.count - inCache)
        XCTAssertLessThan(r2.prefilledTokens, 20)
        XCTAssertEqual(r2.tokens, try freshTokens(s, ids: turn2.ids, audio: turn2.audio))
        XCTAssertEqual(s.conversation.messages.count, 4)
    }

    func testReferenceFollowUpRewindsToThePromptAndAppendsTheNewTurn() throws {
        let s = try makeSession(.reference)
        s.add(.user([.audio(.file("audio.wav"))]))
        let turn1 = try s.prepareTurn()
        let r1 = try s.reply()
        XCTAssertEqual(r1.encodedAudioItems, 0)
        s.add(.user([.audio(.file("../original_sharded_context/audio.wav")), .text("second clip")]))
        let turn2 = try s.prepareTurn()
        XCTAssertEqual(turn2.encodedAudioItems, 1)
        let r2 = try s.reply()
        // the reference rendering drops the reply: the cache is rewound to the common prefix of the two
        // prompts (the first prompt, or all but its last "\n" where the tokenizer merges "\n\n")
        var common = 0
        while common < turn1.ids.count, turn1.ids[common] == turn2.ids[common] { common += 1 }
        XCTAssertGreaterThanOrEqual(common, turn1.ids.count - 1)
        XCTAssertEqual(r2.reusedTokens, common)
        XCTAssertEqual(r2.prefilledTokens, turn2.ids.count - common)
        XCTAssertEqual(r2.tokens, try freshTokens(s, ids: turn2.ids, audio: turn2.audio))
    }

    func testHistoryRoundTripsAndBadAudioLeavesTheConversationAsItWas() throws {
        let s = try makeSession(.chatml)
        try s.send(.user([.audio(.file("audio.wav")), .text("Hi")]))
        let saved = s.conversation.jsonText()
        XCTAssertEqual(try Conversation.read(json: saved), s.conversation)
        XCTAssertThrowsError(try s.send(.user([.audio(.file("missing.wav"))]))) { error in
            XCTAssertTrue("\(error)".contains("missing.wav"), "\(error)")
        }
        XCTAssertEqual(s.conversation.jsonText(), saved)
        XCTAssertThrowsError(try s.send(.user([.audio(.samples(3200))]))) { error in
            XCTAssertTrue("\(error)".contains("path"), "\(error)")
        }
    }
}
