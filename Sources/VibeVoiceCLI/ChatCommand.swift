import ArgumentParser
import Foundation
import VibeVoiceASR
import VibeVoiceCompute

/// `vibevoice-asr chat`: questions about a recording, turn by turn, with the audio encoded once and the
/// conversation's KV cache kept between turns.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Ask questions about a recording; the audio is encoded once and each follow-up costs only its new tokens.",
        discussion: """
            With --message (repeatable: one turn each) the assistant's replies are printed, raw, one after the \
            other. Without it, questions are read from standard input, one per line (on a terminal: an \
            interactive loop with a '> ' prompt; Ctrl-D ends), and replies are streamed as they are decoded. \
            AUDIO goes with the first question of this run, unless the --history conversation already holds it. \
            --history FILE loads the conversation (if FILE exists) and saves it after every reply, atomically, \
            in the conversation file format. --template chatml (default) keeps every turn; --template \
            reference renders exactly as transformers' chat template does, which drops assistant turns and \
            the text of questions without audio (see the README).
            """)

    @Argument(help: ArgumentHelp("The audio file to talk about (optional with a --history that holds audio).",
                                 valueName: "audio"))
    var input: String?

    @OptionGroup var audioStreamOption: AudioStreamOption

    @Option(help: ArgumentHelp("A question; repeat for several turns. Without it, questions come from standard input.",
                               valueName: "text"))
    var message: [String] = []

    @Option(help: ArgumentHelp("The system prompt (default: the conversation's own, else the trained one).", valueName: "text"))
    var system: String?

    @Option(help: ArgumentHelp("chatml (every turn kept) or reference (transformers' chat template, exactly).",
                               valueName: "template"))
    var template: ConversationTemplate = .chatml

    @Option(help: ArgumentHelp("Load the conversation from FILE if it exists, and save it there after each reply.",
                               valueName: "file"))
    var history: String?

    @OptionGroup var source: ModelOptions

    @Option(help: ArgumentHelp("Token budget per reply.", valueName: "n"))
    var maxNewTokens: Int = 1024

    @OptionGroup var sampling: SamplingOptions

    @Option(help: ArgumentHelp("Threads for the kernels and BLAS (default: all cores).", valueName: "n"))
    var threads: Int?

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Per turn: prompt tokens reused from the cache and prefilled, tokens generated, seconds.")
    var verbose = false

    func validate() throws {
        if input == nil && history == nil { throw CLIUsageError("give an audio file, or a --history conversation to continue") }
        if maxNewTokens < 1 { throw CLIUsageError("--max-new-tokens must be at least 1") }
        if let n = threads, n < 1 { throw CLIUsageError("--threads must be at least 1") }
        if message.contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw CLIUsageError("--message must not be empty")
        }
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        let display = ProgressDisplay(quiet: quiet, verbose: verbose)
        var conversation = Conversation()
        var base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        if let history, FileManager.default.fileExists(atPath: history) {
            (conversation, base) = try ConversationFiles.read(history)
            base = base.standardizedFileURL
        }
        // The audio to attach to the first question, unless the conversation already has it.
        var pendingAudio: String?
        if let input {
            guard FileManager.default.fileExists(atPath: input) else { throw CLIUsageError("audio file '\(input)' does not exist") }
            // Fail on bad audio before the model loads.
            _ = try AudioLoader.load(contentsOf: URL(fileURLWithPath: input), audioStream: audioStreamOption.audioStream)
            let absolute = URL(fileURLWithPath: input).standardizedFileURL.path
            let known = conversation.audioItems.contains {
                $0.path.map { URL(fileURLWithPath: $0, relativeTo: base).standardizedFileURL.path } == absolute
            }
            if !known { pendingAudio = absolute }
        }
        if let history { try OutputFile.checkNotInput(history, inputs: input.map { [$0] } ?? []) }

        let transcriber = try source.transcriber(display: display)
        var options = ChatOptions(template: template, systemPrompt: system, maxNewTokens: maxNewTokens)
        options.temperature = sampling.temperature
        options.topP = sampling.topP
        options.repetitionPenalty = sampling.repetitionPenalty
        options.seed = sampling.seed
        options.audioStream = audioStreamOption.audioStream
        let session = ConversationSession(transcriber: transcriber, conversation: conversation, options: options,
                                          baseDirectory: base)
        var turn = 0
        func answer(_ question: String?) throws {
            if let question {
                var items: [ContentItem] = []
                if let audio = pendingAudio { items.append(.audio(.file(audio))); pendingAudio = nil }
                items.append(.text(question))
                session.add(.user(items))
            }
            turn += 1
            let reply = try session.reply { piece in
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
            FileHandle.standardOutput.write(Data("\n".utf8))
            if let history { try ConversationFiles.writeAtomically(session.conversation, to: history) }
            if verbose {
                display.message(String(format: "turn %d: %d prompt tokens (%d reused from the cache, %d prefilled in %.2f s), %d audio item(s) encoded, %d tokens generated in %.2f s (%@)",
                                       turn, reply.promptTokens, reply.reusedTokens, reply.prefilledTokens,
                                       reply.prefillSeconds, reply.encodedAudioItems, reply.tokens.count,
                                       reply.decodeSeconds, reply.stopReason.rawValue))
            }
        }

        // A saved conversation that ends with a question is answered first.
        if session.conversation.messages.last?.role == .user && pendingAudio == nil { try answer(nil) }
        if !message.isEmpty {
            for m in message { try answer(m) }
            return
        }
        let terminal = isatty(STDIN_FILENO) == 1
        if terminal && !quiet { FileHandle.standardError.write(Data("Ask about the recording; Ctrl-D ends.\n".utf8)) }
        while true {
            if terminal { FileHandle.standardError.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let question = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if question.isEmpty { continue }
            try answer(question)
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
