import ArgumentParser

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "(in progress)")
    func run() throws { throw CLIUsageError("tokenize: in progress") }
}
