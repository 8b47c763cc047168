import ArgumentParser

struct TranscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transcribe", abstract: "(in progress)")
    func run() throws { throw CLIUsageError("transcribe: in progress") }
}
