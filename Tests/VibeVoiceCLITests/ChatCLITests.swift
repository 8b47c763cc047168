import Foundation
import XCTest
@testable import VibeVoiceASR

/// `vibevoice-asr chat` end to end on a tiny checkpoint: replies equal the library's ConversationSession,
/// --history is loaded, continued and saved whole, questions come from --message or standard input.
final class ChatCLITests: XCTestCase {
    static let caseDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/engine/hf_bf16_chunked")
    static var model: String { caseDir.appendingPathComponent("model").path }
    static var audio: String { caseDir.appendingPathComponent("audio.wav").path }
    static let budget = 12

    func args(_ extra: [String]) -> [String] {
        ["chat", "--model", Self.model, "--max-new-tokens", "\(Self.budget)", "--quiet"] + extra
    }

    /// The replies the library gives for these questions (AUDIO with the first).
    func libraryReplies(_ questions: [String], template: ConversationTemplate = .chatml,
                        system: String? = nil) throws -> (replies: [String], conversation: Conversation) {
        let transcriber = try Transcriber(modelDirectory: Self.caseDir.appendingPathComponent("model"))
        let session = ConversationSession(transcriber: transcriber,
                                          options: ChatOptions(template: template, systemPrompt: system, maxNewTokens: Self.budget))
        var replies: [String] = []
        for (i, q) in questions.enumerated() {
            let items: [ContentItem] = i == 0 ? [.audio(.file(Self.audio)), .text(q)] : [.text(q)]
            replies.append(try session.send(.user(items)).text)
        }
        return (replies, session.conversation)
    }

    func testMessagesPrintTheLibrarysReplies() throws {
        let expected = try libraryReplies(["Who speaks?", "And then?"])
        let run = try CLIRunner.run(args([Self.audio, "--message", "Who speaks?", "--message", "And then?"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, expected.replies.map { $0 + "\n" }.joined())
        XCTAssertEqual(expected.replies.count, 2)
        XCTAssertNotEqual(expected.replies[0], expected.replies[1])
    }

    func testReferenceTemplateAndSystemPrompt() throws {
        for (template, system) in [(ConversationTemplate.reference, "Transcribe."), (.chatml, "Be brief.")] {
            let expected = try libraryReplies(["Names: Ana"], template: template, system: system)
            let run = try CLIRunner.run(args([Self.audio, "--message", "Names: Ana", "--template", template.rawValue,
                                              "--system", system]))
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(run.stdout, expected.replies[0] + "\n", template.rawValue)
        }
    }

    func testVerboseShowsTheFollowUpReusingTheCache() throws {
        let run = try CLIRunner.run(["chat", Self.audio, "--model", Self.model, "--max-new-tokens", "4", "-v",
                                     "--message", "One?", "--message", "Two?"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let turns = run.stderr.split(separator: "\n").filter { $0.hasPrefix("turn ") }
        XCTAssertEqual(turns.count, 2, run.stderr)
        XCTAssertTrue(turns[0].contains("(0 reused from the cache"), String(turns[0]))
        XCTAssertTrue(turns[0].contains("1 audio item(s) encoded"), String(turns[0]))
        XCTAssertTrue(turns[1].contains("0 audio item(s) encoded"), String(turns[1]))
        XCTAssertFalse(turns[1].contains("(0 reused"), String(turns[1]))
    }

    func testQuestionsFromStandardInput() throws {
        let expected = try libraryReplies(["first", "second"])
        let run = try CLIRunner.run(args([Self.audio]), stdin: Data("first\n\n   \nsecond\n".utf8))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, expected.replies.map { $0 + "\n" }.joined())
        // end of input at once: no turn, no output, success
        let none = try CLIRunner.run(args([Self.audio]))
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertEqual(none.stdout, "")
    }

    func testHistoryIsSavedLoadedAndContinued() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let history = dir.appendingPathComponent("talk.json").path
        let expected = try libraryReplies(["Who speaks?", "And then?"])

        let first = try CLIRunner.run(args([Self.audio, "--history", history, "--message", "Who speaks?"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, expected.replies[0] + "\n")
        let saved = try Conversation.read(json: Array(try Data(contentsOf: URL(fileURLWithPath: history))))
        XCTAssertEqual(saved, Conversation(Array(expected.conversation.messages.prefix(2))))

        // no AUDIO: the history holds it; the follow-up continues the same conversation
        let second = try CLIRunner.run(args(["--history", history, "--message", "And then?"]))
        XCTAssertEqual(second.status, 0, second.stderr)
        let continued = try Conversation.read(json: Array(try Data(contentsOf: URL(fileURLWithPath: history))))
        XCTAssertEqual(continued.messages.count, 4)
        XCTAssertEqual(continued.messages[2], .user([.text("And then?")]))
        // The reloaded history tokenises the first reply from its text; it gives the library's answer for
        // that same conversation.
        let transcriber = try Transcriber(modelDirectory: Self.caseDir.appendingPathComponent("model"))
        let session = ConversationSession(transcriber: transcriber, conversation: saved,
                                          options: ChatOptions(maxNewTokens: Self.budget))
        XCTAssertEqual(second.stdout, try session.send(.user([.text("And then?")])).text + "\n")
        XCTAssertEqual(continued, session.conversation)

        // AUDIO given again is not added twice
        let third = try CLIRunner.run(args([Self.audio, "--history", history, "--message", "More?"]))
        XCTAssertEqual(third.status, 0, third.stderr)
        let again = try Conversation.read(json: Array(try Data(contentsOf: URL(fileURLWithPath: history))))
        XCTAssertEqual(again.audioItems.count, 1)
        XCTAssertEqual(again.messages.count, 6)
        // written whole: nothing but the history in the folder
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["talk.json"])
    }

    func testSavedQuestionWithoutAnswerIsAnsweredFirst() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let history = dir.appendingPathComponent("h.json")
        try Conversation([.user([.audio(.file(Self.audio)), .text("Who speaks?")])]).jsonText()
            .write(to: history, atomically: true, encoding: .utf8)
        let expected = try libraryReplies(["Who speaks?"])
        let run = try CLIRunner.run(args(["--history", history.path]))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, expected.replies[0] + "\n")
        XCTAssertEqual(try Conversation.read(json: Array(try Data(contentsOf: history))), expected.conversation)
    }

    func testBadInputExitsOneAndLeavesTheHistoryAlone() throws {
        let dir = try CLIRunner.makeTempDir(self)
        let history = dir.appendingPathComponent("h.json")
        try Data("[{\"role\": \"user\"".utf8).write(to: history)
        let broken = try CLIRunner.run(args([Self.audio, "--history", history.path, "--message", "x"]))
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.stderr.contains("h.json") && broken.stderr.contains("not valid JSON"), broken.stderr)
        XCTAssertEqual(try String(contentsOf: history, encoding: .utf8), "[{\"role\": \"user\"")

        let cases: [([String], String)] = [
            (args([]), "give an audio file"),
            (args(["/nonexistent.wav", "--message", "x"]), "does not exist"),
            (args([Self.audio, "--template", "jinja"]), "template"),
            (args([Self.audio, "--message", " "]), "--message must not be empty"),
            (args([dir.path + "/h.json", "--message", "x"]), "h.json"),
        ]
        for (a, needle) in cases {
            let r = try CLIRunner.run(a)
            XCTAssertEqual(r.status, 1, "\(a): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(a): \(r.stderr)")
        }
        let missingModel = try CLIRunner.run(["chat", Self.audio, "--model", dir.path, "--message", "x", "--quiet"])
        XCTAssertEqual(missingModel.status, 2, missingModel.stderr)
    }
}

extension ChatCLITests {
    /// On a terminal (a pseudo-terminal from util-linux `script`): the banner, a `> ` prompt per question,
    /// replies streamed in between, and end of input (Ctrl-D) ends the loop with success.
    func testInteractiveLoopOnATerminal() throws {
        let script = "/usr/bin/script"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: script), "util-linux script is needed for a pty")
        let expected = try libraryReplies(["Who?", "Then?"])
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = ([CLIRunner.binary.path, "chat", Self.audio, "--model", Self.model,
                        "--max-new-tokens", "\(Self.budget)"]).map(quoted).joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["-qec", command, "/dev/null"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("Who?\nThen?\n".utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        // the terminal turns "\n" into "\r\n" and echoes what was typed
        let screen = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        XCTAssertTrue(screen.contains("Ask about the recording; Ctrl-D ends.\n"), screen)
        XCTAssertTrue(screen.hasSuffix("> " + expected.replies[1] + "\n> \n"), screen)
        XCTAssertTrue(screen.contains("> " + expected.replies[0] + "\n> "), screen)
    }
}
