import ArgumentParser

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "convert", abstract: "(in progress)")
    func run() throws { throw CLIUsageError("convert: in progress") }
}
