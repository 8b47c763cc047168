import ArgumentParser
import Foundation

/// Maps library errors to the documented exit codes and a one-line message.
enum CLIErrorReport {
    static func describe(_ error: Error) -> (Int32, String) {
        if let e = error as? CLIUsageError { return (1, e.message) }
        if let e = error as? ValidationError { return (1, e.message) }
        if let e = error as? any ExitCoded { return (e.exitCode, String(describing: e)) }
        if let e = error as? LocalizedError, let d = e.errorDescription { return (3, d) }
        return (3, String(describing: error))
    }
}

/// An error the CLI raises itself for bad input or flags (exit code 1).
struct CLIUsageError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Library errors declare which exit code class they belong to.
protocol ExitCoded: Error, CustomStringConvertible {
    var exitCode: Int32 { get }
}
