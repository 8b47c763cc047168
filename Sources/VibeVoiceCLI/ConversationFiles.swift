import ArgumentParser
import Foundation
import VibeVoiceASR

extension ConversationTemplate: ExpressibleByArgument {}

/// Conversation files for `prompt`, `chat` and `score`: read, write atomically, audio lengths.
enum ConversationFiles {
    /// Reads a conversation file ('-': standard input). Relative audio paths in it are relative to its folder.
    static func read(_ path: String) throws -> (Conversation, baseDirectory: URL) {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
            return (try Conversation.read(json: Array(data)), URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIUsageError("conversation file '\(path)' does not exist")
        }
        data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            return (try Conversation.read(json: Array(data)), URL(fileURLWithPath: path).deletingLastPathComponent())
        } catch let error as ConversationError {
            throw CLIUsageError("\(path): \(error.description)")
        }
    }

    /// Each audio item's length at 24 kHz: its `samples` when given, else the decoded file's.
    static func sampleCounts(_ conversation: Conversation, baseDirectory: URL) throws -> [Int] {
        try conversation.audioItems.map { item in
            if let n = item.sampleCount { return n }
            let url = URL(fileURLWithPath: item.path!, relativeTo: baseDirectory).standardizedFileURL
            return try AudioLoader.load(contentsOf: url).samples.count
        }
    }

    static func writeAtomically(_ conversation: Conversation, to path: String) throws {
        try OutputFile.writeAtomically(Data(conversation.jsonText().utf8), to: path, input: nil)
    }
}
