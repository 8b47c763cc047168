import ArgumentParser
import Foundation
import VibeVoiceASR

/// `vibevoice-asr prompt`: the prompt token ids the model sees for an audio length (for checking a tokenizer
/// or comparing with the reference implementation).
struct PromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompt",
        abstract: "Print the prompt token ids for an audio length, as one JSON array.",
        discussion: """
            The prompt is the one the released checkpoint was trained with: system turn, user turn with one \
            <|box_start|> slot per 3200 samples (24 kHz), and the duration and optional context in words.
            """)

    @Option(name: .long, help: ArgumentHelp("Tokenizer: a tokenizer.json, or a folder holding one.", valueName: "path"))
    var tokenizer: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Audio length in samples at 24 kHz.", valueName: "n"))
    var samples: Int

    @Option(name: .long, help: ArgumentHelp("Extra info for the model: hotwords, names, topic.", valueName: "text"))
    var context: String?

    func run() throws {
        let day = 24_000 * 86_400
        guard (0...day).contains(samples) else {
            throw CLIUsageError("--samples must be between 0 and \(day) (24 hours at 24 kHz), got \(samples)")
        }
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer))
        let builder = try PromptBuilder(tokenizer: tok)
        let ids = builder.promptIDs(rawSampleCount: samples, context: context)
        print(TokenizeCommand.jsonArray(ids))
    }
}
