import Foundation

/// Bounds on numeric options shared by several commands, so that an absurd value is refused with a message
/// instead of being taken at face value (100 000 threads, a billion tokens).
enum CLILimits {
    static let maxThreads = 1_024

    static func checkThreads(_ threads: Int?) throws {
        guard let n = threads else { return }
        guard (1...maxThreads).contains(n) else {
            throw CLIUsageError("--threads must be between 1 and \(maxThreads), got \(n) (this machine has "
                                    + "\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        }
    }
}
