import ArgumentParser
import Foundation
import VibeVoiceASR

/// `vibevoice-asr tokenize`: text on stdin to token ids, or (`--decode`) token ids to text.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode UTF-8 text from stdin to token ids (one JSON array), or decode ids with --decode.",
        discussion: """
            Encoding takes stdin exactly as given (a trailing newline is text too: use printf, not echo) and \
            matches Hugging Face tokenizers with add_special_tokens=False: special tokens written in the text, \
            such as <|im_end|>, become their ids. Decoding reads a JSON array of ids and prints the text \
            followed by a newline.
            """)

    @Option(name: .long, help: ArgumentHelp("Tokenizer: a tokenizer.json, or a folder holding one.", valueName: "path"))
    var tokenizer: String

    @Flag(name: .long, help: "Read a JSON array of token ids from stdin and print the text.")
    var decode = false

    @Flag(name: .long, help: "With --decode: drop special tokens (<|im_start|>, <|endoftext|>, ...).")
    var skipSpecialTokens = false

    /// Prints load and encode/decode times to stderr (for measuring; not part of the interface).
    @Flag(name: .long, help: .hidden)
    var timing = false

    func run() throws {
        if skipSpecialTokens && !decode {
            throw CLIUsageError("--skip-special-tokens applies to --decode only")
        }
        // Check the input before loading the tokenizer, so bad input fails fast.
        let input = FileHandle.standardInput.readDataToEndOfFile()
        var ids: [Int] = []
        var text = ""
        if decode {
            ids = try Self.parseIDs(input)
        } else {
            // String(decoding:) keeps a leading byte-order mark (String(data:encoding:) drops it); invalid
            // UTF-8 would come back with replacement characters, so the bytes differ.
            text = String(decoding: input, as: UTF8.self)
            guard text.utf8.elementsEqual(input) else { throw CLIUsageError("stdin is not valid UTF-8 text") }
        }
        let t0 = Date()
        let tok = try Tokenizer(url: URL(fileURLWithPath: tokenizer))
        let t1 = Date()
        let output = decode ? tok.decode(ids, skipSpecialTokens: skipSpecialTokens) : Self.jsonArray(tok.encode(text))
        let t2 = Date()
        if timing {
            let message = String(format: "load %.3f s, %@ %d bytes in %.3f s\n", t1.timeIntervalSince(t0),
                                 decode ? "decode" : "encode", input.count, t2.timeIntervalSince(t1))
            FileHandle.standardError.write(Data(message.utf8))
        }
        FileHandle.standardOutput.write(Data((output + "\n").utf8))
    }

    static func jsonArray(_ ids: [Int]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }

    /// A JSON array of integers, e.g. `[151644, 872, 198]` (JSON whitespace allowed between tokens).
    static func parseIDs(_ data: Data) throws -> [Int] {
        let usage = "--decode expects a JSON array of integer token ids on stdin, e.g. [9707,1879]"
        let bytes = [UInt8](data)
        var i = 0
        func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }
        func fail(_ what: String) -> CLIUsageError {
            CLIUsageError("stdin: \(what) at byte \(i): \(usage)")
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { throw fail("no JSON array") }
        i += 1
        var ids: [Int] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
        } else {
            while true {
                skipSpace()
                let start = i
                if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
                guard let id = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                    throw fail("not an integer")
                }
                ids.append(id)
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                throw fail("expected , or ] after a number")
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected text after the array") }
        return ids
    }
}
