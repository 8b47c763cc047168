import ArgumentParser

struct PromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prompt", abstract: "(in progress)")
    func run() throws { throw CLIUsageError("prompt: in progress") }
}
