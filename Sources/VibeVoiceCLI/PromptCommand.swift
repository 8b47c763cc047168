import ArgumentParser
import Foundation
import VibeVoiceASR

/// `vibevoice-asr prompt`: the prompt token ids the model sees for an audio length or a conversation (for
/// checking a tokenizer or comparing with the reference implementation).
struct PromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompt",
        abstract: "Print the prompt token ids for an audio length or a conversation, as one JSON array.",
        discussion: """
            --samples: the prompt the released checkpoint was trained with: system turn, user turn with one \
            <|box_start|> slot per 3200 samples (24 kHz), and the duration and optional context in words.
            --conversation: a JSON array of messages ({"role", "content": [{"type": "text", "text"} | \
            {"type": "audio", "path"} | {"type": "audio", "samples": N}]}, or content as a plain string), \
            rendered with --template reference (transformers' chat template, exactly) or chatml. Audio files \
            are decoded for their length; relative paths are relative to the conversation file.
            """)

    @Option(name: .long, help: ArgumentHelp("Tokenizer: a tokenizer.json, or a folder holding one.", valueName: "path"))
    var tokenizer: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Audio length in samples at 24 kHz.", valueName: "n"))
    var samples: Int?

    @Option(name: .long, help: ArgumentHelp("Extra info for the model: hotwords, names, topic (with --samples).", valueName: "text"))
    var context: String?

    @Option(name: .long, help: ArgumentHelp("A conversation file ('-': standard input).", valueName: "file"))
    var conversation: String?

    @Option(name: .long, help: ArgumentHelp("With --conversation: reference or chatml.", valueName: "template"))
    var template: ConversationTemplate = .reference

    @Option(name: .long, help: ArgumentHelp("With --conversation: the system prompt (the template's system_prompt).", valueName: "text"))
    var system: String?

    func validate() throws {
        switch (samples, conversation) {
        case (nil, nil): throw CLIUsageError("give --samples N or --conversation FILE")
        case (.some, .some): throw CLIUsageError("--samples and --conversation exclude each other")
        case (.some, nil):
            if system != nil { throw CLIUsageError("--system goes with --conversation") }
        case (nil, .some):
            if context != nil { throw CLIUsageError("--context goes with --samples; in a conversation, put the text in the user turn") }
        }
    }

    func run() throws {
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer))
        let builder = try PromptBuilder(tokenizer: tok)
        if let samples {
            let day = 24_000 * 86_400
            guard (0...day).contains(samples) else {
                throw CLIUsageError("--samples must be between 0 and \(day) (24 hours at 24 kHz), got \(samples)")
            }
            print(TokenizeCommand.jsonArray(builder.promptIDs(rawSampleCount: samples, context: context)))
            return
        }
        let (conv, base) = try ConversationFiles.read(conversation!)
        let counts = try ConversationFiles.sampleCounts(conv, baseDirectory: base)
        let ids = try ConversationRenderer(promptBuilder: builder)
            .ids(for: conv, template: template, systemPrompt: system, audioSampleCounts: counts)
        print(TokenizeCommand.jsonArray(ids))
    }
}
